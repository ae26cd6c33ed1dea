package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// recordCall writes an answered call's record and its debit in one
// transaction, as the daemon does.
func recordCall(t *testing.T, s *Store, callID, person string, answer time.Time, amount int64) (wire.LedgerEntry, uint64) {
	t.Helper()
	var got wire.LedgerEntry
	var seq uint64
	err := s.Update(func(tx *Tx) error {
		rec := wire.CallRecord{CallID: callID, PersonID: person, Terminal: "t1", Number: "+441110001",
			Start: answer.Add(-10 * time.Second), Answer: &answer, End: answer.Add(time.Minute), Disposition: wire.DispCompleted,
			Cost: -amount, Currency: "EUR"}
		if _, err := tx.AppendCall(rec); err != nil {
			return err
		}
		e, ev, err := tx.AppendDebit(wire.LedgerEntry{Account: person, Kind: wire.LedgerCallDebit, Amount: amount,
			Currency: "EUR", Ref: callID, At: answer})
		got, seq = e, ev.Seq
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, seq
}

func TestDebitWithRecordAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kinline.db")
	s, err := Open(path, Options{ApplianceID: "blk-a", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	e, seq := recordCall(t, s, "c1", "p1", t0, -120)
	if !strings.HasPrefix(e.ID, "blk-a-2-") || seq != 2 || e.Origin != "blk-a" {
		t.Fatalf("debit %+v seq %d", e, seq)
	}
	evs, _ := s.Pending(0, 10)
	if len(evs) != 2 || evs[0].Type != wire.EventCall || evs[1].Type != wire.EventLedger {
		t.Fatalf("outbox %+v", evs)
	}
	var w wire.LedgerEntry
	if err := json.Unmarshal(evs[1].Payload, &w); err != nil || w != e {
		t.Fatalf("ledger event payload %+v (%v), want %+v", w, err, e)
	}

	// A transaction that fails after the record and the debit leaves
	// neither behind.
	boom := errors.New("boom")
	err = s.Update(func(tx *Tx) error {
		a := t0.Add(time.Hour)
		if _, err := tx.AppendCall(wire.CallRecord{CallID: "c2", PersonID: "p1", Answer: &a, End: a, Disposition: wire.DispCompleted}); err != nil {
			return err
		}
		if _, _, err := tx.AppendDebit(wire.LedgerEntry{Account: "p1", Kind: wire.LedgerCallDebit, Amount: -50, Currency: "EUR", Ref: "c2", At: a}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the own ledger is still there.
	s = openTest(t, path)
	if last, _ := s.LastSeq(); last != 2 {
		t.Fatalf("last seq %d after the failed transaction", last)
	}
	ds, err := s.OwnDebits(0)
	if err != nil || len(ds) != 1 || ds[0].Seq != 2 || ds[0].Entry != e {
		t.Fatalf("own debits %+v %v", ds, err)
	}
	cs, err := s.OwnCalls(0)
	if err != nil || len(cs) != 1 || cs[0].CallID != "c1" || cs[0].Account != "p1" || !cs[0].At.Equal(t0) || cs[0].Seq != 1 {
		t.Fatalf("own calls %+v %v", cs, err)
	}
	o, err := s.Own(0, "EUR")
	if err != nil || o.Debits("p1") != -120 || len(o.Calls("p1")) != 1 || o.Debits("p2") != 0 {
		t.Fatalf("own %+v %v", o, err)
	}
}

func TestUsableAfterNewerPolicy(t *testing.T) {
	s := openTest(t, "")
	_, s1 := recordCall(t, s, "c1", "p1", t0, -100)                // seqs 1, 2
	_, s2 := recordCall(t, s, "c2", "p1", t0.Add(time.Hour), -30)  // seqs 3, 4
	_, s3 := recordCall(t, s, "c3", "p2", t0.Add(2*time.Hour), -7) // seqs 5, 6
	if s1 != 2 || s2 != 4 || s3 != 6 {
		t.Fatalf("seqs %d %d %d", s1, s2, s3)
	}
	// An unanswered call is no quota call and has no debit.
	if err := s.Update(func(tx *Tx) error {
		_, err := tx.AppendCall(wire.CallRecord{CallID: "c4", PersonID: "p1", Disposition: wire.DispNoAnswer})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	policyBalance := ledger.Money(1000) // central's balance before any of these
	o, _ := s.Own(0, "EUR")
	if u := policyBalance + o.Debits("p1"); u != 870 || len(o.Calls("p1")) != 2 {
		t.Fatalf("usable %d, calls %v", u, o.Calls("p1"))
	}
	// A newer policy includes events up to 2 (c1 and its debit): its
	// balance already has the 100 taken off.
	o, _ = s.Own(2, "EUR")
	if u := ledger.Money(900) + o.Debits("p1"); u != 870 || len(o.Calls("p1")) != 1 || o.Calls("p1")[0].ID != "c2" {
		t.Fatalf("after IncludedSeq 2: usable %d, calls %v", u, o.Calls("p1"))
	}
	// Including only the record (3) but not the debit (4) counts the debit once still.
	o, _ = s.Own(3, "EUR")
	if d := o.Debits("p1"); d != -30 || len(o.Calls("p1")) != 0 {
		t.Fatalf("after IncludedSeq 3: %d %v", d, o.Calls("p1"))
	}
	// Another currency's debits are not summed.
	if o, _ := s.Own(0, "GBP"); o.Debits("p1") != 0 {
		t.Fatal("EUR debits counted in GBP")
	}
	n, err := s.PruneOwn(4)
	if err != nil || n != 4 {
		t.Fatalf("pruned %d %v", n, err)
	}
	ds, _ := s.OwnDebits(0)
	cs, _ := s.OwnCalls(0)
	if len(ds) != 1 || ds[0].Entry.Account != "p2" || len(cs) != 1 || cs[0].CallID != "c3" {
		t.Fatalf("after prune: %+v %+v", ds, cs)
	}
	if o, _ := s.Own(4, "EUR"); o.Debits("p2") != -7 || o.Debits("p1") != 0 {
		t.Fatalf("own after prune %+v", o)
	}
}

func TestAppendDebitRefusesBadEntries(t *testing.T) {
	s := openTest(t, "")
	a := t0
	for name, e := range map[string]wire.LedgerEntry{
		"credit":      {Account: "p1", Kind: wire.LedgerCallDebit, Amount: 5, Currency: "EUR", Ref: "c", At: a},
		"recharge":    {Account: "p1", Kind: wire.LedgerRecharge, Amount: 5, Currency: "EUR", Receipt: "r", At: a},
		"no ref":      {Account: "p1", Kind: wire.LedgerCallDebit, Amount: -5, Currency: "EUR", At: a},
		"no account":  {Kind: wire.LedgerCallDebit, Amount: -5, Currency: "EUR", Ref: "c", At: a},
		"no currency": {Account: "p1", Kind: wire.LedgerCallDebit, Amount: -5, Ref: "c", At: a},
		"no time":     {Account: "p1", Kind: wire.LedgerCallDebit, Amount: -5, Currency: "EUR", Ref: "c"},
	} {
		err := s.Update(func(tx *Tx) error { _, _, err := tx.AppendDebit(e); return err })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if last, _ := s.LastSeq(); last != 0 {
		t.Fatalf("refused debits appended events: %d", last)
	}
}

func TestOwnCacheFollowsWrites(t *testing.T) {
	s := openTest(t, "")
	recordCall(t, s, "c1", "p1", t0, -10)
	o1, err := s.Own(0, "EUR")
	if err != nil || o1.Debits("p1") != -10 {
		t.Fatalf("%v %v", o1, err)
	}
	if o, _ := s.Own(0, "EUR"); o != o1 {
		t.Error("unchanged ledger not served from the cache")
	}
	recordCall(t, s, "c2", "p1", t0.Add(time.Minute), -5)
	if o, _ := s.Own(0, "EUR"); o.Debits("p1") != -15 || len(o.Calls("p1")) != 2 {
		t.Fatalf("after a new debit: %d %v", o.Debits("p1"), o.Calls("p1"))
	}
	if o1.Debits("p1") != -10 {
		t.Error("a cached Own changed after it was returned")
	}
	// A rolled-back transaction changes nothing.
	_ = s.Update(func(tx *Tx) error {
		a := t0
		_, _, err := tx.AppendDebit(wire.LedgerEntry{Account: "p1", Kind: wire.LedgerCallDebit, Amount: -99, Currency: "EUR", Ref: "c3", At: a})
		if err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if o, _ := s.Own(0, "EUR"); o.Debits("p1") != -15 {
		t.Fatalf("after a rollback: %d", o.Debits("p1"))
	}
	if _, err := s.PruneOwn(2); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Own(0, "EUR"); o.Debits("p1") != -5 || len(o.Calls("p1")) != 1 {
		t.Fatalf("after prune: %d %v", o.Debits("p1"), o.Calls("p1"))
	}
}
