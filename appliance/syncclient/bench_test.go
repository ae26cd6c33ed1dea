package syncclient_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest"
)

// drain10k queues 10,000 events, then starts the client and measures the
// time until central has acknowledged all of them. With signed, batches are
// signed by the appliance and verified by central.
func drain10k(tb testing.TB, signed bool) time.Duration {
	h := newHarness(tb)
	var key ed25519.PrivateKey
	if signed {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			tb.Fatal(err)
		}
		key = priv
		h.ingestMod = func(c *ingest.Config) {
			c.ApplianceKeys = func(id string) (ed25519.PublicKey, bool) { return pub, id == appID }
		}
	}
	h.startIngest()
	st := h.openStore()
	for i := 0; i < 10; i++ {
		appendN(tb, st, 1000)
	}
	cfg := h.config()
	cfg.BatchSize, cfg.MaxInFlight = 0, 0 // the defaults
	cfg.SigningKey = key
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
	for _, signed := range []bool{false, true} {
		d := drain10k(t, signed)
		t.Logf("10,000 queued events drained and acknowledged in %v (signed batches: %v; target 2s)", d, signed)
		if d > 20*time.Second {
			t.Fatalf("drain took %v", d)
		}
	}
}

func BenchmarkDrain10k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d := drain10k(b, false)
		b.ReportMetric(float64(10000)/d.Seconds(), "events/s")
	}
}

// BenchmarkDrain10kSigned is BenchmarkDrain10k with batches signed by the
// appliance and verified by central.
func BenchmarkDrain10kSigned(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d := drain10k(b, true)
		b.ReportMetric(float64(10000)/d.Seconds(), "events/s")
	}
}
