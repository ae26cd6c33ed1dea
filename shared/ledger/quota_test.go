package ledger

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed

	"github.com/kinline/kinline/shared/wire"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestPeriodBounds(t *testing.T) {
	london := zone(t, "Europe/London")
	ny := zone(t, "America/New_York")
	santiago := zone(t, "America/Santiago")
	gaza := zone(t, "Asia/Gaza")
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	cases := []struct {
		name       string
		p          Period
		t          time.Time
		loc        *time.Location
		start, end time.Time
		length     time.Duration
	}{
		{"spring-forward day is 23 h", Day, at(london, 2026, 3, 29, 12, 0), london,
			at(london, 2026, 3, 29, 0, 0), at(london, 2026, 3, 30, 0, 0), 23 * time.Hour},
		{"fall-back day is 25 h", Day, at(london, 2026, 10, 25, 23, 59), london,
			at(london, 2026, 10, 25, 0, 0), at(london, 2026, 10, 26, 0, 0), 25 * time.Hour},
		{"second 01:30 of the fall-back night is the same day", Day, time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), london,
			at(london, 2026, 10, 25, 0, 0), at(london, 2026, 10, 26, 0, 0), 25 * time.Hour},
		{"week over spring-forward starts Monday", Week, at(london, 2026, 3, 29, 23, 0), london, // a Sunday
			at(london, 2026, 3, 23, 0, 0), at(london, 2026, 3, 30, 0, 0), 7*24*time.Hour - time.Hour},
		{"Monday 00:00 opens a new week", Week, at(london, 2026, 3, 30, 0, 0), london,
			at(london, 2026, 3, 30, 0, 0), at(london, 2026, 4, 6, 0, 0), 7 * 24 * time.Hour},
		{"ISO week across a year end", Week, at(time.UTC, 2027, 1, 1, 8, 0), time.UTC, // a Friday
			at(time.UTC, 2026, 12, 28, 0, 0), at(time.UTC, 2027, 1, 4, 0, 0), 7 * 24 * time.Hour},
		{"month with spring-forward", Month, at(london, 2026, 3, 31, 23, 59), london,
			at(london, 2026, 3, 1, 0, 0), at(london, 2026, 4, 1, 0, 0), 31*24*time.Hour - time.Hour},
		{"February of a leap year", Month, at(time.UTC, 2028, 2, 29, 12, 0), time.UTC,
			at(time.UTC, 2028, 2, 1, 0, 0), at(time.UTC, 2028, 3, 1, 0, 0), 29 * 24 * time.Hour},
		{"month end in the zone, not in UTC", Month, time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC), ny, // Feb 28 22:00 in New York
			at(ny, 2026, 2, 1, 0, 0), at(ny, 2026, 3, 1, 0, 0), 28 * 24 * time.Hour},
		{"December rolls into January", Month, at(time.UTC, 2026, 12, 31, 23, 59), time.UTC,
			at(time.UTC, 2026, 12, 1, 0, 0), at(time.UTC, 2027, 1, 1, 0, 0), 31 * 24 * time.Hour},
		{"nil location is UTC", Day, time.Date(2026, 5, 5, 23, 0, 0, 0, ny), nil, // 03:00 UTC on the 6th
			at(time.UTC, 2026, 5, 6, 0, 0), at(time.UTC, 2026, 5, 7, 0, 0), 24 * time.Hour},
		// Santiago moved its clocks from 24:00 to 01:00 on 2016-08-14:
		// that day has no midnight and starts at 01:00 -03.
		{"day without a midnight", Day, time.Date(2016, 8, 14, 12, 0, 0, 0, santiago), santiago,
			time.Date(2016, 8, 14, 4, 0, 0, 0, time.UTC), time.Date(2016, 8, 15, 3, 0, 0, 0, time.UTC), 23 * time.Hour},
		{"day before the missing midnight ends at the jump", Day, time.Date(2016, 8, 13, 22, 0, 0, 0, santiago), santiago,
			time.Date(2016, 8, 13, 4, 0, 0, 0, time.UTC), time.Date(2016, 8, 14, 4, 0, 0, 0, time.UTC), 24 * time.Hour},
		// Gaza moved its clocks back from 01:00 to 00:00 on 2012-09-21:
		// midnight came twice and the day starts at the first.
		{"day with two midnights", Day, time.Date(2012, 9, 21, 12, 0, 0, 0, gaza), gaza,
			time.Date(2012, 9, 20, 21, 0, 0, 0, time.UTC), time.Date(2012, 9, 21, 22, 0, 0, 0, time.UTC), 25 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, e := c.p.Bounds(c.t, c.loc)
			if !s.Equal(c.start) || !e.Equal(c.end) {
				t.Errorf("%v.Bounds(%v) = [%v, %v), want [%v, %v)", c.p, c.t, s, e, c.start, c.end)
			}
			if e.Sub(s) != c.length {
				t.Errorf("period lasts %v, want %v", e.Sub(s), c.length)
			}
			if c.t.Before(s) || !c.t.Before(e) {
				t.Errorf("%v is not inside its own period [%v, %v)", c.t, s, e)
			}
		})
	}
}

// TestPeriodsTileTime: walking hour by hour through years of zones with
// awkward DST rules (changes at midnight in either direction, half-hour
// shifts, a skipped calendar day), every instant lies in exactly one day,
// week and month, each period ends where the next begins, and each starts
// at the first instant of its local date.
func TestPeriodsTileTime(t *testing.T) {
	zones := []string{"Europe/London", "America/Santiago", "America/Havana", "America/Sao_Paulo",
		"Asia/Beirut", "Asia/Gaza", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Tehran"}
	for _, name := range zones {
		loc := zone(t, name)
		for _, p := range []Period{Day, Week, Month} {
			from := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
			prevStart, prevEnd := p.Bounds(from, loc)
			for ts := prevStart; ts.Year() < 2026; ts = ts.Add(time.Hour) {
				s, e := p.Bounds(ts, loc)
				if ts.Before(s) || !ts.Before(e) {
					t.Fatalf("%s %v: %v outside [%v, %v)", name, p, ts, s, e)
				}
				if s.Equal(prevStart) {
					continue
				}
				if !s.Equal(prevEnd) {
					t.Fatalf("%s %v: gap or overlap: [%v, %v) then [%v, %v)", name, p, prevStart, prevEnd, s, e)
				}
				prevStart, prevEnd = s, e
				l, before := s.In(loc), s.Add(-time.Nanosecond).In(loc)
				if l.YearDay() == before.YearDay() {
					t.Fatalf("%s %v starts at %v, after the first instant of its date", name, p, l)
				}
				if p == Week && l.Weekday() != time.Monday || p == Month && l.Day() != 1 {
					t.Fatalf("%s %v starts at %v", name, p, l)
				}
			}
		}
	}
	if Period(9).String() != "Period(9)" || Week.String() != "week" {
		t.Error("Period.String")
	}
}

func TestUsageAndQuota(t *testing.T) {
	loc := zone(t, "Europe/London")
	now := time.Date(2026, 3, 29, 20, 0, 0, 0, loc) // Sunday, DST began at 01:00 GMT today
	calls := []Call{
		{"c1", time.Date(2026, 3, 29, 0, 30, 0, 0, loc)},  // today, before the change
		{"c2", time.Date(2026, 3, 29, 19, 0, 0, 0, loc)},  // today
		{"c2", time.Date(2026, 3, 29, 19, 0, 0, 0, loc)},  // c2 again (central's list and the appliance's own)
		{"c3", time.Date(2026, 3, 28, 23, 59, 0, 0, loc)}, // yesterday, same week
		{"c4", time.Date(2026, 3, 23, 0, 0, 0, 0, loc)},   // Monday 00:00, same week
		{"c5", time.Date(2026, 3, 22, 23, 59, 0, 0, loc)}, // previous Sunday: last week, this month
		{"c6", time.Date(2026, 2, 28, 23, 0, 0, 0, loc)},  // last month
	}
	u := UsageAt(calls, now, loc)
	if u != (Usage{Day: 2, Week: 4, Month: 5}) {
		t.Fatalf("UsageAt = %+v, want {2 4 5}", u)
	}
	cases := []struct {
		q    Quota
		want error
	}{
		{Quota{}, nil},
		{Quota{PerDay: 3, PerWeek: 5, PerMonth: 6}, nil},
		{Quota{PerDay: 2}, ErrQuotaDay},
		{Quota{PerDay: 3, PerWeek: 4}, ErrQuotaWeek},
		{Quota{PerMonth: 5}, ErrQuotaMonth},
		{Quota{PerDay: 1, PerMonth: 1}, ErrQuotaDay},
	}
	for _, c := range cases {
		err := c.q.Check(u)
		if c.want == nil && err != nil || c.want != nil && (!errors.Is(err, c.want) || !errors.Is(err, ErrQuota)) {
			t.Errorf("%+v.Check = %v, want %v", c.q, err, c.want)
		}
	}
	// In UTC, c1 (00:30 GMT) is still today and c6 (23:00 GMT on Feb 28)
	// still February: the same counts.
	if u2 := UsageAt(calls, now, time.UTC); u2 != u {
		t.Errorf("UTC usage %+v", u2)
	}
	// New York: now is 15:00 EDT there; c1 (20:30 EDT on the 28th) is
	// yesterday.
	if u3 := UsageAt(calls, now, zone(t, "America/New_York")); u3.Day != 1 {
		t.Errorf("New York usage %+v, want 1 call today", u3)
	}
}

func TestCallsFrom(t *testing.T) {
	ans := t0.Add(10 * time.Second)
	recs := []wire.CallRecord{
		{CallID: "c1", Start: t0, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted},
		{CallID: "c2", Start: t0, End: t0.Add(time.Minute), Disposition: wire.DispNoAnswer},
		{CallID: "c3", Start: t0, End: t0, Disposition: wire.DispRefused},
	}
	got := CallsFromRecords(recs)
	if len(got) != 1 || got[0] != (Call{"c1", ans}) {
		t.Errorf("CallsFromRecords = %+v", got)
	}
	es := []Entry{recharge("r1", 100, t0), debit("d1", "app-a", 10, ans)}
	got = CallsFromEntries(es)
	if len(got) != 1 || got[0] != (Call{"call-d1", ans}) {
		t.Errorf("CallsFromEntries = %+v", got)
	}
	got = CallsFromStamps([]wire.CallStamp{{CallID: "c9", At: ans}})
	if len(got) != 1 || got[0] != (Call{"c9", ans}) {
		t.Errorf("CallsFromStamps = %+v", got)
	}
	if q := QuotaFromWire(wire.AccountMoney{CallsPerDay: 3, CallsPerWeek: 10, CallsPerMonth: 30}); q != (Quota{3, 10, 30}) {
		t.Errorf("QuotaFromWire = %+v", q)
	}
}
