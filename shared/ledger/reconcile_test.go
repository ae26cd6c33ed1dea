package ledger

import (
	"slices"
	"testing"
	"time"
)

// TestReconcileOfflineOverspend plays the case the report exists for.
// Account p1 holds 1.00. Appliance A goes offline and, knowing only its own
// debits, allows two calls (0.60 + 0.30). Meanwhile the person moved to
// block B, whose appliance also allowed a 0.50 call on the same 1.00. When A
// comes back, central has all three debits: 1.40 spent of 1.00. A recharge
// later brings the account back above zero.
func TestReconcileOfflineOverspend(t *testing.T) {
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	entries := []Entry{
		debit("a2", "app-a", 30, h(3)), // given out of order: Reconcile sorts by time
		recharge("r1", 100, h(0)),
		debit("a1", "app-a", 60, h(1)),
		debit("b1", "app-b", 50, h(2)),
		recharge("r2", 200, h(5)),
		debit("b2", "app-b", 20, h(6)),
	}
	reported := Money(140) // 300 - 160
	r := Reconcile(entries, reported)
	if r.Credits != 300 || r.Debits != 160 || r.Balance != 140 || r.Difference != 0 || !r.OK() || r.Account != "p1" {
		t.Fatalf("totals: %+v", r)
	}
	if r.Balance != Balance(entries) {
		t.Errorf("report balance %d, Balance() %d", r.Balance, Balance(entries))
	}
	type os struct {
		id                    string
		before, after, amount Money
	}
	var got []os
	for _, o := range r.Overspend {
		got = append(got, os{o.Entry.ID, o.Before, o.After, o.Amount})
	}
	want := []os{
		{"b1", 40, -10, 10},  // 0.40 left, 0.50 call: 0.10 not covered
		{"a2", -10, -40, 30}, // already below zero: the whole call is overspend
	}
	if !slices.Equal(got, want) {
		t.Errorf("overspend = %+v, want %+v", got, want)
	}
	var total Money
	for _, o := range r.Overspend {
		total += o.Amount
	}
	if total != 40 { // 1.40 spent against 1.00 before the second recharge
		t.Errorf("total overspend %d, want 40", total)
	}
	if r.Overspend[1].Entry.Origin != "app-a" {
		t.Errorf("overspend does not say which appliance: %+v", r.Overspend[1].Entry)
	}

	// A balance that was overwritten instead of derived shows up.
	bad := Reconcile(entries, 100)
	if bad.OK() || bad.Difference != -40 {
		t.Errorf("wrong reported balance: %+v", bad)
	}
}

func TestReconcileDuplicatesAndConflicts(t *testing.T) {
	d := debit("d1", "app-a", 25, t0.Add(time.Hour))
	changed := d
	changed.Amount = -99
	entries := []Entry{recharge("r1", 100, t0), d, d, changed}
	r := Reconcile(entries, 75)
	if r.Balance != 75 || r.Difference != 0 {
		t.Errorf("a redelivered entry was counted twice: %+v", r)
	}
	if !slices.Equal(r.Duplicates, []string{"d1"}) || !slices.Equal(r.Conflicts, []string{"d1"}) || r.OK() {
		t.Errorf("duplicates %v conflicts %v ok %v", r.Duplicates, r.Conflicts, r.OK())
	}
}

func TestReconcileOrderIndependent(t *testing.T) {
	// A recharge and a debit at the same instant: the credit is applied
	// first whatever the order given, so no false overspend.
	es := []Entry{debit("d1", "app-a", 50, t0), recharge("r1", 50, t0)}
	r1 := Reconcile(es, 0)
	slices.Reverse(es)
	r2 := Reconcile(es, 0)
	if len(r1.Overspend) != 0 || len(r2.Overspend) != 0 || r1.Balance != 0 {
		t.Errorf("tie order: %+v / %+v", r1, r2)
	}
}

func TestReconcileAll(t *testing.T) {
	es := []Entry{
		recharge("r1", 100, t0),
		{ID: "r2", Account: "p2", Kind: Recharge, Amount: 50, Receipt: "x", At: t0, Origin: OriginCentral},
		debit("d1", "app-a", 30, t0.Add(time.Minute)),
	}
	reps := ReconcileAll(es, map[string]Money{"p1": 70, "p2": 40, "p3": 0})
	if len(reps) != 3 || reps[0].Account != "p1" || reps[1].Account != "p2" || reps[2].Account != "p3" {
		t.Fatalf("%+v", reps)
	}
	if !reps[0].OK() || reps[1].OK() || reps[1].Difference != -10 || !reps[2].OK() {
		t.Errorf("p1 %+v p2 %+v p3 %+v", reps[0], reps[1], reps[2])
	}
}
