// Package callquery parses the review side's untrusted URL query
// parameters, shared by the JSON API and the web console: the calls search
// (into a reports.CallFilter), statistics (reports.StatsFilter) and billing
// reports (reports.BillingFilter), and a position in a recording.
package callquery

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// ErrBadQuery is wrapped by every parse error (HTTP 400).
var ErrBadQuery = errors.New("bad query")

// Dispositions lists the call dispositions a search may name.
var Dispositions = []string{wire.DispCompleted, wire.DispRefused, wire.DispBusy, wire.DispNoAnswer,
	wire.DispRejected, wire.DispFailed, wire.DispCancelled, wire.DispLimited, wire.DispEnded, wire.DispRestarted}

// MaxText bounds a text parameter (a name, a contact, an id).
const MaxText = 200

// Paging reads limit and offset (non-negative integers, 0 when absent).
func Paging(q url.Values) (limit, offset int, err error) {
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, e := strconv.Atoi(v)
			if e != nil || n < 0 || n > 1_000_000 {
				return 0, 0, fmt.Errorf("%w: %s must be a non-negative integer", ErrBadQuery, name)
			}
			*dst = n
		}
	}
	return limit, offset, nil
}

// only refuses parameters not in names, so a typo never silently widens a
// search.
func only(q url.Values, names ...string) error {
	for k := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return fmt.Errorf("%w: unknown parameter %q", ErrBadQuery, k)
		}
	}
	return nil
}

// text reads a text parameter: trimmed, valid UTF-8, at most MaxText
// characters.
func text(q url.Values, name string) (string, error) {
	v := strings.TrimSpace(q.Get(name))
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxText {
		return "", fmt.Errorf("%w: %s must be text of at most %d characters", ErrBadQuery, name, MaxText)
	}
	return v, nil
}

// Time layouts a from or to may use: RFC 3339, a browser's datetime-local
// value, or a date.
const (
	minuteLayout = "2006-01-02T15:04"
	dateLayout   = time.DateOnly
)

// parseTime reads an RFC 3339 time, a date and time to the minute
// (2006-01-02T15:04) or a date (2006-01-02), the last two in loc. A date
// given as an upper bound means the end of that day (the next midnight), so
// to=2025-03-31 includes the 31st.
func parseTime(name, v string, loc *time.Location, upper bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(minuteLayout, v, loc); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(dateLayout, v, loc); err == nil {
		if upper {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: %s must be RFC 3339 (2025-03-01T00:00:00Z), a date and time (2025-03-01T14:30) or a date (2025-03-01)", ErrBadQuery, name)
}

// period reads from and to (see parseTime); to must be after from.
func period(q url.Values, loc *time.Location) (from, to time.Time, err error) {
	if v := q.Get("from"); v != "" {
		if from, err = parseTime("from", v, loc, false); err != nil {
			return from, to, err
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseTime("to", v, loc, true); err != nil {
			return from, to, err
		}
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return from, to, fmt.Errorf("%w: to must be after from", ErrBadQuery)
	}
	return from, to, nil
}

// Parse reads a calls search: inmate (person id or prison number), name
// (part of the person's name), block, number (normalized), contact
// (contact id or part of its name), officer (id or staff number: calls an
// officer confirmed or ended), disposition, from and to (the start; RFC
// 3339, or a date and time or date in UTC; a date as to includes that
// day), limit (default 50, at most 500) and offset. Unknown parameters are
// refused so a typo never silently widens a search.
func Parse(q url.Values) (reports.CallFilter, error) { return ParseIn(q, time.UTC) }

// ParseIn is Parse with dates and times without a zone in loc (the
// console's, the prison's time zone).
func ParseIn(q url.Values, loc *time.Location) (reports.CallFilter, error) {
	var f reports.CallFilter
	if err := only(q, "inmate", "name", "block", "number", "contact", "from", "to", "disposition", "officer", "limit", "offset"); err != nil {
		return f, err
	}
	for name, dst := range map[string]*string{"inmate": &f.Person, "name": &f.Name, "block": &f.Block, "contact": &f.Contact, "officer": &f.Officer} {
		v, err := text(q, name)
		if err != nil {
			return f, err
		}
		*dst = v
	}
	if n := q.Get("number"); n != "" {
		f.Number = policy.NormalizeNumber(n)
		if f.Number == "" {
			return f, fmt.Errorf("%w: number %q is not a phone number", ErrBadQuery, n)
		}
	}
	if d := q.Get("disposition"); d != "" {
		known := false
		for _, k := range Dispositions {
			known = known || k == d
		}
		if !known {
			return f, fmt.Errorf("%w: unknown disposition %q", ErrBadQuery, d)
		}
		f.Disposition = d
	}
	var err error
	if f.From, f.To, err = period(q, loc); err != nil {
		return f, err
	}
	if f.Limit, f.Offset, err = Paging(q); err != nil {
		return f, err
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit > 500 {
		return f, fmt.Errorf("%w: limit is at most 500", ErrBadQuery)
	}
	return f, nil
}

// DefaultDays is the period of statistics and reports when from is not
// given: the days up to to (or now).
const DefaultDays = 30

// reportPeriod reads from and to in loc, defaulting to the DefaultDays days
// before today's end in loc.
func reportPeriod(q url.Values, loc *time.Location, now time.Time) (from, to time.Time, err error) {
	if from, to, err = period(q, loc); err != nil {
		return from, to, err
	}
	if to.IsZero() {
		n := now.In(loc)
		to = time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
		if !from.IsZero() && !to.After(from) {
			return from, to, fmt.Errorf("%w: from is in the future", ErrBadQuery)
		}
	}
	if from.IsZero() {
		from = to.In(loc).AddDate(0, 0, -DefaultDays)
	}
	return from, to, nil
}

// ParseStats reads statistics by dimension by: from and to (as Parse, but
// dates and times in loc, the prison's time zone; default the 30 days up to
// the end of today), block and limit (rows by person, contact or
// terminal). Parameter by, when present, must equal by (the console's form
// sends it; the JSON API takes it from the path).
func ParseStats(q url.Values, by string, loc *time.Location, now time.Time) (reports.StatsFilter, error) {
	f := reports.StatsFilter{By: by}
	if err := only(q, "by", "from", "to", "block", "limit"); err != nil {
		return f, err
	}
	known := false
	for _, d := range reports.StatsDimensions {
		known = known || d == by
	}
	if !known {
		return f, fmt.Errorf("%w: statistics by %q (one of %s)", ErrBadQuery, by, strings.Join(reports.StatsDimensions, ", "))
	}
	if v := q.Get("by"); v != "" && v != by {
		return f, fmt.Errorf("%w: by %q and %q", ErrBadQuery, v, by)
	}
	var err error
	if f.Block, err = text(q, "block"); err != nil {
		return f, err
	}
	if f.From, f.To, err = reportPeriod(q, loc, now); err != nil {
		return f, err
	}
	if f.To.Sub(f.From) > reports.MaxStatsDays*24*time.Hour {
		return f, fmt.Errorf("%w: a statistics period is at most %d days", ErrBadQuery, reports.MaxStatsDays)
	}
	if f.Limit, _, err = Paging(url.Values{"limit": q["limit"]}); err != nil {
		return f, err
	}
	if f.Limit > 1000 {
		return f, fmt.Errorf("%w: limit is at most 1000", ErrBadQuery)
	}
	return f, nil
}

// ParseBilling reads a billing report: from and to (as ParseStats), period
// (total, day or month; default total) and block.
func ParseBilling(q url.Values, loc *time.Location, now time.Time) (reports.BillingFilter, error) {
	var f reports.BillingFilter
	if err := only(q, "from", "to", "period", "block"); err != nil {
		return f, err
	}
	f.Period = q.Get("period")
	if f.Period == "" {
		f.Period = reports.BillingTotal
	}
	known := false
	for _, p := range reports.BillingPeriods {
		known = known || p == f.Period
	}
	if !known {
		return f, fmt.Errorf("%w: period %q (one of %s)", ErrBadQuery, f.Period, strings.Join(reports.BillingPeriods, ", "))
	}
	var err error
	if f.Block, err = text(q, "block"); err != nil {
		return f, err
	}
	if f.From, f.To, err = reportPeriod(q, loc, now); err != nil {
		return f, err
	}
	if f.To.Sub(f.From) > reports.MaxBillingDays*24*time.Hour {
		return f, fmt.Errorf("%w: a billing report covers at most %d days", ErrBadQuery, reports.MaxBillingDays)
	}
	return f, nil
}

// MaxOffset bounds a position in a recording.
const MaxOffset = 24 * time.Hour

// ParseOffset reads a position in a recording: seconds ("83", "83.5"),
// m:ss ("1:23", "1:23.5") or h:mm:ss ("1:02:03"). Minutes and seconds after
// the first field are two digits below 60.
func ParseOffset(v string) (time.Duration, error) {
	bad := fmt.Errorf("%w: a position is seconds, m:ss or h:mm:ss (e.g. 1:23), not %q", ErrBadQuery, v)
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 16 {
		return 0, bad
	}
	parts := strings.Split(v, ":")
	if len(parts) > 3 {
		return 0, bad
	}
	// The last field may have a fraction of up to 3 digits.
	last := parts[len(parts)-1]
	whole, frac, hasFrac := strings.Cut(last, ".")
	if hasFrac && (frac == "" || len(frac) > 3 || !digits(frac)) {
		return 0, bad
	}
	parts[len(parts)-1] = whole
	var total int64
	for i, p := range parts {
		if p == "" || !digits(p) || len(p) > 5 || i > 0 && len(p) != 2 {
			return 0, bad
		}
		n, _ := strconv.ParseInt(p, 10, 64)
		if i > 0 && n >= 60 {
			return 0, bad
		}
		total = total*60 + n
	}
	d := time.Duration(total) * time.Second
	if hasFrac {
		ms, _ := strconv.Atoi((frac + "00")[:3])
		d += time.Duration(ms) * time.Millisecond
	}
	if d > MaxOffset {
		return 0, bad
	}
	return d, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
