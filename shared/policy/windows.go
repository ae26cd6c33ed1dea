package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// errBadWindow describes a window that cannot be used; the calls it
// governs are refused with ErrOutsideSchedule (fail closed).
var errBadWindow = errors.New("bad calling window")

// window is a parsed wire.Window: the days it starts on (bit d = weekday
// d) and its start and end in minutes after local midnight. end <= start
// runs past midnight into the next day.
type window struct {
	days       uint8
	start, end int
}

// windowSet is a parsed list of windows. An empty set without err places
// no restriction.
type windowSet struct {
	ws  []window
	err error
}

// parseWindows parses and validates ws once (NewIndex); any bad window
// makes the whole set fail closed.
func parseWindows(ws []wire.Window) windowSet {
	var s windowSet
	for i, w := range ws {
		pw, err := parseWindow(w)
		if err != nil {
			return windowSet{err: fmt.Errorf("%w %d: %v", errBadWindow, i, err)}
		}
		s.ws = append(s.ws, pw)
	}
	return s
}

func parseWindow(w wire.Window) (window, error) {
	var pw window
	for _, d := range w.Days {
		if d < 0 || d > 6 {
			return pw, fmt.Errorf("day %d (0 = Sunday .. 6 = Saturday)", d)
		}
		pw.days |= 1 << d
	}
	if len(w.Days) == 0 {
		pw.days = 0x7f
	}
	var err error
	if pw.start, err = parseClock(w.Start, false); err != nil {
		return pw, fmt.Errorf("start: %v", err)
	}
	if pw.end, err = parseClock(w.End, true); err != nil {
		return pw, fmt.Errorf("end: %v", err)
	}
	if pw.start == pw.end {
		return pw, fmt.Errorf("empty window %s-%s", w.Start, w.End)
	}
	return pw, nil
}

// parseClock reads "HH:MM" (24 h) as minutes after midnight; "24:00" only
// as an end.
func parseClock(s string, end bool) (int, error) {
	if len(s) != 5 || s[2] != ':' || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case m > 59, h > 24, h == 24 && (m != 0 || !end):
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return h*60 + m, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// contains reports whether t lies in an occurrence of w (one starting on
// t's local day, or on the day before for a window past midnight) and
// when that occurrence ends.
func (w window) contains(t time.Time, loc *time.Location) (time.Time, bool) {
	lt := t.In(loc)
	y, mo, d := lt.Date()
	wd := int(lt.Weekday())
	for back := 0; back <= 1; back++ {
		overnight := w.end <= w.start
		if back == 1 && !overnight {
			break
		}
		if w.days&(1<<((wd-back+7)%7)) == 0 {
			continue
		}
		start := time.Date(y, mo, d-back, w.start/60, w.start%60, 0, 0, loc)
		endDay := d - back
		if overnight {
			endDay++
		}
		end := time.Date(y, mo, endDay, w.end/60, w.end%60, 0, 0, loc)
		if !t.Before(start) && t.Before(end) {
			return end, true
		}
	}
	return time.Time{}, false
}

// maxChain bounds how far cover follows windows that continue one
// another (a window ending where the next begins): two weeks of daily
// windows.
const maxChain = 14

// cover checks t against the set: an empty set allows any time (zero end);
// otherwise t must lie in a window, and the end returned is where the
// span of back-to-back windows containing t ends. A bad set or a t outside
// every window is ErrOutsideSchedule; what names the set in the error.
func (s windowSet) cover(t time.Time, loc *time.Location, what string) (time.Time, error) {
	if s.err != nil {
		return time.Time{}, fmt.Errorf("%w: %s windows: %v", ErrOutsideSchedule, what, s.err)
	}
	if len(s.ws) == 0 {
		return time.Time{}, nil
	}
	end, ok := s.furthest(t, loc)
	if !ok {
		return time.Time{}, fmt.Errorf("%w (%s windows)", ErrOutsideSchedule, what)
	}
	for i := 0; i < maxChain; i++ {
		next, ok := s.furthest(end, loc)
		if !ok || !next.After(end) {
			break
		}
		end = next
	}
	return end, nil
}

// furthest is the latest end among the windows containing t.
func (s windowSet) furthest(t time.Time, loc *time.Location) (time.Time, bool) {
	var end time.Time
	found := false
	for _, w := range s.ws {
		if e, ok := w.contains(t, loc); ok && (!found || e.After(end)) {
			end, found = e, true
		}
	}
	return end, found
}
