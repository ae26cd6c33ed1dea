package sync_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// published counts what the appliance publishes on its events topic, as a
// subscriber beside central sees it: what the broker has to carry (and,
// while central is away, to queue for it).
type published struct {
	mu      sync.Mutex
	batches int
	events  int
}

func (h *harness) countPublished() *published {
	h.t.Helper()
	p := &published{}
	c := h.centralClient()
	tok := c.Subscribe(wire.TopicEvents(appID), 1, func(_ mqtt.Client, m mqtt.Message) {
		var b wire.Batch
		if err := json.Unmarshal(m.Payload(), &b); err != nil {
			h.t.Errorf("batch: %v", err)
			return
		}
		p.mu.Lock()
		p.batches++
		p.events += len(b.Events)
		p.mu.Unlock()
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		h.t.Fatalf("subscribe: %v", tok.Error())
	}
	return p
}

func (p *published) get() (batches, events int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.batches, p.events
}

// TestCentralAwayBrokerUpCostsTheBrokerLittle: central's ingest is away
// for three simulated days while the broker stays up and keeps central's
// persistent session, so everything the appliance publishes is queued for
// central. The client used to resend its whole window (here 4 x 50 events)
// at every ack timeout; it now probes with one event, waiting twice as
// long each time up to MaxProbeInterval. When central is back the backlog
// drains exactly once.
func TestCentralAwayBrokerUpCostsTheBrokerLittle(t *testing.T) {
	h := newHarness(t)
	h.fake.SetPolicy(&wire.Policy{V: wire.ProtocolVersion, ApplianceID: appID, Block: "A", Version: 1})
	stopIngest := h.startIngest() // central's session exists from now on
	stopIngest()
	pub := h.countPublished()

	st := h.openStore()
	const n = 300
	appendN(t, st, n)
	cfg := h.config()
	cfg.AckTimeout = 30 * time.Second
	cfg.MaxProbeInterval = 5 * time.Minute
	stopClient := h.startClient(st, cfg)
	testkit.Eventually(t, patience, "the first window to be published", func() bool { _, e := pub.get(); return e >= cfg.MaxInFlight*cfg.BatchSize })
	first, firstEvents := pub.get()

	// Three days in steps of 5 minutes: each step lets at least one ack
	// timeout fire.
	const steps = 3 * 24 * 12
	for range steps {
		h.clk.Advance(5 * time.Minute)
		time.Sleep(2 * time.Millisecond) // pacing on purpose: let the client take the timeout (a slow client only publishes less)
	}
	testkit.Eventually(t, patience, "the client to settle", func() bool {
		b1, _ := pub.get()
		time.Sleep(50 * time.Millisecond) // real time on purpose: settled means nothing published for a while
		b2, _ := pub.get()
		return b1 == b2
	})
	batches, events := pub.get()
	t.Logf("3 days with central away: %d batches (%d events) published for %d events waiting; the first window was %d batches", batches, events, n, first)
	// At most one probe per step, of one event each.
	if batches-first > steps || events-firstEvents > steps {
		t.Fatalf("during the outage the client published %d more batches (%d events) in %d steps: at most one one-event probe per step", batches-first, events-firstEvents, steps)
	}
	if acked, _ := st.Acked(); acked != 0 {
		t.Fatalf("acked %d with central away", acked)
	}

	// Central is back: the broker hands it the queue, it acknowledges,
	// and the window opens again.
	h.startIngest()
	// n events and the status event of the policy central publishes.
	h.waitDelivered(st, n+1)
	h.checkCentral(n + 1)
	stopClient() // before the store's check: no write may run beside it
	h.closeStore(st)
}

// TestResendAskedWhenIngestSubscribes: the appliance publishes while no
// ingest listens and central has no session at the broker (a restarted
// embedded broker keeps none), so the broker drops the batches. When ingest
// subscribes it asks every appliance to resend (wire.Ack with Resend), and
// the backlog arrives at once: the fake clock never reaches the ack
// timeout, which was the only way out before.
func TestResendAskedWhenIngestSubscribes(t *testing.T) {
	h := newHarness(t)
	h.fake.SetPolicy(&wire.Policy{V: wire.ProtocolVersion, ApplianceID: appID, Block: "A", Version: 1})
	pub := h.countPublished()
	st := h.openStore()
	const n = 120
	appendN(t, st, n)
	cfg := h.config() // AckTimeout an hour of the fake clock, never advanced
	stopClient := h.startClient(st, cfg)
	testkit.Eventually(t, patience, "the batches to be published to nobody", func() bool { _, e := pub.get(); return e >= n })

	h.startIngest()
	// n events and the status event of the policy central publishes.
	h.waitDelivered(st, n+1)
	h.checkCentral(n + 1)
	if now := h.clk.Now(); !now.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("the fake clock moved to %v", now)
	}
	stopClient()
	h.closeStore(st)
}
