package money

import (
	"context"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// TestStatementWithholdsHiddenCalls: for a reader who may not see hidden
// calls, a line naming one (flagged by the appliance, or its number on the
// prison-wide list as hidden, even put there later) keeps its amount and
// balance but loses the call id and its reason; a reader who may see them
// gets the statement whole.
func TestStatementWithholdsHiddenCalls(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	call := func(id, number string, hidden bool, at time.Time) wire.CallRecord {
		return wire.CallRecord{CallID: id, PersonID: ann, Terminal: "t1", Number: number, Start: at, Answer: &at,
			End: at.Add(time.Minute), Disposition: wire.DispCompleted, Cost: 10, Currency: "EUR", Hidden: hidden}
	}
	a1, a2, a3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "",
		call("seen", "+441234", false, a1), debit("appA:1", "appA", ann, -10, "seen", a1),
		call("flagged", "+445555", true, a2), debit("appA:2", "appA", ann, -10, "flagged", a2),
		call("listed", "+449999", false, a3), debit("appA:3", "appA", ann, -10, "listed", a3)))
	if _, _, err := s.AddGlobalNumber(ctx, "admin", "+4499*", wire.NumberKindHidden, "investigation"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 100, "R-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Refund(ctx, "user:fin", ann, 5, "dropped on the witness's line", "listed"); err != nil {
		t.Fatal(err)
	}
	full, err := s.Statement(ctx, ann, time.Time{}, time.Time{}, true)
	mustT(t, err)
	part, err := s.Statement(ctx, ann, time.Time{}, time.Time{}, false)
	mustT(t, err)
	if len(full.Lines) != 5 || len(part.Lines) != 5 || part.Closing != full.Closing || part.Balance != full.Balance || part.Closing != 100-30+5 {
		t.Fatalf("statements differ in money: %+v / %+v", full, part)
	}
	for i, l := range part.Lines {
		f := full.Lines[i]
		if l.Amount != f.Amount || l.Balance != f.Balance || l.ID != f.ID || f.Withheld {
			t.Errorf("line %d: %+v, whole %+v", i, l, f)
		}
		hidden := f.Ref == "flagged" || f.Ref == "listed"
		switch {
		case hidden && (!l.Withheld || l.Ref != "" || l.Reason != WithheldReason):
			t.Errorf("line %d names hidden call %s: %+v", i, f.Ref, l)
		case !hidden && (l.Withheld || l.Ref != f.Ref || l.Reason != f.Reason):
			t.Errorf("line %d withheld though its call is not hidden: %+v", i, l)
		}
	}
	// A period without the hidden call's debit still withholds its refund
	// (the recharge and the refund were written at t0, before the calls).
	p, err := s.Statement(ctx, ann, t0, a1, false)
	mustT(t, err)
	if len(p.Lines) != 2 {
		t.Fatalf("period statement %+v", p.Lines)
	}
	for _, l := range p.Lines {
		if refund := l.Kind == wire.LedgerRefund; l.Withheld != refund || refund && l.Ref != "" {
			t.Fatalf("period statement line %+v", l)
		}
	}
}
