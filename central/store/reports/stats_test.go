package reports

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	_ "time/tzdata" // Asia/Kolkata and Europe/London, whatever the machine has

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	peoplestore "github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/wire"
)

// statsFixture: blocks A (appA) and B (appB), Ann (with her contact Mum)
// and Cat in A, Bob in B; the prison's time zone is zone.
func statsFixture(t *testing.T, zone string) (*testStores, map[string]*peoplestore.Person) {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		mustT(t, s.UpsertAppliance(ctx, a[0], a[1]))
	}
	mustT(t, money.New(s.coreStore).SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "EUR", Digits: 2, TimeZone: zone}))
	people := map[string]*peoplestore.Person{}
	for _, p := range []peoplestore.NewPerson{{PrisonNumber: "A1", Name: "Ann", Block: "A"}, {PrisonNumber: "A2", Name: "Cat", Block: "A"}, {PrisonNumber: "B1", Name: "Bob", Block: "B"}} {
		pp, err := s.CreatePerson(ctx, "test", p)
		mustT(t, err)
		people[p.Name] = pp
	}
	_, _, err := s.AddContact(ctx, "test", people["Ann"].ID, peoplestore.NewContact{Number: "+4411", Name: "Mum", Relationship: "mother"})
	mustT(t, err)
	return s, people
}

// statsCall is p's call record starting at start with talk seconds of
// talk (0: not answered).
func statsCall(id string, p *peoplestore.Person, terminal, number string, start time.Time, talk int, disp, reason string) wire.CallRecord {
	c := wire.CallRecord{CallID: id, PrisonNumber: p.PrisonNumber, Terminal: terminal, Number: number, Start: start,
		End: start.Add(time.Second), Disposition: disp, Reason: reason, PersonID: p.ID}
	if talk > 0 {
		a := start.Add(time.Second)
		c.Answer, c.End = &a, a.Add(time.Duration(talk)*time.Second)
	}
	return c
}

func rowsByKey(st *Stats) map[string]StatsRow {
	out := map[string]StatsRow{}
	for _, r := range st.Rows {
		out[r.Key] = r
	}
	return out
}

func TestStats(t *testing.T) {
	// Kolkata is UTC+5:30: hours there start at hh:30 UTC, which only a
	// grouping finer than the hour gets right.
	s, pp := statsFixture(t, "Asia/Kolkata")
	ctx := context.Background()
	ann, cat, bob := pp["Ann"], pp["Cat"], pp["Bob"]
	day := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	annByPN := statsCall("a4", ann, "t2", "+4411", day.Add(9*time.Hour+35*time.Minute), 30, wire.DispCompleted, "")
	annByPN.PersonID = ""
	hidden := statsCall("h1", ann, "t1", "+4466", day.Add(10*time.Hour), 500, wire.DispCompleted, "")
	hidden.Hidden = true
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0,
		statsCall("a1", ann, "t1", "+4411", day.Add(9*time.Hour+20*time.Minute), 60, wire.DispCompleted, ""),  // 14:50 IST
		statsCall("a2", ann, "t1", "+4411", day.Add(9*time.Hour+40*time.Minute), 120, wire.DispCompleted, ""), // 15:10 IST
		statsCall("a3", ann, "t1", "+4422", day.Add(9*time.Hour+45*time.Minute), 0, wire.DispRefused, "number not approved"),
		annByPN, // 15:05 IST
		statsCall("c1", cat, "t2", "+4433", day.Add(20*time.Hour), 0, wire.DispRefused, "outside calling hours"), // 01:30 IST on the 11th
		statsCall("c2", cat, "t2", "+4433", day.Add(20*time.Hour+time.Minute), 0, wire.DispRefused, "outside calling hours"),
		hidden,
	))
	storetest.MustStore(t, s.coreStore, "appB", storetest.Events("appB", 1, "", t0,
		statsCall("b1", bob, "t1", "+4499", day.Add(9*time.Hour+50*time.Minute), 90, wire.DispCompleted, ""),
	))
	f := StatsFilter{From: day, To: day.AddDate(0, 0, 2)}
	get := func(by string, edit func(*StatsFilter)) *Stats {
		t.Helper()
		g := f
		g.By = by
		if edit != nil {
			edit(&g)
		}
		st, err := s.Stats(ctx, g)
		if err != nil {
			t.Fatalf("%s: %v", by, err)
		}
		return st
	}

	blocks := get(StatsByBlock, nil)
	a, b := rowsByKey(blocks)["A"], rowsByKey(blocks)["B"]
	if len(blocks.Rows) != 2 || a.Calls != 6 || a.Answered != 3 || a.TotalSeconds != 210 || a.AverageSeconds != 70 ||
		b.Calls != 1 || b.TotalSeconds != 90 || blocks.Rows[0].Key != "A" {
		t.Fatalf("by block %+v", blocks.Rows)
	}
	if blocks.Total.Calls != 7 || blocks.Total.Answered != 4 || blocks.Total.TotalSeconds != 300 || blocks.Total.AverageSeconds != 75 ||
		blocks.TimeZone != "Asia/Kolkata" {
		t.Fatalf("total %+v", blocks.Total)
	}
	// Hidden calls count for those who may see them only.
	if all := get(StatsByBlock, func(f *StatsFilter) { f.ShowHidden = true }); all.Total.Calls != 8 || all.Total.TotalSeconds != 800 {
		t.Fatalf("with hidden %+v", all.Total)
	}

	hours := get(StatsByHour, nil)
	h := rowsByKey(hours)
	if len(hours.Rows) != 24 || hours.Rows[0].Key != "00" || h["14"].Calls != 1 || h["15"].Calls != 4 || h["15"].Answered != 3 ||
		h["15"].TotalSeconds != 240 || h["01"].Calls != 2 || h["09"].Calls != 0 || h["15"].Label != "15:00" {
		t.Fatalf("by hour %+v", hours.Rows)
	}

	days := get(StatsByDay, nil)
	d := rowsByKey(days)
	if len(days.Rows) != 3 || d["2025-03-10"].Calls != 5 || d["2025-03-11"].Calls != 2 || d["2025-03-12"].Calls != 0 {
		t.Fatalf("by day (IST) %+v", days.Rows)
	}

	people := get(StatsByPerson, nil)
	if len(people.Rows) != 3 || people.Rows[0].Key != ann.ID || people.Rows[0].Calls != 4 || people.Rows[0].Label != "Ann (A1)" ||
		people.Rows[1].Key != cat.ID || people.Rows[1].Calls != 2 {
		t.Fatalf("by person (the record naming only A1 counts for Ann) %+v", people.Rows)
	}
	if top := get(StatsByPerson, func(f *StatsFilter) { f.Limit = 1 }); len(top.Rows) != 1 || top.More != 2 || top.Total.Calls != 7 {
		t.Fatalf("top person %+v", top)
	}

	contacts := get(StatsByContact, nil)
	c := rowsByKey(contacts)
	if mum := c[ann.ID+" +4411"]; mum.Calls != 3 || mum.Label != "Mum (+4411)" || mum.Detail != "Ann (A1)" || mum.TotalSeconds != 210 {
		t.Fatalf("by contact %+v", contacts.Rows)
	}
	if other := c[ann.ID+" +4422"]; other.Calls != 1 || other.Label != "+4422" {
		t.Fatalf("a number that is no contact %+v", other)
	}

	terms := get(StatsByTerminal, nil)
	if len(terms.Rows) != 3 || terms.Rows[0].Key != "appA/t1" || terms.Rows[0].Calls != 3 || terms.Rows[0].Label != "t1 (appA)" ||
		terms.Rows[0].Detail != "A" || terms.Rows[1].Key != "appA/t2" || terms.Rows[2].Calls != 1 {
		t.Fatalf("busiest terminals %+v", terms.Rows)
	}

	ref := get(StatsByRefusal, nil)
	if len(ref.Rows) != 2 || ref.Rows[0].Key != "outside calling hours" || ref.Rows[0].Calls != 2 || ref.Rows[1].Calls != 1 || ref.Total.Calls != 3 {
		t.Fatalf("refusals %+v", ref.Rows)
	}

	// A block officer's scope, and a block filter.
	if sc := get(StatsByBlock, func(f *StatsFilter) { f.Blocks = []string{"B"} }); len(sc.Rows) != 1 || sc.Rows[0].Key != "B" || sc.Total.Calls != 1 {
		t.Fatalf("scoped %+v", sc.Rows)
	}
	if sc := get(StatsByPerson, func(f *StatsFilter) { f.Blocks = []string{} }); len(sc.Rows) != 0 || sc.Total.Calls != 0 {
		t.Fatalf("scope of no block %+v", sc.Rows)
	}
	if sc := get(StatsByRefusal, func(f *StatsFilter) { f.Block = "A"; f.From = day.Add(19 * time.Hour) }); sc.Total.Calls != 2 {
		t.Fatalf("block and period %+v", sc)
	}

	for _, bad := range []StatsFilter{
		{By: "weather", From: day, To: day.Add(time.Hour)},
		{By: StatsByBlock},
		{By: StatsByBlock, From: day, To: day},
		{By: StatsByBlock, From: day, To: day.AddDate(0, 0, MaxStatsDays+1)},
		{By: StatsByPerson, From: day, To: day.Add(time.Hour), Limit: 1001},
	} {
		if _, err := s.Stats(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestStatsHoursAcrossDST: Europe/London's clocks go forward on 30 March
// 2025, so 09:00 UTC is 09:00 before and 10:00 after.
func TestStatsHoursAcrossDST(t *testing.T) {
	s, pp := statsFixture(t, "Europe/London")
	ctx := context.Background()
	before, after := time.Date(2025, 3, 29, 9, 0, 0, 0, time.UTC), time.Date(2025, 3, 31, 9, 0, 0, 0, time.UTC)
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0,
		statsCall("x1", pp["Ann"], "t1", "+4411", before, 10, wire.DispCompleted, ""),
		statsCall("x2", pp["Ann"], "t1", "+4411", after, 10, wire.DispCompleted, ""),
	))
	st, err := s.Stats(ctx, StatsFilter{By: StatsByHour, From: before.AddDate(0, 0, -1), To: after.AddDate(0, 0, 1)})
	mustT(t, err)
	h := rowsByKey(st)
	if h["09"].Calls != 1 || h["10"].Calls != 1 {
		t.Fatalf("hours across DST %+v", st.Rows)
	}
	days, err := s.Stats(ctx, StatsFilter{By: StatsByDay, From: time.Date(2025, 3, 29, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)})
	mustT(t, err)
	// To is 01:00 on 1 April in London: that day is in, with no calls.
	if len(days.Rows) != 4 || days.Rows[0].Key != "2025-03-29" || days.Rows[0].Calls != 1 || days.Rows[2].Key != "2025-03-31" ||
		days.Rows[2].Calls != 1 || days.Rows[3].Key != "2025-04-01" || days.Rows[3].Calls != 0 {
		t.Fatalf("days across DST %+v", days.Rows)
	}
}

// TestStatsCallsWithNoPerson: calls refused before a card (no person, no
// prison number) are labelled as such by person and by contact, not
// "prison_number:".
func TestStatsCallsWithNoPerson(t *testing.T) {
	s, pp := statsFixture(t, "UTC")
	ctx := context.Background()
	day := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	nobody := wire.CallRecord{CallID: "n1", Terminal: "t1", Number: "+4411", Start: day, End: day.Add(time.Second),
		Disposition: wire.DispRefused, Reason: "no card"}
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0,
		nobody, statsCall("a1", pp["Ann"], "t1", "+4411", day.Add(time.Hour), 60, wire.DispCompleted, "")))
	for _, by := range []string{StatsByPerson, StatsByContact} {
		st, err := s.Stats(ctx, StatsFilter{From: day.Add(-time.Hour), To: day.Add(24 * time.Hour), By: by})
		mustT(t, err)
		var labels []string
		for _, r := range st.Rows {
			labels = append(labels, r.Label+" / "+r.Detail)
			if strings.Contains(r.Label+r.Detail, "prison_number:") {
				t.Errorf("%s: row %+v", by, r)
			}
		}
		want := NoPersonLabel + " / "
		if by == StatsByContact {
			want = "+4411 / " + NoPersonLabel
		}
		if !slices.Contains(labels, want) {
			t.Errorf("%s: labels %q, want %q among them", by, labels, want)
		}
	}
}
