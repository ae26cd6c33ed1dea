package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// moneySystem is the part of a System that authorizes calls and writes
// their records: a real store and authorizer on a fake clock.
func moneySystem(t *testing.T) (*System, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC))
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{ApplianceID: "blk-a", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("bbolt check: %v", err)
		}
		st.Close()
	})
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	s := &System{Log: log, Clock: clk, Store: st, Authz: authz.New(clk, time.Minute)}
	s.Authz.SetOwn(ownSource(st))
	s.ends = newOfficerEnds(nil, s.Authz.RuleFor, s.officerAction, log)
	s.applyPolicy(&wire.Policy{V: 1, Version: 1, ApplianceID: "blk-a",
		Rules: []wire.CallRule{{MaxDurationSeconds: 3600}},
		People: []wire.Person{{ID: "A", Status: wire.StatusActive, Cards: []string{"AA"},
			Numbers: []wire.ApprovedNumber{{Number: "+441110001"}, {Number: "+441110002", Free: true}, {Number: "+441110003", Privileged: true}}}},
		Money: &wire.MoneyPolicy{Currency: "EUR", Digits: 2,
			Rates:    []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 12, BillingUnitSeconds: 30, ConnectionFee: 3}},
			Accounts: []wire.AccountMoney{{Account: "A", Balance: 500}}},
	})
	return s, clk
}

// place authorizes a call from terminal t1 and ends it: answered after
// ring and lasting talk when answered is true.
func place(t *testing.T, s *System, clk *clock.Fake, id, number string, answered bool, talk time.Duration) (callctl.AuthResult, wire.CallRecord) {
	t.Helper()
	s.Authz.Tap("t1", "AA")
	start := clk.Now()
	res := s.authorize(context.Background(), callctl.AuthRequest{CallID: id, Terminal: "t1", Number: number, Time: start})
	rec := wire.CallRecord{CallID: id, PersonID: res.PersonID, Terminal: "t1", Number: number, Start: start,
		Hidden: res.Hidden, Free: res.Free, Disposition: wire.DispRefused, Reason: res.Reason}
	if res.Allowed {
		rec.Disposition = wire.DispNoAnswer
		if answered {
			clk.Advance(5 * time.Second)
			a := clk.Now()
			rec.Answer, rec.Disposition = &a, wire.DispCompleted
			clk.Advance(talk)
		}
	}
	rec.End = clk.Now()
	s.callEnded(rec)
	return res, rec
}

// outbox decodes the store's pending call records and ledger entries.
func outbox(t *testing.T, st *store.Store) (map[string]wire.CallRecord, []wire.LedgerEntry) {
	t.Helper()
	evs, err := st.Pending(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]wire.CallRecord{}
	var debits []wire.LedgerEntry
	for _, ev := range evs {
		switch ev.Type {
		case wire.EventCall:
			var r wire.CallRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				t.Fatal(err)
			}
			recs[r.CallID] = r
		case wire.EventLedger:
			var e wire.LedgerEntry
			if err := json.Unmarshal(ev.Payload, &e); err != nil {
				t.Fatal(err)
			}
			debits = append(debits, e)
		}
	}
	return recs, debits
}

func TestRatedCallWritesOneDebitEqualToCost(t *testing.T) {
	s, clk := moneySystem(t)
	// 500 at 12 a minute in 30 s units plus 3: 82 units, 41 minutes.
	res, _ := place(t, s, clk, "rated", "+441110001", true, 95*time.Second)
	if !res.Allowed || res.MaxDuration != 41*time.Minute || res.LimitedBy != wire.LimitBalance || !res.Record {
		t.Fatalf("auth %+v", res)
	}
	place(t, s, clk, "free", "+441110002", true, 10*time.Minute)
	place(t, s, clk, "unanswered", "+441110001", false, 0)
	place(t, s, clk, "refused", "+449999999", true, time.Minute)
	pres, _ := place(t, s, clk, "privileged", "+441110003", true, 30*time.Second)
	if pres.Record || !pres.Allowed {
		t.Fatalf("privileged auth %+v", pres)
	}

	recs, debits := outbox(t, s.Store)
	if len(recs) != 5 {
		t.Fatalf("records %v", recs)
	}
	// 95 s bills 4 units of 30 s = 2 minutes = 24, plus 3.
	rated := recs["rated"]
	if rated.Cost != 27 || rated.Currency != "EUR" || rated.MaxDurationSeconds != 41*60 || rated.LimitedBy != wire.LimitBalance {
		t.Fatalf("rated record %+v", rated)
	}
	if r := rated.Rate; r == nil || *r != (wire.PricedRate{Prefix: "+44", DestinationType: wire.DestNational}) {
		t.Fatalf("rated record's rate %+v, want the +44 national rate it was priced with", r)
	}
	if recs["refused"].Rate != nil {
		t.Errorf("a refused call names a rate: %+v", recs["refused"].Rate)
	}
	if len(debits) != 2 {
		t.Fatalf("debits %+v, want the rated and the privileged call's", debits)
	}
	d := debits[0]
	if d.Ref != "rated" || d.Amount != -rated.Cost || d.Account != "A" || d.Kind != wire.LedgerCallDebit ||
		d.Currency != "EUR" || d.Origin != "blk-a" || !d.At.Equal(*rated.Answer) || d.ID == "" {
		t.Fatalf("debit %+v for record %+v", d, rated)
	}
	if debits[1].Ref != "privileged" || debits[1].Amount != -recs["privileged"].Cost || !recs["privileged"].Privileged {
		t.Fatalf("privileged debit %+v record %+v", debits[1], recs["privileged"])
	}
	for _, id := range []string{"free", "unanswered", "refused"} {
		if recs[id].Cost != 0 {
			t.Errorf("%s: cost %d", id, recs[id].Cost)
		}
	}
	if !recs["free"].Free || recs["refused"].Disposition != wire.DispRefused {
		t.Errorf("free %+v refused %+v", recs["free"], recs["refused"])
	}

	// The usable balance follows the debits, and a policy that includes
	// them (with central's balance lowered) gives the same balance.
	acc, err := hotline{s.Authz}.Account("A")
	if err != nil || !acc.Rated || acc.Balance != 500-27-recs["privileged"].Cost || acc.Currency != "EUR" || acc.Digits != 2 || acc.CallsLeftDay != -1 {
		t.Fatalf("account %+v %v", acc, err)
	}
	last, _ := s.Store.LastSeq()
	p, _ := s.Store.Policy()
	if p != nil {
		t.Fatal("policy unexpectedly stored")
	}
	np := &wire.Policy{V: 1, Version: 2, ApplianceID: "blk-a",
		People: []wire.Person{{ID: "A", Status: wire.StatusActive, Cards: []string{"AA"}, Numbers: []wire.ApprovedNumber{{Number: "+441110001"}}}},
		Money: &wire.MoneyPolicy{Currency: "EUR", Digits: 2, IncludedSeq: last,
			Rates:    []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 12, BillingUnitSeconds: 30, ConnectionFee: 3}},
			Accounts: []wire.AccountMoney{{Account: "A", Balance: acc.Balance}}}}
	s.applyPolicy(np)
	if ds, _ := s.Store.OwnDebits(0); len(ds) != 0 {
		t.Fatalf("own debits not pruned: %+v", ds)
	}
	if acc2, _ := (hotline{s.Authz}).Account("A"); acc2.Balance != acc.Balance {
		t.Fatalf("balance %d after the including policy, want %d", acc2.Balance, acc.Balance)
	}
}

func TestHotlineAdapter(t *testing.T) {
	s, _ := moneySystem(t)
	h := callctl.Hotline(hotline{s.Authz})
	if _, ok := h.Caller("t1", "c1"); ok {
		t.Fatal("caller without a tap")
	}
	s.Authz.Tap("t1", "AA")
	c, ok := h.Caller("t1", "c1")
	if !ok || c.PersonID != "A" || c.NeedsPIN {
		t.Fatalf("caller %+v", c)
	}
	if err := h.VerifyPIN("t1", "c1", "1234"); err != nil {
		t.Fatalf("no PIN set: %v", err)
	}
	if _, err := h.Account("nobody"); err == nil {
		t.Fatal("account of nobody")
	}
	if err := h.VerifyPIN("t9", "c1", "1"); err == nil || !isNoTap(err) {
		t.Fatalf("no tap: %v", err)
	}
}

func isNoTap(err error) bool { return errors.Is(err, policy.ErrNoTap) }

// TestCallStartedBeforeItsRecord: every allowed call gets an
// EventCallStarted (with its privileged flag) before its record in the
// outbox, so central can list it as in progress until the record ends it;
// a refused call gets none.
func TestCallStartedBeforeItsRecord(t *testing.T) {
	s, clk := moneySystem(t)
	place(t, s, clk, "rated", "+441110001", true, time.Minute)
	place(t, s, clk, "refused", "+449999999", true, time.Minute)
	place(t, s, clk, "privileged", "+441110003", false, 0)
	evs, err := s.Store.Pending(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	started := map[string]uint64{} // call id -> seq
	ended := map[string]uint64{}
	for _, ev := range evs {
		switch ev.Type {
		case wire.EventCallStarted:
			var c wire.CallStarted
			if err := json.Unmarshal(ev.Payload, &c); err != nil {
				t.Fatal(err)
			}
			if c.Terminal != "t1" || c.PersonID != "A" || c.Start.IsZero() || c.Privileged != (c.CallID == "privileged") {
				t.Errorf("start event %+v", c)
			}
			started[c.CallID] = ev.Seq
		case wire.EventCall:
			var r wire.CallRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				t.Fatal(err)
			}
			ended[r.CallID] = ev.Seq
		}
	}
	for _, id := range []string{"rated", "privileged"} {
		if started[id] == 0 || started[id] > ended[id] {
			t.Errorf("call %s: started at seq %d, recorded at %d: want its start first", id, started[id], ended[id])
		}
	}
	if _, ok := started["refused"]; ok || ended["refused"] == 0 {
		t.Errorf("refused call: start event %v, record %d", ok, ended["refused"])
	}
}
