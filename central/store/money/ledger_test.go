package money

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

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
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 100, "R-1"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("receipt used twice: %v", err)
	}
	if _, _, err := s.Refund(ctx, "user:fin", ann, 31, "line noise", "c1"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("refund above the call's cost: %v", err)
	}
	if _, _, err := s.Refund(ctx, "user:fin", ann, 20, "line noise", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Adjust(ctx, "user:fin", ann, -45, "canteen transfer"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Adjust(ctx, "user:fin", ann, -45, ""); !errors.Is(err, store.ErrInvalid) {
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
	st, err := s.Statement(ctx, ann, time.Time{}, time.Time{}, true)
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
	st, err = s.Statement(ctx, ann, t0.Add(30*time.Minute), t0.Add(2*time.Hour), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Lines) != 1 || st.Opening != credits-debits+70 || st.Closing != credits-debits {
		t.Fatalf("period statement %+v", st)
	}
	// The call's money columns were projected.
	var free, priv, cost, maxd int
	var cur, lim string
	if err := s.Reader().QueryRow(`SELECT free, privileged, cost, currency, limited_by, max_duration_s FROM calls WHERE call_id = 'c1'`).
		Scan(&free, &priv, &cost, &cur, &lim, &maxd); err != nil {
		t.Fatal(err)
	}
	if cost != 30 || cur != "EUR" || lim != wire.LimitBalance || maxd != 600 || free != 0 || priv != 0 {
		t.Fatalf("call columns cost=%d cur=%s limited_by=%s max=%d", cost, cur, lim, maxd)
	}
	// Every credit is in the audit log.
	for _, act := range []string{"ledger.recharge", "ledger.refund", "ledger.adjustment"} {
		if l, err := s.AuditLog(ctx, store.AuditFilter{Action: act}); err != nil || len(l) != 1 || l[0].Target != "account:"+ann {
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
	p0, err := s.PolicyFor(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p0.Money == nil || len(p0.Money.Rates) != 1 || p0.Money.Currency != "EUR" || p0.Money.Digits != 2 || p0.Money.TimeZone != "UTC" {
		t.Fatalf("money %+v", p0.Money)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 1000, "R-1"); err != nil {
		t.Fatal(err)
	}
	p1, err := s.PolicyFor(ctx, "appA")
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
	if _, err := s.ExecUnserialized(ctx, `UPDATE person_blocks SET from_ns = $2 WHERE person_id = $1`, ann, store.NS(moved)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecUnserialized(ctx, `INSERT INTO person_blocks (person_id, block, from_ns) VALUES ($1, 'B', 0)`, ann); err != nil {
		t.Fatal(err)
	}
	before := moved.Add(-time.Minute)
	mustStore(t, s, "appB", atTimes(ledgerEvents("appB", 1, "", debit("appB:1", "appB", ann, -7, "cb", before)), before))

	p, err := s.PolicyFor(ctx, "appA")
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
	p, err = s.PolicyFor(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.IncludedSeq != 4 || p.Money.Accounts[0].Balance != 1000-100-40-7 || len(p.Money.Accounts[0].RecentCalls) != 2 {
		t.Fatalf("after the gap filled: %+v", p.Money)
	}
}

// TestChargingDecidesMoney: the charging setting, not whether rates
// exist, decides whether a policy carries money. On with no rate: a money
// part that says so, with no rates (every call that is not free is
// refused). Off with rates: none (calls free). Every change is audited
// and bumps the policy; "" keeps the setting; an unknown value is
// refused.
func TestChargingDecidesMoney(t *testing.T) {
	s, _, _ := moneyFixture(t)
	ctx := context.Background()
	if err := s.SetRates(ctx, "test", nil); err != nil {
		t.Fatal(err)
	}
	p, err := s.PolicyFor(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money == nil || p.Money.Charging != wire.ChargingOn || len(p.Money.Rates) != 0 || len(p.Money.Accounts) != 1 {
		t.Fatalf("charging on without rates: money %+v, want one that says charging is on, with no rates", p.Money)
	}
	if err := s.SetRates(ctx, "test", []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}

	set := store.MoneySettings{Currency: "EUR", Digits: 2, TimeZone: "UTC", Charging: store.ChargingOff}
	if err := s.SetMoneySettings(ctx, "user:fin", set); err != nil {
		t.Fatal(err)
	}
	p2, err := s.PolicyFor(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p2.Money != nil || p2.Version <= p.Version {
		t.Fatalf("charging off with a rate: version %d after %d, money %+v; want a new version without money", p2.Version, p.Version, p2.Money)
	}
	got, err := s.MoneySettings(ctx)
	if err != nil || got.Charging != store.ChargingOff || got.ChargingIsOn() {
		t.Fatalf("settings %+v, %v", got, err)
	}
	au, err := s.AuditLog(ctx, store.AuditFilter{Action: "money.settings", Actor: "user:fin"})
	if err != nil || len(au) != 1 || !strings.Contains(au[0].Detail, "charging=off") {
		t.Fatalf("audit %+v, %v; want one money.settings entry with charging=off", au, err)
	}

	// A client that does not know the setting leaves it as it is.
	set.Charging, set.TimeZone = "", "Europe/London"
	if err := s.SetMoneySettings(ctx, "user:fin", set); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MoneySettings(ctx); got.Charging != store.ChargingOff || got.TimeZone != "Europe/London" {
		t.Fatalf("after a change without charging: %+v, want charging still off", got)
	}
	for _, bad := range []string{"On", "true", "1", "free", " on"} {
		set.Charging = bad
		if err := s.SetMoneySettings(ctx, "user:fin", set); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("charging %q: %v, want ErrInvalid", bad, err)
		}
	}
	set.Charging = store.ChargingOn
	if err := s.SetMoneySettings(ctx, "user:fin", set); err != nil {
		t.Fatal(err)
	}
	p3, err := s.PolicyFor(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p3.Money == nil || p3.Money.Charging != wire.ChargingOn || len(p3.Money.Rates) != 1 || p3.Version <= p2.Version {
		t.Fatalf("charging on again: version %d, money %+v", p3.Version, p3.Money)
	}
	if au, _ := s.AuditLog(ctx, store.AuditFilter{Action: "money.settings", Actor: "user:fin"}); len(au) != 3 || !strings.Contains(au[0].Detail, "charging=on") {
		t.Fatalf("audit %+v; want three money.settings entries, the newest with charging=on", au)
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
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want store.ErrInvalid mentioning %q", c.name, err, c.want)
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
	if err := s.DeleteRate(ctx, "test", "+4420"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
}

func TestMoneySettings(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	if err := s.SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Mars/Olympus"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad zone: %v", err)
	}
	if err := s.SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "gbp", Digits: 2, TimeZone: "UTC"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad code: %v", err)
	}
	if err := s.SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.MoneySettings(ctx); err != nil || m != (store.MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Europe/London", Charging: store.ChargingOn}) {
		t.Fatalf("settings %+v %v", m, err)
	}
	if _, _, err := s.Recharge(ctx, "user:fin", ann, 100, "R-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "EUR", Digits: 2, TimeZone: "UTC"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("currency change with entries: %v", err)
	}
	// The zone may still change.
	if err := s.SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	// An appliance's debit in the old currency is refused.
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "", debit("appA:1", "appA", ann, -10, "c1", t0)))
	if al := ledgerAlarms(t, s, "appA", store.AlarmLedgerInvalid); len(al) != 1 {
		t.Fatalf("alarms %+v", al)
	}
}
