package syncclient_test

import (
	"testing"
	"time"
)

// drain10k queues 10,000 events, then starts the client and measures the
// time until central has acknowledged all of them.
func drain10k(tb testing.TB) time.Duration {
	h := newHarness(tb)
	h.startIngest()
	st := h.openStore()
	for i := 0; i < 10; i++ {
		appendN(tb, st, 1000)
	}
	cfg := h.config()
	cfg.BatchSize, cfg.MaxInFlight = 0, 0 // the defaults
	start := time.Now()
	stop := h.startClient(st, cfg)
	h.waitDelivered(st, 10000)
	d := time.Since(start)
	stop()
	h.checkCentral(10000)
	return d
}

// TestDrain10k measures the sync target (10,000 queued events drained to
// central within 2 s of connecting) with the default batch and window.
func TestDrain10k(t *testing.T) {
	d := drain10k(t)
	t.Logf("10,000 queued events drained and acknowledged in %v (target 2s)", d)
	if d > 20*time.Second {
		t.Fatalf("drain took %v", d)
	}
}

func BenchmarkDrain10k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d := drain10k(b)
		b.ReportMetric(float64(10000)/d.Seconds(), "events/s")
	}
}
