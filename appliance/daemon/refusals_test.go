package daemon

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Reasons the tests refuse with.
const (
	reasonNoTap  = "no card tapped"
	reasonNumber = "number not approved"
)

// refuse ends a refused attempt on terminal as call control does.
func refuse(s *System, clk *clock.Fake, id, terminal, reason string) {
	now := clk.Now()
	s.callEnded(wire.CallRecord{CallID: id, Terminal: terminal, Number: "+449999999", Start: now, End: now,
		Disposition: wire.DispRefused, Reason: reason})
}

// floodOutbox is what the outbox holds about refused attempts.
type floodOutbox struct {
	events   int                        // pending events of any type
	records  map[string]wire.CallRecord // by call id
	summary  map[string][]wire.Alarm    // refusals_suppressed, by terminal
	counted  map[string]int             // by terminal: the summaries' counts
	byReason map[string]map[string]int  // by terminal, then reason
}

var (
	summaryCount  = regexp.MustCompile(`: (\d+) refused call attempts from `)
	summaryReason = regexp.MustCompile(`"([^"]*)" (\d+)`)
)

// readFloodOutbox decodes the outbox's call records and refusal summaries.
func readFloodOutbox(t *testing.T, st *store.Store) floodOutbox {
	t.Helper()
	evs, err := st.Pending(0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	o := floodOutbox{events: len(evs), records: map[string]wire.CallRecord{}, summary: map[string][]wire.Alarm{},
		counted: map[string]int{}, byReason: map[string]map[string]int{}}
	for _, ev := range evs {
		switch ev.Type {
		case wire.EventCall:
			var r wire.CallRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				t.Fatal(err)
			}
			o.records[r.CallID] = r
		case wire.EventAlarm:
			var a wire.Alarm
			if err := json.Unmarshal(ev.Payload, &a); err != nil {
				t.Fatal(err)
			}
			if a.Code != AlarmRefusalsSuppressed {
				continue
			}
			o.summary[a.Source] = append(o.summary[a.Source], a)
			m := summaryCount.FindStringSubmatch(a.Message)
			if m == nil {
				t.Fatalf("summary without a count: %q", a.Message)
			}
			n, _ := strconv.Atoi(m[1])
			o.counted[a.Source] += n
			if o.byReason[a.Source] == nil {
				o.byReason[a.Source] = map[string]int{}
			}
			for _, r := range summaryReason.FindAllStringSubmatch(a.Message, -1) {
				k, _ := strconv.Atoi(r[2])
				o.byReason[a.Source][r[1]] += k
			}
		}
	}
	return o
}

// ended reports whether terminal's flood has its closing summary.
func (o floodOutbox) ended(terminal string) bool {
	as := o.summary[terminal]
	return len(as) > 0 && as[len(as)-1].Cleared
}

// TestRefusalFloodIsSummarised: a terminal refused 100 times a second for
// 15 s has its first 10 refusals recorded and the rest counted in
// summary alarms (one at 10 s, one when the flood has ended) with the
// right counts by reason; an allowed call in the middle of the flood is
// recorded; another terminal refused 5 times a second has every refusal
// recorded; after the flood, a refusal is recorded again.
func TestRefusalFloodIsSummarised(t *testing.T) {
	s, clk := moneySystem(t)
	s.refusals = newRefusalFloods(clk, 10, 10*time.Second, s.alarm)

	want := map[string]int{}
	var t1, t2 int
	for i := range 1500 { // 15 s at 100 a second
		reason := reasonNoTap
		if i%3 == 0 {
			reason = reasonNumber
		}
		want[reason]++
		refuse(s, clk, fmt.Sprintf("t1-%d", i), "t1", reason)
		t1++
		if i%20 == 0 {
			refuse(s, clk, fmt.Sprintf("t2-%d", i), "t2", reasonNoTap)
			t2++
		}
		if i == 700 {
			res, _ := place(t, s, clk, "allowed", "+441110001", false, 0)
			if !res.Allowed {
				t.Fatalf("the call in the flood was refused: %+v", res)
			}
		}
		clk.Advance(10 * time.Millisecond)
	}
	// The summary at 10 s, before the clock moves on.
	testkit.Eventually(t, waitLong, "the flood's first summary", func() bool {
		return len(readFloodOutbox(t, s.Store).summary["t1"]) == 1
	})
	// The flood is over: nothing for two intervals.
	clk.Advance(10 * time.Second)
	clk.Advance(10 * time.Second)
	var o floodOutbox
	testkit.Eventually(t, waitLong, "the flood's closing summary", func() bool {
		o = readFloodOutbox(t, s.Store)
		return o.ended("t1")
	})

	var recorded int
	for i := range 1500 {
		if _, ok := o.records[fmt.Sprintf("t1-%d", i)]; ok {
			if i >= 10 {
				t.Errorf("refusal %d of the flood recorded", i)
			}
			recorded++
		} else if i < 10 {
			t.Errorf("refusal %d (under the limit) not recorded", i)
		}
	}
	if r, ok := o.records["allowed"]; !ok || r.Disposition != wire.DispNoAnswer {
		t.Errorf("allowed call in the flood: %+v, recorded %v", r, ok)
	}
	if recorded+o.counted["t1"] != t1 {
		t.Errorf("t1: %d recorded + %d summarised, want %d attempts", recorded, o.counted["t1"], t1)
	}
	if n := len(o.summary["t1"]); n != 2 {
		t.Errorf("%d summaries of t1, want 2 (at 10 s, at the end): %+v", n, o.summary["t1"])
	}
	for _, a := range o.summary["t1"][:len(o.summary["t1"])-1] {
		if a.Cleared {
			t.Errorf("summary during the flood cleared: %+v", a)
		}
	}
	// The first 10 (recorded) were i = 0..9: 4 of them for reasonNumber.
	want[reasonNumber] -= 4
	want[reasonNoTap] -= 6
	for reason, n := range want {
		if got := o.byReason["t1"][reason]; got != n {
			t.Errorf("t1 summarised %d refusals for %q, want %d", got, reason, n)
		}
	}
	for i := 0; i < 1500; i += 20 {
		if _, ok := o.records[fmt.Sprintf("t2-%d", i)]; !ok {
			t.Errorf("t2's refusal %d not recorded", i)
		}
	}
	if len(o.summary["t2"]) != 0 {
		t.Errorf("t2 summarised: %+v", o.summary["t2"])
	}

	refuse(s, clk, "after", "t1", reasonNoTap)
	if _, ok := readFloodOutbox(t, s.Store).records["after"]; !ok {
		t.Error("a refusal after the flood was not recorded")
	}
}

// TestRefusalFloodBoundsOutbox: 6,000 refused attempts in 300 ms on three
// terminals, ended concurrently as call control ends them, leave at most
// 10 records and 2 summaries per terminal in the outbox, and every attempt
// is accounted for.
func TestRefusalFloodBoundsOutbox(t *testing.T) {
	s, clk := moneySystem(t)
	s.refusals = newRefusalFloods(clk, 10, 10*time.Second, s.alarm)
	terms := []string{"t1", "t2", "t3"}
	const steps, perStep = 30, 200
	for step := range steps {
		var wg sync.WaitGroup
		for i := range perStep {
			wg.Go(func() {
				refuse(s, clk, fmt.Sprintf("c%d-%d", step, i), terms[i%len(terms)], reasonNoTap)
			})
		}
		wg.Wait()
		clk.Advance(10 * time.Millisecond)
	}
	clk.Advance(10 * time.Second)
	clk.Advance(10 * time.Second)
	// The closing summaries are written by the clock's timers.
	// No failure here on a timeout: the checks below say what is missing.
	var o floodOutbox
	testkit.Within(waitLong, 0, func() bool {
		o = readFloodOutbox(t, s.Store)
		return o.ended("t1") && o.ended("t2") && o.ended("t3")
	})
	for _, term := range terms {
		if !o.ended(term) {
			t.Errorf("%s: no closing summary: %+v", term, o.summary[term])
		}
	}
	if max := len(terms) * (10 + 2); o.events > max {
		t.Errorf("%d events in the outbox after %d refusals, want at most %d", o.events, steps*perStep, max)
	}
	total := len(o.records)
	for _, term := range terms {
		total += o.counted[term]
	}
	if total != steps*perStep {
		t.Errorf("%d attempts accounted for (%d records, summaries %v), want %d", total, len(o.records), o.counted, steps*perStep)
	}
}
