package format

import (
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
)

func TestFormats(t *testing.T) {
	if Duration(0) != "—" || Duration(75.4) != "1:15" || HMS(3725) != "1:02:05" {
		t.Fatalf("durations %q %q %q", Duration(0), Duration(75.4), HMS(3725))
	}
	loc := time.FixedZone("X", 3600)
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, loc)
	if f, l := Days(from, from.AddDate(0, 0, 7), loc); f != "2025-03-01" || l != "2025-03-07" {
		t.Fatalf("days %s %s", f, l)
	}
}

func TestParses(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	start, end, err := DayRange("2025-03-01", "2025-03-07", loc)
	if err != nil || !start.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, loc)) || !end.Equal(time.Date(2025, 3, 8, 0, 0, 0, 0, loc)) {
		t.Fatalf("range %v %v %v", start, end, err)
	}
	if s, e, err := DayRange("", "", loc); err != nil || !s.IsZero() || !e.IsZero() {
		t.Fatalf("empty range %v %v %v", s, e, err)
	}
	if _, _, err := DayRange("x", "y", loc); err == nil || err.Error() != "dates are YYYY-MM-DD, not \"x\"\ndates are YYYY-MM-DD, not \"y\"" {
		t.Fatalf("bad range: %v", err)
	}
	if n, err := OptInt(" 12 "); n != 12 || err != nil {
		t.Fatalf("OptInt %d %v", n, err)
	}
	if _, err := OptInt("x"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("OptInt x: %v", err)
	}
	if d, err := OptDate(""); !d.IsZero() || err != nil {
		t.Fatalf("OptDate empty %v %v", d, err)
	}
	if _, err := OptDate("1/2/2025"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("OptDate bad: %v", err)
	}
}
