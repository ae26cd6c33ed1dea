package daemon

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// AlarmRefusalsSuppressed is the alarm code of a refusal flood's summary:
// a terminal's refused attempts that were counted instead of each written
// as a call record (docs/decisions/0025-refusal-floods.md). Its Source is
// the terminal; Cleared is set on the summary written when the flood ended.
const AlarmRefusalsSuppressed = "refusals_suppressed"

// refusalWindow is the length of the window refusals are counted in
// against the per-second limit.
const refusalWindow = time.Second

// maxSummaryReasons bounds the distinct reasons a summary counts; further
// reasons are counted under otherReasons.
const maxSummaryReasons = 16

// otherReasons is the reason under which the refusals past
// maxSummaryReasons distinct reasons are counted.
const otherReasons = "(other reasons)"

// refusalFloods decides, per terminal, which refused attempts are written
// as call records and which are only counted, and writes the counted ones'
// summaries. A terminal's first limit refusals of each one-second window
// are recorded; the one after them starts a flood, during which every
// refusal of the terminal is counted. A flood ends with the first complete
// window in which the terminal had at most limit refusals; it is seen at
// the terminal's next refusal or at its next summary, whichever is first.
// The zero limit records every refusal.
type refusalFloods struct {
	clk      clock.Clock
	limit    int
	interval time.Duration
	// emit writes a summary (the daemon's alarm).
	emit func(wire.Alarm)

	mu sync.Mutex
	// terms has an entry per terminal that had a refusal: at most one per
	// configured terminal (call control makes calls only for those).
	terms map[string]*termRefusals // by terminal id
}

// termRefusals is one terminal's refusal count.
type termRefusals struct {
	window time.Time // start of the current window
	n      int       // refusals in it
	prev   int       // refusals in the window before it
	// flood is the terminal's flood in progress, nil when none.
	flood *flood
}

// flood is what a flood has counted since its last summary.
type flood struct {
	since   time.Time // start of the summary's interval
	count   int
	reasons map[string]int
	timer   clock.Timer
}

// newRefusalFloods returns the refusal flood guard; limit 0 records every
// refusal.
func newRefusalFloods(clk clock.Clock, limit int, interval time.Duration, emit func(wire.Alarm)) *refusalFloods {
	return &refusalFloods{clk: clk, limit: limit, interval: interval, emit: emit, terms: map[string]*termRefusals{}}
}

// record reports whether the refused attempt rec is to be written as a
// call record; when it is not, it has been counted for its terminal's
// summary. Records that are not refusals are always written.
func (f *refusalFloods) record(rec wire.CallRecord) bool {
	if f == nil || f.limit <= 0 || rec.Disposition != wire.DispRefused {
		return true
	}
	now := f.clk.Now()
	var ended *wire.Alarm
	defer func() {
		if ended != nil {
			f.emit(*ended) // outside the lock: a bbolt commit
		}
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.terms[rec.Terminal]
	if t == nil {
		t = &termRefusals{window: now}
		f.terms[rec.Terminal] = t
	}
	t.roll(now)
	if t.flood != nil && t.prev <= f.limit && t.n == 0 {
		// The window before this refusal's was quiet: the flood is over.
		a := f.summary(rec.Terminal, t.flood, now, true)
		ended = &a
		t.flood.timer.Stop()
		t.flood = nil
	}
	t.n++
	if t.flood == nil && t.n <= f.limit {
		return true
	}
	if t.flood == nil {
		t.flood = f.newFlood(rec.Terminal, now)
	}
	t.flood.add(rec.Reason)
	return false
}

// newFlood starts a summary interval of terminal's flood at now. Called
// with f.mu held.
func (f *refusalFloods) newFlood(terminal string, now time.Time) *flood {
	fl := &flood{since: now, reasons: map[string]int{}}
	fl.timer = f.clk.AfterFunc(f.interval, func() { f.tick(terminal, fl) })
	return fl
}

// roll moves t's window to the one now is in.
func (t *termRefusals) roll(now time.Time) {
	if now.Before(t.window.Add(refusalWindow)) {
		return
	}
	if now.Before(t.window.Add(2 * refusalWindow)) {
		t.prev = t.n
	} else {
		t.prev = 0 // a whole window without refusals went by
	}
	t.window = t.window.Add(now.Sub(t.window).Truncate(refusalWindow))
	t.n = 0
}

// add counts one suppressed refusal for reason.
func (fl *flood) add(reason string) {
	fl.count++
	if _, ok := fl.reasons[reason]; !ok && len(fl.reasons) >= maxSummaryReasons {
		reason = otherReasons
	}
	fl.reasons[reason]++
}

// tick writes the summary of terminal's flood interval fl, just ended,
// and, when the flood is over, ends it; otherwise it starts the next
// interval. A tick for an interval no longer current does nothing.
func (f *refusalFloods) tick(terminal string, fl *flood) {
	now := f.clk.Now()
	f.mu.Lock()
	t := f.terms[terminal]
	if t == nil || t.flood != fl {
		f.mu.Unlock()
		return
	}
	t.roll(now)
	// Over when the last complete window, and the current one so far, had
	// at most limit refusals.
	over := t.prev <= f.limit && t.n <= f.limit
	var a wire.Alarm
	write := over || fl.count > 0
	if write {
		a = f.summary(terminal, fl, now, over)
	}
	if over {
		t.flood = nil
	} else {
		t.flood = f.newFlood(terminal, now)
	}
	f.mu.Unlock()
	if write {
		f.emit(a)
	}
}

// summary is fl's alarm for terminal, up to now; ended says the flood is
// over.
func (f *refusalFloods) summary(terminal string, fl *flood, now time.Time, ended bool) wire.Alarm {
	reasons := make([]string, 0, len(fl.reasons))
	for r := range fl.reasons {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if fl.reasons[reasons[i]] != fl.reasons[reasons[j]] {
			return fl.reasons[reasons[i]] > fl.reasons[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "terminal %s: %d refused call attempts from %s to %s not recorded one by one (more than %d refusals a second)",
		terminal, fl.count, fl.since.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), f.limit)
	if len(reasons) > 0 {
		b.WriteString("; by reason: ")
		for i, r := range reasons {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q %d", r, fl.reasons[r])
		}
	}
	if ended {
		b.WriteString("; the flood has ended")
	}
	return wire.Alarm{Code: AlarmRefusalsSuppressed, Source: terminal, Message: b.String(), Cleared: ended}
}

// flush writes the summaries of the floods in progress (at shutdown, so
// that none of their counts is lost) and ends them.
func (f *refusalFloods) flush() {
	if f == nil {
		return
	}
	now := f.clk.Now()
	var out []wire.Alarm
	f.mu.Lock()
	for term, t := range f.terms { // at most one entry per terminal
		if t.flood == nil {
			continue
		}
		t.flood.timer.Stop()
		out = append(out, f.summary(term, t.flood, now, true))
		t.flood = nil
	}
	f.mu.Unlock()
	for _, a := range out {
		f.emit(a)
	}
}
