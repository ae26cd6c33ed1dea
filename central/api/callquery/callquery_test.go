package callquery

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	q, _ := url.ParseQuery("inmate=A1&block=A&number=%2B44+20&from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z&disposition=completed&limit=10&offset=5")
	f, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	if f.Inmate != "A1" || f.Block != "A" || f.Number != "+4420" || f.Disposition != "completed" || f.Limit != 10 || f.Offset != 5 ||
		!f.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || !f.To.Equal(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", f)
	}
	if f, err := Parse(url.Values{"officer": {"p_off1"}}); err != nil || f.Officer != "p_off1" {
		t.Fatalf("officer filter: %+v %v", f, err)
	}
	if f, _ := Parse(url.Values{}); f.Limit != 50 {
		t.Fatalf("default limit %d", f.Limit)
	}
	for _, bad := range []string{"from=yesterday", "disposition=great", "number=abc", "inmat=A1", "limit=-1", "limit=501",
		"from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z"} {
		q, _ := url.ParseQuery(bad)
		if _, err := Parse(q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: %v", bad, err)
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
		if cf.Limit < 1 || cf.Limit > 500 || cf.Offset < 0 {
			t.Fatalf("paging out of range: %+v", cf)
		}
		if q.Get("number") != "" && cf.Number == "" {
			t.Fatal("number dropped")
		}
		if !cf.From.IsZero() && !cf.To.IsZero() && !cf.To.After(cf.From) {
			t.Fatal("empty time range accepted")
		}
	})
}
