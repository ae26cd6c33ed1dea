package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// Errors of the quota layer. Each ErrQuota* wraps ErrQuota; the text is the
// refusal reason.
var (
	ErrQuota      = errors.New("call quota used up")
	ErrQuotaDay   = fmt.Errorf("%w: calls today", ErrQuota)
	ErrQuotaWeek  = fmt.Errorf("%w: calls this week", ErrQuota)
	ErrQuotaMonth = fmt.Errorf("%w: calls this month", ErrQuota)
)

// Period is a calendar period quotas count in.
type Period int

// Periods. A day runs from local midnight to the next (23 or 25 hours
// across a DST change); a week is ISO, from Monday 00:00; a month from the
// 1st 00:00.
const (
	Day Period = iota
	Week
	Month
)

func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	}
	return fmt.Sprintf("Period(%d)", int(p))
}

// Bounds returns the period containing t in loc: [start, end). Both are
// local midnights computed with time.Date, so DST changes and month
// lengths are respected (a midnight that does not exist in loc, as in zones
// that change at 00:00, becomes the first instant of that day). A nil loc
// is UTC.
func (p Period) Bounds(t time.Time, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, m, d := t.Date()
	switch p {
	case Week:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = dayStart(y, m, d-back, loc)
		end = dayStart(y, m, d-back+7, loc)
	case Month:
		start = dayStart(y, m, 1, loc)
		end = dayStart(y, m+1, 1, loc)
	default:
		start = dayStart(y, m, d, loc)
		end = dayStart(y, m, d+1, loc)
	}
	return start, end
}

// dayStart is the first instant of the local calendar day (y, m, d), which
// time.Date normalizes. time.Date alone is not enough where a zone changes
// its clocks at midnight.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // the normalized date
	if !sameDate(t, want) {
		// Midnight is skipped (clocks jump from 24:00 to 01:00) and
		// time.Date answered with an instant of the previous day: the day
		// begins at the transition that ends that instant's offset.
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
		return t
	}
	// Midnight is repeated (clocks go back from 01:00 to 00:00) and
	// time.Date may answer with the later one: the day began at midnight
	// of the offset in force before the current one.
	if zs, _ := t.ZoneBounds(); !zs.IsZero() {
		_, off := zs.Add(-time.Nanosecond).Zone()
		e := time.Date(y, m, d, 0, 0, 0, 0, time.FixedZone("", off)).In(loc)
		if e.Before(t) && sameDate(e, want) {
			return e
		}
	}
	return t
}

func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// Call is one answered call, for quota counting: ID de-duplicates (the
// same call may be known from central's list and the appliance's own), At
// places it in a period (the answer time).
type Call struct {
	ID string
	At time.Time
}

// CallsFromEntries returns the calls of the call debits among entries.
func CallsFromEntries(entries []Entry) []Call {
	var out []Call
	for _, e := range entries {
		if e.Kind == CallDebit && e.Ref != "" {
			out = append(out, Call{ID: e.Ref, At: e.At})
		}
	}
	return out
}

// CallsFromRecords returns the answered calls among records (refused,
// unanswered or declined attempts use no quota), placed at their answer
// time.
func CallsFromRecords(recs []wire.CallRecord) []Call {
	var out []Call
	for _, r := range recs {
		if r.Answer != nil && r.CallID != "" {
			out = append(out, Call{ID: r.CallID, At: *r.Answer})
		}
	}
	return out
}

// CallsFromStamps converts the RecentCalls of a policy account.
func CallsFromStamps(st []wire.CallStamp) []Call {
	out := make([]Call, 0, len(st))
	for _, s := range st {
		out = append(out, Call{ID: s.CallID, At: s.At})
	}
	return out
}

// Usage is the number of distinct calls in the current day, ISO week and
// month.
type Usage struct{ Day, Week, Month int }

// UsageAt counts the distinct calls (by ID) in the day, week and month
// containing now, in loc. Calls after now in the same period count too (a
// clock set back must not free quota).
func UsageAt(calls []Call, now time.Time, loc *time.Location) Usage {
	ds, de := Day.Bounds(now, loc)
	ws, we := Week.Bounds(now, loc)
	ms, me := Month.Bounds(now, loc)
	in := func(t, s, e time.Time) bool { return !t.Before(s) && t.Before(e) }
	seen := make(map[string]struct{}, len(calls))
	var u Usage
	for _, c := range calls {
		if _, dup := seen[c.ID]; dup {
			continue
		}
		seen[c.ID] = struct{}{}
		if in(c.At, ds, de) {
			u.Day++
		}
		if in(c.At, ws, we) {
			u.Week++
		}
		if in(c.At, ms, me) {
			u.Month++
		}
	}
	return u
}

// Quota is a person's call limits; 0 means no limit.
type Quota struct{ PerDay, PerWeek, PerMonth int }

// QuotaFromWire reads the limits of a policy account.
func QuotaFromWire(a wire.AccountMoney) Quota {
	return Quota{PerDay: a.CallsPerDay, PerWeek: a.CallsPerWeek, PerMonth: a.CallsPerMonth}
}

// Check reports whether one more call fits: nil, or ErrQuotaDay, Week or
// Month (the shortest period used up first).
func (q Quota) Check(u Usage) error {
	switch {
	case q.PerDay > 0 && u.Day >= q.PerDay:
		return fmt.Errorf("%w (%d of %d)", ErrQuotaDay, u.Day, q.PerDay)
	case q.PerWeek > 0 && u.Week >= q.PerWeek:
		return fmt.Errorf("%w (%d of %d)", ErrQuotaWeek, u.Week, q.PerWeek)
	case q.PerMonth > 0 && u.Month >= q.PerMonth:
		return fmt.Errorf("%w (%d of %d)", ErrQuotaMonth, u.Month, q.PerMonth)
	}
	return nil
}
