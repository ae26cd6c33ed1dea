package authz

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// fakeConfirmer answers ConfirmCall with a fixed outcome and remembers the
// requests.
type fakeConfirmer struct {
	conf  Confirmation
	err   error
	block bool // wait for ctx instead
	got   []ConfirmRequest
}

func (f *fakeConfirmer) ConfirmCall(ctx context.Context, r ConfirmRequest) (Confirmation, error) {
	f.got = append(f.got, r)
	if f.block {
		<-ctx.Done()
		return Confirmation{}, fmt.Errorf("panel: request %s: %w", r.CallID, ctx.Err())
	}
	return f.conf, f.err
}

func dualPolicy() *wire.Policy {
	return &wire.Policy{V: 1, Version: 9,
		Rules: []wire.CallRule{{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: 15}},
		People: []wire.Person{
			{ID: "p1", PrisonNumber: "A1", Status: wire.StatusActive, Cards: []string{"01010101"}, Numbers: []wire.ApprovedNumber{{Number: "5550100"}}},
			{ID: "p2", PrisonNumber: "A2", Status: wire.StatusActive, SupervisionLevel: "high", Cards: []string{"02020202"}, Numbers: []wire.ApprovedNumber{{Number: "5550100"}}},
			{ID: "p3", PrisonNumber: "A3", Status: wire.StatusActive, Confirm: wire.ConfirmBoth, ConfirmWindowSeconds: 7, Cards: []string{"03030303"}, Numbers: []wire.ApprovedNumber{{Number: "5550100"}}},
		}}
}

func TestCheckConfirmation(t *testing.T) {
	a := New(clock.NewFake(time.Unix(0, 0)), time.Minute)
	a.SetPolicy(dualPolicy())
	ctx := context.Background()

	// No confirmation needed: the confirmer is never asked, Waiting never called.
	fc := &fakeConfirmer{err: errors.New("must not be called")}
	waited := 0
	a.Tap("t1", "01010101")
	if r := a.Check(ctx, Request{CallID: "c1", Terminal: "t1", Number: "5550100", Waiting: func() { waited++ }}, fc); !r.Allowed || r.OfficerID != "" || len(fc.got) != 0 || waited != 0 {
		t.Fatalf("plain call: %+v, asked %d, waited %d", r, len(fc.got), waited)
	}

	// Level rule: button, 15 s. Confirmed by officer o1's card.
	fc = &fakeConfirmer{conf: Confirmation{OfficerID: "o1", Method: "card"}}
	a.Tap("t1", "02020202")
	r := a.Check(ctx, Request{CallID: "c2", Terminal: "t1", Number: "5550100", Waiting: func() { waited++ }}, fc)
	if !r.Allowed || r.OfficerID != "o1" || r.ConfirmMethod != "card" || r.PersonID != "p2" || waited != 1 {
		t.Fatalf("confirmed call: %+v waited %d", r, waited)
	}
	want := ConfirmRequest{CallID: "c2", Terminal: "t1", PersonID: "p2", Number: "5550100", Mode: wire.ConfirmButton, Window: 15 * time.Second}
	if len(fc.got) != 1 || fc.got[0] != want {
		t.Fatalf("confirm request %+v, want %+v", fc.got, want)
	}

	// Per-person override: both, 7 s; the outcomes map to the reasons.
	for _, c := range []struct {
		err    error
		want   error
		reason string
	}{
		{fmt.Errorf("panel: %w", policy.ErrNotConfirmed), policy.ErrNotConfirmed, "officer did not confirm"},
		{fmt.Errorf("panel: %w", policy.ErrOfficerRefused), policy.ErrOfficerRefused, "officer refused"},
		{fmt.Errorf("x: %w", policy.ErrPanelUnavailable), policy.ErrPanelUnavailable, "officer panel unavailable"},
		{errors.New("gpio exploded"), policy.ErrPanelUnavailable, "officer panel unavailable"},
	} {
		fc = &fakeConfirmer{err: c.err}
		a.Tap("t2", "03030303")
		r := a.Check(ctx, Request{CallID: "c3", Terminal: "t2", Number: "5550100"}, fc)
		if r.Allowed || !errors.Is(r.Err, c.want) || r.Reason != c.reason || r.PersonID != "p3" || r.CardUID != "03030303" {
			t.Errorf("confirmer error %v: %+v", c.err, r)
		}
		if len(fc.got) != 1 || fc.got[0].Mode != wire.ConfirmBoth || fc.got[0].Window != 7*time.Second {
			t.Errorf("confirm request %+v", fc.got)
		}
		// The refused confirmation consumed the tap.
		if r := a.Authorize("t2", "5550100"); !errors.Is(r.Err, policy.ErrNoTap) {
			t.Errorf("tap left after a refused confirmation: %+v", r)
		}
	}

	// No panel: fail closed.
	a.Tap("t1", "02020202")
	if r := a.Check(ctx, Request{CallID: "c4", Terminal: "t1", Number: "5550100"}, nil); r.Allowed || !errors.Is(r.Err, policy.ErrPanelUnavailable) {
		t.Fatalf("without a panel: %+v", r)
	}

	// The caller gives up while waiting: ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	fc = &fakeConfirmer{block: true}
	a.Tap("t1", "02020202")
	go cancel()
	if r := a.Check(cctx, Request{CallID: "c5", Terminal: "t1", Number: "5550100"}, fc); r.Allowed || !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("cancelled: %+v", r)
	}

	// A refusal before confirmation never reaches the officer.
	fc = &fakeConfirmer{}
	a.Tap("t1", "02020202")
	if r := a.Check(ctx, Request{CallID: "c6", Terminal: "t1", Number: "5550999"}, fc); !errors.Is(r.Err, policy.ErrNotApproved) || len(fc.got) != 0 {
		t.Fatalf("unapproved number: %+v asked %d", r, len(fc.got))
	}

	if rule, ok := a.RuleFor("p2"); !ok || rule.Confirm != wire.ConfirmButton {
		t.Errorf("RuleFor(p2) = %+v %v", rule, ok)
	}
	if _, ok := a.RuleFor("nobody"); ok {
		t.Error("RuleFor(nobody) found")
	}
}
