package callquery

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "time/tzdata"

	"github.com/kinline/kinline/central/store/reports"
)

func TestParse(t *testing.T) {
	q, _ := url.ParseQuery("inmate=A1&block=A&number=%2B44+20&from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z&disposition=completed&limit=10&offset=5")
	f, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	if f.Person != "A1" || f.Block != "A" || f.Number != "+4420" || f.Disposition != "completed" || f.Limit != 10 || f.Offset != 5 ||
		!f.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || !f.To.Equal(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", f)
	}
	if f, err := Parse(url.Values{"officer": {"p_off1"}}); err != nil || f.Officer != "p_off1" {
		t.Fatalf("officer filter: %+v %v", f, err)
	}
	if f, err := Parse(url.Values{"name": {"  Ann Lee "}, "contact": {"Mum"}}); err != nil || f.Name != "Ann Lee" || f.Contact != "Mum" {
		t.Fatalf("name and contact: %+v %v", f, err)
	}
	if f, _ := Parse(url.Values{}); f.Limit != 50 {
		t.Fatalf("default limit %d", f.Limit)
	}
	// The console's date and datetime-local fields, in UTC; a date as the
	// upper bound includes that day.
	f, err = Parse(url.Values{"from": {"2025-03-01T14:30"}, "to": {"2025-03-31"}})
	if err != nil || !f.From.Equal(time.Date(2025, 3, 1, 14, 30, 0, 0, time.UTC)) || !f.To.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("console times: %+v %v", f, err)
	}
	if f, err := Parse(url.Values{"from": {"2025-03-01"}, "to": {"2025-03-01"}}); err != nil || f.To.Sub(f.From) != 24*time.Hour {
		t.Fatalf("one day: %+v %v", f, err)
	}
	for _, bad := range []string{"from=yesterday", "disposition=great", "number=abc", "inmat=A1", "limit=-1", "limit=1001",
		"from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", "from=2025-02-01&to=2025-01-31", "name=" + strings.Repeat("x", MaxText+1),
		"contact=%ff", "from=2025-13-01"} {
		q, _ := url.ParseQuery(bad)
		if _, err := Parse(q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestParseStatsAndBilling(t *testing.T) {
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	now := time.Date(2025, 3, 15, 20, 0, 0, 0, time.UTC) // 01:30 on the 16th in Kolkata
	f, err := ParseStats(url.Values{}, reports.StatsByHour, kolkata, now)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2025, 3, 17, 0, 0, 0, 0, kolkata)
	if f.By != reports.StatsByHour || !f.To.Equal(end) || !f.From.Equal(end.AddDate(0, 0, -DefaultDays)) || f.Limit != 0 {
		t.Fatalf("defaults %+v", f)
	}
	q, _ := url.ParseQuery("by=people&from=2025-03-01&to=2025-03-02&block=A&limit=5")
	f, err = ParseStats(q, reports.StatsByPerson, kolkata, now)
	if err != nil || f.Block != "A" || f.Limit != 5 || !f.From.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, kolkata)) ||
		!f.To.Equal(time.Date(2025, 3, 3, 0, 0, 0, 0, kolkata)) {
		t.Fatalf("stats %+v %v", f, err)
	}
	for _, bad := range []struct{ q, by string }{{"", "weather"}, {"by=hours", "days"}, {"limit=1001", "people"}, {"colour=red", "days"},
		{"from=2024-01-01&to=2025-03-01", "days"}, {"from=2026-01-01", "days"}, {"to=2025-01-01&from=2025-02-01", "days"}} {
		q, _ := url.ParseQuery(bad.q)
		if _, err := ParseStats(q, bad.by, kolkata, now); !errors.Is(err, ErrBadQuery) {
			t.Errorf("stats %q by %s: %v", bad.q, bad.by, err)
		}
	}
	b, err := ParseBilling(url.Values{"period": {"month"}, "from": {"2025-01-01"}}, time.UTC, now)
	if err != nil || b.Period != reports.BillingMonth || !b.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!b.To.Equal(time.Date(2025, 3, 16, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("billing %+v %v", b, err)
	}
	if b, _ := ParseBilling(url.Values{}, time.UTC, now); b.Period != reports.BillingTotal {
		t.Fatalf("default period %+v", b)
	}
	for _, bad := range []string{"period=week", "rate=x", "from=2020-01-01&to=2025-01-01", "block=" + strings.Repeat("b", MaxText+1)} {
		q, _ := url.ParseQuery(bad)
		if _, err := ParseBilling(q, time.UTC, now); !errors.Is(err, ErrBadQuery) {
			t.Errorf("billing %s: %v", bad, err)
		}
	}
}

func TestParseOffset(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"0": 0, "83": 83 * time.Second, "83.5": 83500 * time.Millisecond, "1:23": 83 * time.Second, "01:23.25": 83250 * time.Millisecond,
		"1:02:03": time.Hour + 2*time.Minute + 3*time.Second, " 2:00 ": 2 * time.Minute, "90:00": 90 * time.Minute, "24:00:00": 24 * time.Hour,
	} {
		if got, err := ParseOffset(v); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1:2", "1:60", "1:00:60", "1::00", "1:00:00:00", "1.", ".5", "1.2345", "1e3", "+5", "24:00:01",
		"99999:00", "1:23\x00"} {
		if _, err := ParseOffset(bad); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseCallFilter(f *testing.F) {
	for _, s := range []string{
		"inmate=A1&block=A&number=%2B44+20&from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z&disposition=completed&limit=10&offset=5",
		"from=2025-01-01T00:00:00Z&to=2024-01-01T00:00:00Z",
		"limit=9999999999999999999",
		"number=00;DROP",
		"%zz",
		"name=Ann&contact=Mum&from=2025-03-01T14:30&to=2025-03-31",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		cf, err := Parse(q)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("error not ErrBadQuery: %v", err)
			}
			return
		}
		if cf.Limit < 1 || cf.Limit > 1000 || cf.Offset < 0 {
			t.Fatalf("paging out of range: %+v", cf)
		}
		if q.Get("number") != "" && cf.Number == "" {
			t.Fatal("number dropped")
		}
		if !cf.From.IsZero() && !cf.To.IsZero() && !cf.To.After(cf.From) {
			t.Fatal("empty time range accepted")
		}
		for _, s := range []string{cf.Name, cf.Contact, cf.Person, cf.Officer, cf.Block} {
			if len([]rune(s)) > MaxText {
				t.Fatalf("text of %d characters accepted", len([]rune(s)))
			}
		}
	})
}

func FuzzParseReports(f *testing.F) {
	for _, s := range []string{
		"from=2025-03-01&to=2025-03-31&block=A&limit=20",
		"period=month&from=2025-01-01T00:00:00Z",
		"to=2025-01-01&from=2025-02-01",
		"from=2020-01-01",
		"by=days&limit=1001",
	} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if sf, err := ParseStats(q, reports.StatsByDay, time.UTC, now); err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("stats error not ErrBadQuery: %v", err)
			}
		} else if !sf.To.After(sf.From) || sf.To.Sub(sf.From) > reports.MaxStatsDays*24*time.Hour || sf.Limit < 0 || sf.Limit > 1000 {
			t.Fatalf("stats filter out of range: %+v", sf)
		}
		if bf, err := ParseBilling(q, time.UTC, now); err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("billing error not ErrBadQuery: %v", err)
			}
		} else if !bf.To.After(bf.From) || bf.To.Sub(bf.From) > reports.MaxBillingDays*24*time.Hour || bf.Period == "" {
			t.Fatalf("billing filter out of range: %+v", bf)
		}
	})
}

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"83", "1:23", "1:02:03.5", "1:60", "-1", "99999:00:00", "1.2345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := ParseOffset(v)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("error not ErrBadQuery: %v", err)
			}
			return
		}
		if d < 0 || d > MaxOffset {
			t.Fatalf("%q: %v out of range", v, d)
		}
		// What the console writes back reads the same (to the second).
		if back, err := ParseOffset(reports.FormatOffset(d)); err != nil || back != d.Truncate(time.Second) {
			t.Fatalf("%q: %v, written %q, read %v %v", v, d, reports.FormatOffset(d), back, err)
		}
	})
}
