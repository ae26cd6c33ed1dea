package sync_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// windowCentral plays central on the broker: it records every batch the
// appliance publishes and acknowledges only when the test says so, keeping
// track of the most batches ever outstanding (published, not covered by an
// ack sent).
type windowCentral struct {
	t      *testing.T
	client mqtt.Client

	mu          sync.Mutex
	batches     [][2]uint64 // first and last seq of each batch, in arrival order
	acked       uint64      // the last ack sent
	maxOutstand int
	bad         []string
}

func newWindowCentral(h *harness) *windowCentral {
	h.t.Helper()
	w := &windowCentral{t: h.t.(*testing.T), client: h.centralClient()}
	tok := w.client.Subscribe(wire.TopicEvents(appID), 1, func(_ mqtt.Client, m mqtt.Message) {
		var b wire.Batch
		if err := json.Unmarshal(m.Payload(), &b); err != nil || len(b.Events) == 0 {
			w.mu.Lock()
			w.bad = append(w.bad, fmt.Sprintf("undecodable batch: %v", err))
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		first, last := b.Events[0].Seq, b.Events[len(b.Events)-1].Seq
		if n := len(w.batches); n > 0 && first != w.batches[n-1][1]+1 {
			w.bad = append(w.bad, fmt.Sprintf("batch %d..%d after %d..%d", first, last, w.batches[n-1][0], w.batches[n-1][1]))
		}
		w.batches = append(w.batches, [2]uint64{first, last})
		w.maxOutstand = max(w.maxOutstand, w.outstandingLocked())
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		h.t.Fatal("subscribe", tok.Error())
	}
	return w
}

func (w *windowCentral) outstandingLocked() int {
	n := 0
	for _, b := range w.batches {
		if b[1] > w.acked {
			n++
		}
	}
	return n
}

// state returns the batches received, how many are outstanding and the
// most ever outstanding.
func (w *windowCentral) state() (batches [][2]uint64, outstanding, most int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		w.t.Fatalf("central saw: %v", w.bad)
	}
	return append([][2]uint64(nil), w.batches...), w.outstandingLocked(), w.maxOutstand
}

// oldestOutstanding is the last seq of the oldest batch not acknowledged
// (0: none).
func (w *windowCentral) oldestOutstanding() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.batches {
		if b[1] > w.acked {
			return b[1]
		}
	}
	return 0
}

// ack acknowledges every event up to upTo.
func (w *windowCentral) ack(upTo uint64) {
	w.t.Helper()
	w.mu.Lock()
	w.acked = max(w.acked, upTo)
	w.mu.Unlock()
	data, _ := json.Marshal(wire.Ack{V: wire.ProtocolVersion, ApplianceID: appID, UpTo: upTo})
	if tok := w.client.Publish(wire.TopicAck(appID), 1, false, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
		w.t.Fatal("publish ack", tok.Error())
	}
}

// waitBatches waits until n batches have arrived, then checks for a while
// that no more come.
func (w *windowCentral) waitBatches(n int) [][2]uint64 {
	w.t.Helper()
	testkit.Eventually(w.t, patience, fmt.Sprintf("%d batches", n), func() bool { b, _, _ := w.state(); return len(b) >= n })
	time.Sleep(300 * time.Millisecond) // real time on purpose: a client ignoring the window would publish on now
	b, _, _ := w.state()
	if len(b) != n {
		w.t.Fatalf("%d batches published, want %d: %v", len(b), n, b)
	}
	return b
}

// TestInFlightWindowHolds: with MaxInFlight 3 and a central that withholds
// its acks, the client publishes three batches and then waits (no ack
// timeout in simulated time); each ack frees exactly the window it covers,
// a partial ack of a batch frees nothing for that batch; and while central
// acknowledges one batch at a time, slowly, through a backlog of 40
// batches, never more than three are outstanding, each batch follows the
// last, and everything arrives.
func TestInFlightWindowHolds(t *testing.T) {
	const batch, window, total = 10, 3, 400
	h := newHarness(t)
	w := newWindowCentral(h)
	st := h.openStore()
	appendN(t, st, total)
	cfg := h.config()
	cfg.BatchSize, cfg.MaxInFlight = batch, window // AckTimeout: an hour of the fake clock, never advanced
	h.startClient(st, cfg)

	if b := w.waitBatches(window); b[0] != [2]uint64{1, 10} || b[2] != [2]uint64{21, 30} {
		t.Fatalf("first batches %v", b)
	}
	// An ack of the first batch frees one slot.
	w.ack(10)
	if b := w.waitBatches(window + 1); b[3] != [2]uint64{31, 40} {
		t.Fatalf("batch after the first ack: %v", b[3])
	}
	// 25 covers batch 11..20 and half of 21..30: one slot again.
	w.ack(25)
	if b := w.waitBatches(window + 2); b[4] != [2]uint64{41, 50} {
		t.Fatalf("batch after the partial ack: %v", b[4])
	}
	if _, out, _ := w.state(); out != window {
		t.Fatalf("%d batches outstanding, want %d", out, window)
	}
	// A duplicate of an old ack frees nothing.
	w.ack(25)
	w.waitBatches(window + 2)

	// Central acknowledges the oldest outstanding batch every few
	// milliseconds until the backlog is drained.
	testkit.Eventually(t, patience, "the backlog to drain", func() bool {
		next := w.oldestOutstanding()
		if b, _, _ := w.state(); next == 0 && b[len(b)-1][1] == total {
			return true
		}
		if next != 0 {
			w.ack(next)
		}
		return false
	})
	h.waitAcked(st, total)
	b, out, most := w.state()
	if most != window || out != 0 || len(b) != total/batch {
		t.Fatalf("at most %d batches outstanding (want %d), %d at the end, %d batches (want %d)", most, window, out, len(b), total/batch)
	}
}
