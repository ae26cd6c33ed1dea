package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// moneyFixture: block A with appliances appA and appB, person ann in A,
// person bob in B, and one rate so policies carry money.
func moneyFixture(t *testing.T) (*Store, string, string) {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		if err := s.UpsertAppliance(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	ann, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRates(ctx, "test", []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	return s, ann.ID, bob.ID
}

// debit is an appliance's call debit as its EventLedger payload.
func debit(id, app, account string, amount int64, call string, at time.Time) wire.LedgerEntry {
	return wire.LedgerEntry{ID: id, Account: account, Kind: wire.LedgerCallDebit, Amount: amount, Currency: "EUR",
		Ref: call, At: at, Origin: app}
}

// ledgerEvents seals payloads as app's events from seq `from` on, chained
// to prev.
func ledgerEvents(app string, from uint64, prev string, payloads ...any) []wire.Event {
	return chain(app, from, from+uint64(len(payloads))-1, prev, func(seq uint64) (wire.EventType, any) {
		p := payloads[seq-from]
		switch p.(type) {
		case wire.LedgerEntry:
			return wire.EventLedger, p
		case wire.NumberBlocked:
			return wire.EventNumberBlocked, p
		case wire.CallStarted:
			return wire.EventCallStarted, p
		case wire.CallsCleared:
			return wire.EventCallsCleared, p
		}
		return wire.EventCall, p
	})
}

func mustStore(t *testing.T, s *Store, app string, evs []wire.Event) uint64 {
	t.Helper()
	ack, err := s.StoreEvents(context.Background(), app, evs)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitAllProjected(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ack
}

func balance(t *testing.T, s *Store, account string) ledger.Money {
	t.Helper()
	b, err := s.Balance(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ledgerAlarms(t *testing.T, s *Store, app, code string) []Alarm {
	t.Helper()
	al, err := s.Alarms(context.Background(), app, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []Alarm
	for _, a := range al {
		if a.Code == code {
			out = append(out, a)
		}
	}
	return out
}

func TestDoubleDeliveredDebitCountedOnce(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 1000, "R-1"); err != nil {
		t.Fatal(err)
	}
	d := debit("appA:1", "appA", ann, -300, "c1", t0.Add(time.Minute))
	evs := ledgerEvents("appA", 1, "", d, d) // the same entry under seq 1 and seq 2
	mustStore(t, s, "appA", evs[:1])
	mustStore(t, s, "appA", evs[:1]) // redelivered event
	mustStore(t, s, "appA", evs)     // and the entry again under another seq
	if b := balance(t, s, ann); b != 700 {
		t.Fatalf("balance %d, want 700 (debit counted once)", b)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM ledger_entries WHERE id = 'appA:1'`); n != 1 {
		t.Fatalf("%d rows for the debit", n)
	}
	if al := ledgerAlarms(t, s, "appA", AlarmLedgerConflict); len(al) != 0 {
		t.Fatalf("identical redelivery raised %+v", al)
	}
}

func TestConflictingDebitRaisesAlarm(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 1000, "R-1"); err != nil {
		t.Fatal(err)
	}
	evs := ledgerEvents("appA", 1, "",
		debit("appA:1", "appA", ann, -300, "c1", t0.Add(time.Minute)),
		debit("appA:1", "appA", ann, -500, "c2", t0.Add(2*time.Minute)))
	mustStore(t, s, "appA", evs)
	if b := balance(t, s, ann); b != 700 {
		t.Fatalf("balance %d, want 700 (conflicting entry not counted)", b)
	}
	al := ledgerAlarms(t, s, "appA", AlarmLedgerConflict)
	if len(al) != 1 || al[0].Seq != 2 || !strings.Contains(al[0].Message, "appA:1") {
		t.Fatalf("conflict alarms %+v", al)
	}
	// Delivered again: still one alarm, still one entry.
	mustStore(t, s, "appA", evs)
	if al := ledgerAlarms(t, s, "appA", AlarmLedgerConflict); len(al) != 1 {
		t.Fatalf("alarms after redelivery %+v", al)
	}
}

func TestInvalidApplianceEntriesRefused(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	credit := debit("appA:1", "appA", ann, 5000, "", t0)
	credit.Kind, credit.Receipt = wire.LedgerRecharge, "forged"
	wrongCur := debit("appA:2", "appA", ann, -10, "c2", t0)
	wrongCur.Currency = "USD"
	evs := ledgerEvents("appA", 1, "",
		credit,   // appliances may not credit
		wrongCur, // not the prison's currency
		debit("appA:3", "appB", ann, -10, "c3", t0),      // origin is another appliance
		debit("appA:4", "appA", "nobody", -10, "c4", t0), // unknown account
		debit("appA:5", "appA", ann, 0, "c5", t0),        // not a debit
	)
	mustStore(t, s, "appA", evs)
	if n := count(t, s, `SELECT COUNT(*) FROM ledger_entries`); n != 0 {
		t.Fatalf("%d invalid entries stored", n)
	}
	al := ledgerAlarms(t, s, "appA", AlarmLedgerInvalid)
	if len(al) != 5 {
		t.Fatalf("invalid alarms %+v", al)
	}
}

func TestBalanceIsCreditsMinusDebits(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	ans := t0.Add(10 * time.Second)
	call := wire.CallRecord{CallID: "c1", PersonID: ann, Terminal: "t1", Number: "+441234", Start: t0, Answer: &ans,
		End: ans.Add(3 * time.Minute), Disposition: wire.DispCompleted, Cost: 30, Currency: "EUR", LimitedBy: wire.LimitBalance, MaxDurationSeconds: 600}
	first := ledgerEvents("appA", 1, "", call, debit("appA:1", "appA", ann, -30, "c1", ans))
	mustStore(t, s, "appA", first)
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 500, "R-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 100, "R-1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("receipt used twice: %v", err)
	}
	if _, _, err := s.Refund(ctx, "user:fin", ann, 31, "line noise", "c1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("refund above the call's cost: %v", err)
	}
	if _, _, err := s.Refund(ctx, "user:fin", ann, 20, "line noise", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Adjust(ctx, "user:fin", ann, -45, "canteen transfer"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Adjust(ctx, "user:fin", ann, -45, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("adjustment without reason: %v", err)
	}
	later := debit("appA:2", "appA", ann, -70, "c2", t0.Add(time.Hour))
	mustStore(t, s, "appA", ledgerEvents("appA", 3, first[1].Hash, later))

	const credits, debits = 500 + 20, 30 + 45 + 70
	if b := balance(t, s, ann); b != credits-debits {
		t.Fatalf("balance %d, want %d", b, credits-debits)
	}
	rep, err := s.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Accounts) != 1 {
		t.Fatalf("report %+v", rep)
	}
	a := rep.Accounts[0]
	if a.Credits != credits || a.Debits != debits || a.Balance != credits-debits || a.Stored != a.Balance || a.Difference != 0 || len(a.Overspends) != 0 {
		t.Fatalf("account report %+v", a)
	}
	st, err := s.Statement(ctx, ann, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Lines) != 5 || st.Closing != credits-debits || st.Balance != st.Closing {
		t.Fatalf("statement %+v", st)
	}
	var run ledger.Money
	for _, l := range st.Lines {
		run += l.Amount
		if l.Balance != run {
			t.Fatalf("running balance %d after %s, want %d", l.Balance, l.ID, run)
		}
	}
	// A period: only the last debit, opening with everything before it.
	st, err = s.Statement(ctx, ann, t0.Add(30*time.Minute), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Lines) != 1 || st.Opening != credits-debits+70 || st.Closing != credits-debits {
		t.Fatalf("period statement %+v", st)
	}
	// The call's money columns were projected.
	var free, priv, cost, maxd int
	var cur, lim string
	if err := s.r.QueryRow(`SELECT free, privileged, cost, currency, limited_by, max_duration_s FROM calls WHERE call_id = 'c1'`).
		Scan(&free, &priv, &cost, &cur, &lim, &maxd); err != nil {
		t.Fatal(err)
	}
	if cost != 30 || cur != "EUR" || lim != wire.LimitBalance || maxd != 600 || free != 0 || priv != 0 {
		t.Fatalf("call columns cost=%d cur=%s limited_by=%s max=%d", cost, cur, lim, maxd)
	}
	// Every credit is in the audit log.
	for _, act := range []string{"ledger.recharge", "ledger.refund", "ledger.adjustment"} {
		if l, err := s.AuditLog(ctx, AuditFilter{Action: act}); err != nil || len(l) != 1 || l[0].Target != "account:"+ann {
			t.Fatalf("audit %s: %+v %v", act, l, err)
		}
	}
}

func TestOfflineOverspendReported(t *testing.T) {
	s, ann, bob := moneyFixture(t)
	ctx := context.Background()
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 100, "R-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", bob, 100, "R-2"); err != nil {
		t.Fatal(err)
	}
	// While appA is offline central takes 80 back; appA, still believing
	// 100, lets Ann call for 60 and delivers the debit later.
	if _, _, err := s.Adjust(ctx, "user:fin", ann, -80, "duplicate recharge reversed"); err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "", debit("appA:1", "appA", ann, -60, "c-over", t0.Add(time.Hour))))
	rep, err := s.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Overspends != 1 || len(rep.Accounts) != 2 {
		t.Fatalf("report %+v", rep)
	}
	var a AccountReport
	for _, x := range rep.Accounts {
		if x.Account == ann {
			a = x
		}
	}
	if a.Balance != -40 || len(a.Overspends) != 1 {
		t.Fatalf("ann %+v", a)
	}
	o := a.Overspends[0]
	if o.ApplianceID != "appA" || o.CallID != "c-over" || o.Debit != 60 || o.Before != 20 || o.After != -40 || o.Amount != 40 {
		t.Fatalf("overspend %+v", o)
	}
	// Scoped to block B, Ann's account is not in the report.
	rep, err = s.Reconcile(ctx, []string{"B"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Accounts) != 1 || rep.Accounts[0].Account != bob || rep.Overspends != 0 {
		t.Fatalf("block B report %+v", rep)
	}
}

func TestPolicyCarriesBalanceAndIncludedSeq(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	p0, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p0.Money == nil || len(p0.Money.Rates) != 1 || p0.Money.Currency != "EUR" || p0.Money.Digits != 2 || p0.Money.TimeZone != "UTC" {
		t.Fatalf("money %+v", p0.Money)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 1000, "R-1"); err != nil {
		t.Fatal(err)
	}
	p1, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Version <= p0.Version {
		t.Fatalf("a credit did not bump the policy: %d -> %d", p0.Version, p1.Version)
	}
	if len(p1.Money.Accounts) != 1 || p1.Money.Accounts[0].Account != ann || p1.Money.Accounts[0].Balance != 1000 {
		t.Fatalf("accounts %+v", p1.Money.Accounts)
	}
	ans := t0.Add(time.Minute)
	call := func(id string) wire.CallRecord {
		return wire.CallRecord{CallID: id, PersonID: ann, Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted}
	}
	// appA: seq 1-2 (call + debit), seq 3 missing, seq 4 (debit) beyond
	// the gap; appB (Ann called from there before moving) a debit too.
	evs := ledgerEvents("appA", 1, "", call("c1"), debit("appA:2", "appA", ann, -100, "c1", ans),
		call("c3"), debit("appA:4", "appA", ann, -40, "c3", ans))
	mustStore(t, s, "appA", evs[:2])
	mustStore(t, s, "appA", evs[3:])
	// Ann was housed in block B until an hour before t0 (personblocks.go).
	moved := t0.Add(-time.Hour)
	if _, err := s.w.ExecContext(ctx, `UPDATE person_blocks SET from_ns = $2 WHERE person_id = $1`, ann, ns(moved)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO person_blocks (person_id, block, from_ns) VALUES ($1, 'B', 0)`, ann); err != nil {
		t.Fatal(err)
	}
	before := moved.Add(-time.Minute)
	mustStore(t, s, "appB", atTimes(ledgerEvents("appB", 1, "", debit("appB:1", "appB", ann, -7, "cb", before)), before))

	p, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	m := p.Money
	if m.IncludedSeq != 2 {
		t.Fatalf("included seq %d, want 2 (seq 3 missing)", m.IncludedSeq)
	}
	// appA's own debit above IncludedSeq is left for appA to add.
	if got := m.Accounts[0].Balance; got != 1000-100-7 {
		t.Fatalf("policy balance %d, want %d", got, 1000-100-7)
	}
	if len(m.Accounts[0].RecentCalls) != 1 || m.Accounts[0].RecentCalls[0].CallID != "c1" {
		t.Fatalf("recent calls %+v", m.Accounts[0].RecentCalls)
	}
	// What the appliance computes from it equals central's total.
	seqOf := map[string]uint64{"appA:2": 2, "appA:4": 4}
	own := []ledger.Entry{{ID: "appA:2", Amount: -100}, {ID: "appA:4", Amount: -40}}
	usable := ledger.Usable(ledger.Money(m.Accounts[0].Balance), ledger.IncludedUpTo(m.IncludedSeq, func(id string) (uint64, bool) {
		v, ok := seqOf[id]
		return v, ok
	}), own)
	if usable != balance(t, s, ann) {
		t.Fatalf("usable %d, central balance %d", usable, balance(t, s, ann))
	}

	// The gap fills: everything is included.
	mustStore(t, s, "appA", evs[2:3])
	p, err = s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.IncludedSeq != 4 || p.Money.Accounts[0].Balance != 1000-100-40-7 || len(p.Money.Accounts[0].RecentCalls) != 2 {
		t.Fatalf("after the gap filled: %+v", p.Money)
	}
}

func TestIncludedSeqStopsAtUnprojected(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	evs := ledgerEvents("appA", 1, "",
		debit("appA:1", "appA", ann, -10, "c1", t0), debit("appA:2", "appA", ann, -20, "c2", t0), debit("appA:3", "appA", ann, -30, "c3", t0))
	mustStore(t, s, "appA", evs[:1])
	// Projection fails (as if central crashed mid-way): seq 2-3 are stored
	// and acknowledged but not in the ledger yet.
	fail := func() error { return errors.New("injected") }
	s.proj.hook.Store(&fail)
	if ack, err := s.StoreEvents(ctx, "appA", evs[1:]); err != nil || ack != 3 {
		t.Fatalf("store: ack %d %v", ack, err)
	}
	p, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.IncludedSeq != 1 || p.Money.Accounts[0].Balance != -10 {
		t.Fatalf("with seq 2-3 unprojected: included %d balance %d", p.Money.IncludedSeq, p.Money.Accounts[0].Balance)
	}
	s.proj.hook.Store(nil)
	// The projector waits for its retry on the fake clock; project here.
	if err := s.projectThrough(ctx, s.proj.stored.Load()); err != nil {
		t.Fatal(err)
	}
	p, err = s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.IncludedSeq != 3 || p.Money.Accounts[0].Balance != -60 {
		t.Fatalf("after projection: included %d balance %d", p.Money.IncludedSeq, p.Money.Accounts[0].Balance)
	}
}

func TestNoRatesNoMoney(t *testing.T) {
	s, _, _ := moneyFixture(t)
	ctx := context.Background()
	if err := s.SetRates(ctx, "test", nil); err != nil {
		t.Fatal(err)
	}
	p, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money != nil {
		t.Fatalf("money without rates: %+v", p.Money)
	}
}

func TestRatesValidation(t *testing.T) {
	s, _, _ := moneyFixture(t)
	ctx := context.Background()
	ok := wire.Rate{Prefix: "+4420", DestinationType: wire.DestLocal, PerMinute: 5, BillingUnitSeconds: 30}
	cases := []struct {
		name  string
		rates []wire.Rate
		want  string
	}{
		{"prefix", []wire.Rate{{Prefix: "44 20", DestinationType: wire.DestLocal, PerMinute: 5, BillingUnitSeconds: 60}}, `prefix "44 20" is not a normalized number prefix`},
		{"type", []wire.Rate{{Prefix: "+1", DestinationType: "moon", PerMinute: 5, BillingUnitSeconds: 60}}, `destination type "moon"`},
		{"unit", []wire.Rate{{Prefix: "+1", DestinationType: wire.DestInternational, PerMinute: 5}}, "billing unit 0 s"},
		{"negative", []wire.Rate{{Prefix: "+1", DestinationType: wire.DestInternational, PerMinute: -5, BillingUnitSeconds: 60}}, "negative per-minute price"},
		{"rounding", []wire.Rate{{Prefix: "+1", DestinationType: wire.DestInternational, PerMinute: 5, BillingUnitSeconds: 60, Rounding: "down"}}, `rounding "down"`},
		{"duplicate", []wire.Rate{ok, ok}, "+4420"},
	}
	for _, c := range cases {
		err := s.SetRates(ctx, "test", c.rates)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid mentioning %q", c.name, err, c.want)
		}
	}
	if err := s.PutRate(ctx, "test", ok); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Rates(ctx)
	if err != nil || len(rs) != 2 || rs[1].Prefix != "+4420" || rs[1].UpdatedBy != "test" {
		t.Fatalf("rates %+v %v", rs, err)
	}
	if err := s.DeleteRate(ctx, "test", "+4420"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRate(ctx, "test", "+4420"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
}

func TestMoneySettings(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	if err := s.SetMoneySettings(ctx, "test", MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Mars/Olympus"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad zone: %v", err)
	}
	if err := s.SetMoneySettings(ctx, "test", MoneySettings{Currency: "gbp", Digits: 2, TimeZone: "UTC"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad code: %v", err)
	}
	if err := s.SetMoneySettings(ctx, "test", MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.MoneySettings(ctx); err != nil || m != (MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Europe/London"}) {
		t.Fatalf("settings %+v %v", m, err)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 100, "R-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMoneySettings(ctx, "test", MoneySettings{Currency: "EUR", Digits: 2, TimeZone: "UTC"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("currency change with entries: %v", err)
	}
	// The zone may still change.
	if err := s.SetMoneySettings(ctx, "test", MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	// An appliance's debit in the old currency is refused.
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "", debit("appA:1", "appA", ann, -10, "c1", t0)))
	if al := ledgerAlarms(t, s, "appA", AlarmLedgerInvalid); len(al) != 1 {
		t.Fatalf("alarms %+v", al)
	}
}

func TestNumberBlockedProjected(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	if _, err := addContact(ctx, s, "test", ann, newContact{Number: "+44 7700 900123", Name: "Sis", Relationship: "sister"}); err != nil {
		t.Fatal(err)
	}
	p0, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	nb := wire.NumberBlocked{CallID: "c1", PersonID: ann, Terminal: "t1", Number: "+447700900123", At: t0}
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "", nb))
	if n := count(t, s, `SELECT COUNT(*) FROM contacts WHERE person_id = $1 AND self_blocked = 1`, ann); n != 1 {
		t.Fatalf("%d self-blocked contacts", n)
	}
	p1, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Version <= p0.Version {
		t.Fatalf("policy not bumped: %d -> %d", p0.Version, p1.Version)
	}
	if l, err := s.AuditLog(ctx, AuditFilter{Action: "contact.self_blocked"}); err != nil || len(l) != 1 || l[0].Actor != "appliance:appA" {
		t.Fatalf("audit %+v %v", l, err)
	}
	// A malformed payload is an alarm, not a failure.
	bad, _ := json.Marshal(map[string]any{"person_id": ann})
	ev := wire.Event{ApplianceID: "appA", Seq: 2, Time: t0, Type: wire.EventNumberBlocked, Payload: bad}
	if prev := ledgerEvents("appA", 1, "", nb); len(prev) == 1 {
		ev.PrevHash = prev[0].Hash
	}
	ev.Seal()
	mustStore(t, s, "appA", []wire.Event{ev})
	if al := ledgerAlarms(t, s, "appA", AlarmPayload); len(al) != 1 {
		t.Fatalf("payload alarms %+v", al)
	}
}

// FuzzDecodeMoneyEvent feeds untrusted ledger, number_blocked and call
// payloads (with money fields) to decodeEvent: it never panics, fails only
// with ErrInvalid, and what it accepts is usable by the projection.
func FuzzDecodeMoneyEvent(f *testing.F) {
	for _, seed := range []struct{ typ, payload string }{
		{"ledger", `{"id":"appA:1","account":"p1","kind":"call_debit","amount":-30,"currency":"EUR","ref":"c1","at":"2025-01-01T00:00:00Z","origin":"appA"}`},
		{"ledger", `{"id":"","account":"p1","kind":"recharge","amount":5}`},
		{"number_blocked", `{"call_id":"c1","person_id":"p1","terminal":"t1","number":"+44 7700 900123","at":"2025-01-01T00:00:00Z"}`},
		{"number_blocked", `{"person_id":"p1","number":"abc"}`},
		{"call", `{"call_id":"c1","terminal":"t","number":"+1","start":"2025-01-01T00:00:00Z","end":"2025-01-01T00:01:00Z","disposition":"completed","cost":-1}`},
		{"call", `{"call_id":"c1","terminal":"t","number":"+1","start":"2025-01-01T00:00:00Z","end":"2025-01-01T00:01:00Z","disposition":"completed","free":true,"cost":0,"currency":"EUR","limited_by":"balance","max_duration_seconds":60}`},
	} {
		f.Add(seed.typ, []byte(seed.payload))
	}
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		ev := &wire.Event{ApplianceID: "a", Seq: 1, Type: wire.EventType(typ), Payload: payload}
		p, err := decodeEvent(ev)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if l := p.ledger; l != nil && (l.ID == "" || l.Account == "" || len(l.ID) > 128 || len(l.Reason) > maxReason || len(l.Receipt) > maxReceipt) {
			t.Fatalf("accepted ledger entry %+v", l)
		}
		if nb := p.blocked; nb != nil && (nb.PersonID == "" || nb.Number == "" || len(nb.Number) > 64) {
			t.Fatalf("accepted number block %+v", nb)
		}
		if c := p.call; c != nil && (c.Cost < 0 || c.MaxDurationSeconds < 0 || len(c.Currency) > 8 || len(c.LimitedBy) > 32) {
			t.Fatalf("accepted call money fields %+v", c)
		}
	})
}
