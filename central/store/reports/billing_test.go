package reports

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/wire"
)

// billingFixture: Ann (block A) and Bob (B); rates +44 national and +447
// mobile; calls and their debits in March 2025 (one debit whose call
// record has not arrived, one at 20:00 UTC on 31 March, one on 2 April),
// a refund of Ann's national call on 5 March and a recharge.
func billingFixture(t *testing.T) *testStores {
	t.Helper()
	s, clk, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		mustT(t, s.UpsertAppliance(ctx, a[0], a[1]))
	}
	ann, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)
	bob, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	mustT(t, err)
	mustT(t, money.New(s.coreStore).SetRates(ctx, "test", []wire.Rate{
		{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK", PerMinute: 10, BillingUnitSeconds: 60},
		{Prefix: "+447", DestinationType: wire.DestMobile, Name: "UK mobile", PerMinute: 20, BillingUnitSeconds: 60},
	}))
	call := func(id string, p *people.Person, number string, answer time.Time, talk time.Duration) wire.CallRecord {
		a := answer
		return wire.CallRecord{CallID: id, PersonID: p.ID, PrisonNumber: p.PrisonNumber, Terminal: "t1", Number: number,
			Start: a.Add(-5 * time.Second), Answer: &a, End: a.Add(talk), Disposition: wire.DispCompleted}
	}
	mar := func(day, hour int) time.Time { return time.Date(2025, 3, day, hour, 0, 0, 0, time.UTC) }
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0,
		call("a1", ann, "+4420", mar(1, 16), 2*time.Minute), debit("d-a1", "appA", ann.ID, -20, "a1", mar(1, 16)),
		call("a2", ann, "+44700", mar(2, 10), time.Minute), debit("d-a2", "appA", ann.ID, -20, "a2", mar(2, 10)),
		debit("d-a9", "appA", ann.ID, -5, "a9", mar(3, 10)),
		call("a4", ann, "+4420", mar(31, 20), time.Minute), debit("d-a4", "appA", ann.ID, -10, "a4", mar(31, 20)),
		call("a5", ann, "+4420", mar(31, 10).AddDate(0, 0, 2), time.Minute), debit("d-a5", "appA", ann.ID, -7, "a5", mar(31, 10).AddDate(0, 0, 2)),
	))
	storetest.MustStore(t, s.coreStore, "appB", storetest.Events("appB", 1, "", t0,
		call("b1", bob, "+4420", mar(15, 12), 3*time.Minute), debit("d-b1", "appB", bob.ID, -30, "b1", mar(15, 12)),
	))
	clk.Set(mar(5, 12))
	if _, _, err := money.New(s.coreStore).Refund(ctx, "user:fin", ann.ID, 10, "line dropped", "a1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := money.New(s.coreStore).Recharge(ctx, "user:fin", ann.ID, 1000, "R-1"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBillingReport(t *testing.T) {
	s := billingFixture(t)
	ctx := context.Background()
	march := BillingFilter{From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)}
	rep, err := s.Billing(ctx, march)
	mustT(t, err)
	type line struct {
		block, dest, prefix string
		calls               int64
		secs                float64
		charged, refunded   int64
	}
	got := func(rep *BillingReport) []line {
		var out []line
		for _, r := range rep.Rows {
			if r.Net != r.Charged-r.Refunded {
				t.Errorf("net %+v", r)
			}
			out = append(out, line{r.Block, r.DestinationType, r.RatePrefix, r.Calls, r.BilledSeconds, int64(r.Charged), int64(r.Refunded)})
		}
		return out
	}
	want := []line{
		{"A", wire.DestMobile, "+447", 1, 60, 20, 0},
		{"A", wire.DestNational, "+44", 2, 180, 30, 10},
		{"A", Unrated, "", 1, 0, 5, 0}, // the debit whose call has not arrived: Ann's block
		{"B", wire.DestNational, "+44", 1, 180, 30, 0},
	}
	if g := got(rep); !slices.Equal(g, want) {
		t.Fatalf("march\n got %+v\nwant %+v", g, want)
	}
	if tot := rep.Total; tot.Calls != 5 || tot.BilledSeconds != 420 || tot.Charged != 85 || tot.Refunded != 10 || tot.Net != 75 ||
		rep.Currency != "EUR" || rep.Period != BillingTotal || rep.Rows[0].RateName != "UK mobile" {
		t.Fatalf("total %+v", rep)
	}

	// By day in UTC, then in Tokyo (UTC+9), where 16:00 UTC on 1 March is
	// already the 2nd.
	day := march
	day.Period = BillingDay
	rep, err = s.Billing(ctx, day)
	mustT(t, err)
	var periods []string
	for _, r := range rep.Rows {
		periods = append(periods, r.Period+" "+r.Block+" "+r.DestinationType)
	}
	wantDays := []string{"2025-03-01 A national", "2025-03-02 A mobile", "2025-03-03 A unrated", "2025-03-05 A national",
		"2025-03-15 B national", "2025-03-31 A national"}
	if !slices.Equal(periods, wantDays) || rep.Rows[3].Calls != 0 || rep.Rows[3].Refunded != 10 {
		t.Fatalf("by day %v %+v", periods, rep.Rows)
	}
	mustT(t, money.New(s.coreStore).SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "EUR", Digits: 2, TimeZone: "Asia/Tokyo"}))
	rep, err = s.Billing(ctx, day)
	mustT(t, err)
	if rep.Rows[0].Period != "2025-03-02" || rep.TimeZone != "Asia/Tokyo" {
		t.Fatalf("by day in Tokyo %+v", rep.Rows)
	}
	// 20:00 on 31 March UTC is 05:00 on 1 April in Tokyo: the month is
	// the local one (and 2 April is past the period).
	month := BillingFilter{From: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 4, 2, 0, 0, 0, 0, time.UTC), Period: BillingMonth}
	rep, err = s.Billing(ctx, month)
	mustT(t, err)
	if len(rep.Rows) != 1 || rep.Rows[0].Period != "2025-04" || rep.Rows[0].Charged != 10 {
		t.Fatalf("by month in Tokyo %+v", rep.Rows)
	}

	// Scope and block filter.
	scoped := march
	scoped.Blocks = []string{"B"}
	if rep, _ := s.Billing(ctx, scoped); len(rep.Rows) != 1 || rep.Rows[0].Block != "B" || rep.Total.Charged != 30 {
		t.Fatalf("scoped %+v", rep.Rows)
	}
	scoped.Blocks = []string{}
	if rep, _ := s.Billing(ctx, scoped); len(rep.Rows) != 0 || rep.Total.Charged != 0 {
		t.Fatalf("scope of no block %+v", rep.Rows)
	}
	blockA := march
	blockA.Block = "A"
	if rep, _ := s.Billing(ctx, blockA); len(rep.Rows) != 3 || rep.Total.Charged != 55 || rep.Total.Refunded != 10 {
		t.Fatalf("block A %+v", rep)
	}

	for _, bad := range []BillingFilter{{}, {From: march.From, To: march.From}, {From: march.From, To: march.To, Period: "week"},
		{From: march.From, To: march.From.AddDate(0, 0, MaxBillingDays+1)}} {
		if _, err := s.Billing(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestBillingByPricedRate: calls whose records name the rate they were
// priced with are reported under it, whatever the rates table says by
// the time of the report: a call priced at a "+4420 London" rate since
// deleted stays under it (not under today's +44), a renamed rate keeps
// the name it was charged under, and a call without the field (an older
// appliance) falls back to today's match.
func TestBillingByPricedRate(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	ann, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)
	mustT(t, money.New(s.coreStore).SetRates(ctx, "test", []wire.Rate{
		{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK (2026)", PerMinute: 10, BillingUnitSeconds: 60},
	}))
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	call := func(id, number string, rate *wire.PricedRate) wire.CallRecord {
		a := at
		at = at.Add(time.Hour)
		return wire.CallRecord{CallID: id, PersonID: ann.ID, Terminal: "t1", Number: number, Start: a.Add(-5 * time.Second),
			Answer: &a, End: a.Add(time.Minute), Disposition: wire.DispCompleted, Cost: 15, Currency: "EUR", Rate: rate}
	}
	london := &wire.PricedRate{Prefix: "+4420", DestinationType: wire.DestLocal, Name: "London"}
	uk := &wire.PricedRate{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK"}
	c1, c2, c3, c4 := call("c1", "+442071", london), call("c2", "+442072", london), call("c3", "+44161", uk), call("c4", "+44162", nil)
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0,
		c1, debit("d1", "appA", ann.ID, -15, "c1", *c1.Answer),
		c2, debit("d2", "appA", ann.ID, -15, "c2", *c2.Answer),
		c3, debit("d3", "appA", ann.ID, -15, "c3", *c3.Answer),
		c4, debit("d4", "appA", ann.ID, -15, "c4", *c4.Answer),
	))
	rep, err := s.Billing(ctx, BillingFilter{From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)})
	mustT(t, err)
	type line struct {
		dest, prefix, name string
		calls              int64
		charged            int64
	}
	var got []line
	for _, r := range rep.Rows {
		got = append(got, line{r.DestinationType, r.RatePrefix, r.RateName, r.Calls, int64(r.Charged)})
	}
	slices.SortFunc(got, func(a, b line) int { return strings.Compare(a.prefix+a.name, b.prefix+b.name) })
	want := []line{
		{wire.DestLocal, "+4420", "London", 2, 30},     // a rate today's table no longer has
		{wire.DestNational, "+44", "UK", 1, 15},        // priced under the rate's old name
		{wire.DestNational, "+44", "UK (2026)", 1, 15}, // no rate in the record: today's
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows\n got %+v\nwant %+v", got, want)
	}
	if rep.Total.Calls != 4 || rep.Total.Charged != 60 {
		t.Fatalf("total %+v", rep.Total)
	}
}

func TestExportBillingAudited(t *testing.T) {
	s := billingFixture(t)
	ctx := context.Background()
	f := BillingFilter{From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), Block: "A"}
	tb, err := s.ExportBilling(ctx, "user:fin", "csv", f)
	mustT(t, err)
	if !slices.Equal(tb[0], BillingColumns) || len(tb) != 5 {
		t.Fatalf("table %q", tb)
	}
	if r := tb[2]; r[0] != "2025-03-01..2025-04-01" || r[1] != "A" || r[2] != wire.DestNational || r[5] != "2" || r[6] != "3.00" ||
		r[7] != "0.30" || r[8] != "0.10" || r[9] != "0.20" || r[10] != "EUR" {
		t.Fatalf("national row %q", r)
	}
	if last := tb[len(tb)-1]; last[0] != "total" || last[7] != "0.55" || last[9] != "0.45" {
		t.Fatalf("total row %q", last)
	}
	log := auditActions(t, s, "export.billing")
	if len(log) != 1 || log[0].Actor != "user:fin" || !strings.Contains(log[0].Detail, "format=csv") || !strings.Contains(log[0].Detail, "block=A") {
		t.Fatalf("audit %+v", log)
	}
	if _, err := s.ExportBilling(ctx, "user:fin", "pdf", f); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("pdf: %v", err)
	}
	if _, err := s.ExportBilling(ctx, "user:fin", "csv", BillingFilter{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("no period: %v", err)
	}
	if len(auditActions(t, s, "export.billing")) != 1 {
		t.Fatal("a refused export was audited")
	}
}

// TestBillingBilledTime: a row's billed time is each call's talk time
// rounded up to its rate's billing unit, as the ledger charged it, not the
// talk time (a one-second call at 0.06 a minute bills a minute).
func TestBillingBilledTime(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	ann, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)
	mustT(t, money.New(s.coreStore).SetRates(ctx, "test", []wire.Rate{
		{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK", PerMinute: 6, BillingUnitSeconds: 60},
		{Prefix: "+33", DestinationType: wire.DestInternational, Name: "France", PerMinute: 30, BillingUnitSeconds: 30},
		{Prefix: "+1", DestinationType: wire.DestInternational, Name: "US", PerMinute: 60, BillingUnitSeconds: 1},
	}))
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	var evs []any
	add := func(id, number string, talk time.Duration, amount int64, rate *wire.PricedRate) {
		a := at
		at = at.Add(time.Hour)
		evs = append(evs, wire.CallRecord{CallID: id, PersonID: ann.ID, Terminal: "t1", Number: number, Start: a.Add(-5 * time.Second),
			Answer: &a, End: a.Add(talk), Disposition: wire.DispCompleted, Rate: rate}, debit("d"+id, "appA", ann.ID, amount, id, a))
	}
	add("uk1", "+4420", time.Second, -6, nil)                  // 1 s: one 60 s unit
	add("uk2", "+4420", 61*time.Second, -12, nil)              // 61 s: two units
	add("fr", "+331", 61*time.Second, -45, nil)                // 61 s at 30 s units: 90 s
	add("us", "+12", 1200*time.Millisecond, -2, nil)           // 1.2 s at 1 s units: 2 s
	add("gone", "+4499", 10*time.Second, -6, &wire.PricedRate{ // a rate the table no longer has: today's match
		Prefix: "+449", DestinationType: wire.DestMobile, Name: "old mobile"})
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0, evs...))
	rep, err := s.Billing(ctx, BillingFilter{From: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)})
	mustT(t, err)
	got := map[string]float64{}
	for _, r := range rep.Rows {
		got[r.RateName] = r.BilledSeconds
	}
	want := map[string]float64{"UK": 60 + 120, "France": 90, "US": 2, "old mobile": 60}
	if !maps.Equal(got, want) {
		t.Fatalf("billed seconds by rate %v, want %v", got, want)
	}
	if rep.Total.BilledSeconds != 332 || rep.Total.Calls != 5 {
		t.Fatalf("total %+v", rep.Total)
	}
	tb := BillingTable(rep)
	if last := tb[len(tb)-1]; last[6] != "5.53" {
		t.Fatalf("total billed minutes %q", last)
	}
	if BilledMinutes(60) != "1.00" || BilledMinutes(1) != "0.02" {
		t.Fatalf("BilledMinutes %s %s", BilledMinutes(60), BilledMinutes(1))
	}
}
