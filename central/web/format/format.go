// Package format writes and reads the console's text forms of values:
// durations (m:ss, h:mm:ss), days (YYYY-MM-DD in a time zone, periods
// with the last day included, as the forms show them) and the optional
// numbers and dates of forms.
package format

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/reports"
)

// Duration writes seconds as m:ss ("—" for none).
func Duration(sec float64) string {
	if sec <= 0 {
		return "—"
	}
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// HMS writes seconds as h:mm:ss (m:ss under an hour).
func HMS(sec float64) string {
	return reports.FormatOffset(time.Duration(sec * float64(time.Second)).Round(time.Second))
}

// Days writes a period as the dates a form shows: from, and to as the
// last day included.
func Days(from, to time.Time, loc *time.Location) (string, string) {
	t := to.In(loc)
	last := t
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		last = t.AddDate(0, 0, -1)
	}
	return from.In(loc).Format(time.DateOnly), last.Format(time.DateOnly)
}

// ParseDay reads a YYYY-MM-DD form value as midnight in loc ("" is zero).
func ParseDay(v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("dates are YYYY-MM-DD, not %q", v)
	}
	return t, nil
}

// DayRange reads a period's first and last days (either may be empty) as
// the instants it starts and ends at in loc: to is the midnight after
// the last day. An error names every unreadable day.
func DayRange(from, to string, loc *time.Location) (start, end time.Time, err error) {
	start, err1 := ParseDay(from, loc)
	end, err2 := ParseDay(to, loc)
	if err := errors.Join(err1, err2); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !end.IsZero() {
		end = end.AddDate(0, 0, 1)
	}
	return start, end, nil
}

// OptInt reads an optional whole number ("" is 0).
func OptInt(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a whole number", store.ErrInvalid, v)
	}
	return n, nil
}

// OptDate reads an optional YYYY-MM-DD date in UTC ("" is zero).
func OptDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date %q must be YYYY-MM-DD", store.ErrInvalid, v)
	}
	return t, nil
}

// WhenLayout is how the console shows a moment: in the prison's time zone
// (the settings' time_zone), the zone named, for example
// "2026-12-08 14:05 Europe/London".
const WhenLayout = "2006-01-02 15:04"

// When is t as the console shows it in loc (WhenLayout and the zone's
// name); the zero time is "".
func When(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(WhenLayout) + " " + loc.String()
}
