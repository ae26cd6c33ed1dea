package mqttproxy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
)

// sink collects what a shaper writes.
type sink struct {
	mu  sync.Mutex
	out [][]byte
}

func (s *sink) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, append([]byte(nil), b...))
	return nil
}

func (s *sink) get() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.out)
}

func newTestShaper(seed uint64, f Faults, clk clock.Clock) (*shaper, *sink, *dirCounters) {
	var st dirCounters
	sk := &sink{}
	return newShaper(Up, seed, 0, time.Second, clk, &st, func() Faults { return f }, sk.write), sk, &st
}

// publish builds a QoS 1 PUBLISH with packet id id.
func publish(id uint16) []byte {
	body := []byte{0, 1, 't', byte(id >> 8), byte(id)}
	body = append(body, fmt.Sprintf("message %d", id)...)
	return append([]byte{0x32, byte(len(body))}, body...)
}

var (
	pingreq    = []byte{0xc0, 0}
	disconnect = []byte{0xe0, 0}
	connect    = []byte{0x10, 2, 0, 0}
)

func feed(t *testing.T, s *shaper, pkts ...[]byte) {
	t.Helper()
	for _, p := range pkts {
		if cut, err := s.packet(p); cut || err != nil {
			t.Fatalf("packet % x: cut %v, err %v", p[:2], cut, err)
		}
	}
}

func names(pkts [][]byte) []string {
	var out []string
	for _, p := range pkts {
		switch {
		case p[0]>>4 == TypePublish:
			n := fmt.Sprintf("P%d", int(p[5])<<8|int(p[6]))
			if p[0]&0x08 != 0 {
				n += "d"
			}
			out = append(out, n)
		case bytes.Equal(p, pingreq):
			out = append(out, "ping")
		case bytes.Equal(p, disconnect):
			out = append(out, "disc")
		default:
			out = append(out, fmt.Sprintf("% x", p))
		}
	}
	return out
}

func TestShaperPassesThroughWithoutFaults(t *testing.T) {
	s, sk, st := newTestShaper(1, Faults{}, clock.Real{})
	in := [][]byte{connect, publish(1), pingreq, publish(2), disconnect}
	feed(t, s, in...)
	if got := sk.get(); !slices.EqualFunc(got, in, bytes.Equal) {
		t.Fatalf("got %v", names(got))
	}
	if st.packets.Load() != 5 || st.publishes.Load() != 2 || st.duplicated.Load() != 0 || st.reordered.Load() != 0 {
		t.Fatalf("stats %+v", st.snapshot())
	}
}

func TestShaperReorderSwapsPairs(t *testing.T) {
	s, sk, st := newTestShaper(1, Faults{Reorder: 1}, clock.NewFake(time.Unix(0, 0)))
	feed(t, s, publish(1), pingreq, publish(2), publish(3), publish(4), publish(5), disconnect)
	// P1 is held; the PINGREQ passes it; P2 overtakes it. P3 held, P4
	// overtakes. P5 held and flushed before the DISCONNECT.
	want := []string{"ping", "P2", "P1", "P4", "P3", "P5", "disc"}
	if got := names(sk.get()); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st.reordered.Load() != 2 {
		t.Fatalf("reordered %d, want 2", st.reordered.Load())
	}
}

func TestShaperDuplicateSetsDUP(t *testing.T) {
	s, sk, st := newTestShaper(1, Faults{Duplicate: 1}, clock.Real{})
	qos0 := []byte{0x30, 3, 0, 1, 't'}
	feed(t, s, publish(1), qos0, pingreq)
	got := sk.get()
	if len(got) != 5 || !bytes.Equal(got[0], publish(1)) || got[1][0] != 0x3a || !bytes.Equal(got[1][1:], publish(1)[1:]) ||
		!bytes.Equal(got[2], qos0) || !bytes.Equal(got[3], qos0) || !bytes.Equal(got[4], pingreq) {
		t.Fatalf("got %q", got)
	}
	if st.duplicated.Load() != 2 {
		t.Fatalf("duplicated %d", st.duplicated.Load())
	}
}

func TestShaperHoldExpires(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	s, sk, st := newTestShaper(1, Faults{Reorder: 1}, clk)
	feed(t, s, publish(1))
	clk.Advance(time.Second - time.Millisecond)
	// The fake clock fires a due timer in Advance itself: the hold timer
	// still pending means it was not armed for less than HoldMax.
	if n := clk.Pending(); n != 1 {
		t.Fatalf("%d timers pending before HoldMax, want the hold timer", n)
	}
	if n := len(sk.get()); n != 0 {
		t.Fatalf("%d packets sent before HoldMax", n)
	}
	clk.Advance(time.Millisecond)
	testkit.Eventually(t, 10*time.Second, "the held packet to be sent after HoldMax", func() bool { return len(sk.get()) > 0 })
	if got := names(sk.get()); !slices.Equal(got, []string{"P1"}) || st.holdExpiry.Load() != 1 || st.reordered.Load() != 0 {
		t.Fatalf("got %v, stats %+v", got, st.snapshot())
	}
	// The next PUBLISH is held again, and the one after overtakes it.
	feed(t, s, publish(2), publish(3))
	if got := names(sk.get()); !slices.Equal(got, []string{"P1", "P3", "P2"}) {
		t.Fatalf("got %v", got)
	}
}

func TestShaperDropCutsAndLosesHeld(t *testing.T) {
	s, sk, st := newTestShaper(1, Faults{Drop: 1, Reorder: 1}, clock.NewFake(time.Unix(0, 0)))
	feed(t, s, connect) // CONNECT is never dropped
	if cut, err := s.packet(pingreq); !cut || err != nil {
		t.Fatalf("cut %v err %v", cut, err)
	}
	if got := names(sk.get()); len(got) != 1 || st.cuts.Load() != 1 {
		t.Fatalf("got %v, stats %+v", got, st.snapshot())
	}
	// With only reordering, a cut during a hold loses the held packet.
	s2, sk2, _ := newTestShaper(1, Faults{Reorder: 1}, clock.NewFake(time.Unix(0, 0)))
	feed(t, s2, publish(1))
	s2.faults = func() Faults { return Faults{Drop: 1} }
	if cut, _ := s2.packet(publish(2)); !cut {
		t.Fatal("not cut")
	}
	s2.stop()
	if err := s2.flush(); err != nil || len(sk2.get()) != 0 {
		t.Fatalf("after the cut: %v, sent %v", err, names(sk2.get()))
	}
}

func TestShaperStopsWritingAfterAnError(t *testing.T) {
	var st dirCounters
	calls := 0
	boom := errors.New("boom")
	s := newShaper(Down, 1, 0, time.Second, clock.Real{}, &st, func() Faults { return Faults{Duplicate: 1} },
		func([]byte) error { calls++; return boom })
	if _, err := s.packet(publish(1)); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := s.packet(publish(2)); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d writes", err, calls)
	}
}

// run feeds a fixed mixed sequence through a shaper with every fault at 30%
// and returns what came out.
func run(t *testing.T, seed uint64) []string {
	s, sk, _ := newTestShaper(seed, Faults{Duplicate: 0.3, Reorder: 0.3}, clock.NewFake(time.Unix(0, 0)))
	for i := range 300 {
		feed(t, s, publish(uint16(i)))
		if i%7 == 0 {
			feed(t, s, pingreq)
		}
	}
	s.stop()
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	return names(sk.get())
}

func TestShaperDeterministicPerSeed(t *testing.T) {
	a, b, c := run(t, 42), run(t, 42), run(t, 43)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different faults")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same faults")
	}
	// Nothing lost: every PUBLISH comes out once as an original, and
	// each copy is marked DUP and follows an original of the same packet.
	originals := map[string]int{}
	dups := 0
	for i, n := range a {
		if n[len(n)-1] == 'd' {
			dups++
			if i == 0 || a[i-1]+"d" != n {
				t.Fatalf("copy %s at %d does not follow its original (%v)", n, i, a[max(0, i-3):i+1])
			}
			continue
		}
		originals[n]++
	}
	for i := range 300 {
		if n := originals[fmt.Sprintf("P%d", i)]; n != 1 {
			t.Fatalf("P%d came out %d times", i, n)
		}
	}
	if dups < 50 || dups > 130 {
		t.Fatalf("%d duplicates of 300 at 30%%", dups)
	}
	// Reordered: the originals do not come out in sequence.
	var seq []int
	for _, n := range a {
		var i int
		if _, err := fmt.Sscanf(n, "P%d", &i); err == nil && n[len(n)-1] != 'd' {
			seq = append(seq, i)
		}
	}
	if slices.IsSorted(seq) {
		t.Fatal("nothing reordered")
	}
}
