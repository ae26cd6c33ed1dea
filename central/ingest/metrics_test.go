package ingest_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// metric returns the value of the series of name whose labels (if any)
// are labels, -1 when there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestMetricsCountBatchesByOutcome: every way a batch is refused is
// counted under its own bounded reason, accepted batches and their events
// are counted, a store failure is a refusal the appliance will resend, and
// a verified recording adds its bytes.
func TestMetricsCountBatchesByOutcome(t *testing.T) {
	pubA, privA := key(1)
	reg := prometheus.NewRegistry()
	e := setupCfg(t, func(s *ingesttest.Store) { s.FailNext(1) }, func(c *ingest.Config) {
		c.Registerer = reg
		c.ApplianceKeys = func(id string) (ed25519.PublicKey, bool) { return pubA, id == "blk-a" }
	})
	if metric(t, reg, "kinline_central_mqtt_connected") != 1 {
		t.Fatal("not connected once ready")
	}
	for _, r := range []string{"signature", "wrong_topic", "invalid", "store_error"} {
		if v := metric(t, reg, "kinline_central_ingest_batches_refused_total", "reason", r); v != 0 {
			t.Fatalf("reason %s exported as %v before any refusal, want 0", r, v)
		}
	}
	evs := events("blk-a", 1, 3, "")
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs}) // unsigned
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privA, events("blk-b", 1, 2, "")))         // another's, on blk-a's topic
	if tok := e.app.Publish(wire.TopicEvents("blk-a"), 1, false, []byte("{not json")); !tok.WaitTimeout(wait) {
		t.Fatal("publish")
	}
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privA, evs)) // the store fails it
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privA, evs)) // stored
	if got := e.nextAck(t); got != 3 {
		t.Fatalf("ack %d", got)
	}
	testkit.Eventually(t, wait, "every batch counted", func() bool {
		return metric(t, reg, "kinline_central_ingest_batches_received_total") == 5
	})
	for r, want := range map[string]float64{"signature": 1, "wrong_topic": 1, "invalid": 1, "store_error": 1} {
		if v := metric(t, reg, "kinline_central_ingest_batches_refused_total", "reason", r); v != want {
			t.Errorf("refused %s = %v, want %v", r, v, want)
		}
	}
	if v := metric(t, reg, "kinline_central_ingest_events_received_total"); v != 6 {
		t.Errorf("events received %v, want 6 (the signed batch twice)", v)
	}

	data := []byte("RIFF....WAVEfmt recording bytes")
	sum := sha256.Sum256(data)
	ref := wire.RecordingRef{ID: "call-1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Format: "wav/pcmu-stereo"}
	e.publish(t, wire.TopicRecordings("blk-a"), wire.RecordingUpload{V: 1, ApplianceID: "blk-a", CallID: "call-1", Ref: ref, Data: data})
	e.next(t, wire.TopicRecordingAck("blk-a"))
	if v := metric(t, reg, "kinline_central_recording_received_bytes_total"); v != float64(len(data)) {
		t.Errorf("recording bytes %v, want %d", v, len(data))
	}
	e.b.Close()
	testkit.Eventually(t, wait, "the broker's loss seen", func() bool {
		return metric(t, reg, "kinline_central_mqtt_connected") == 0 && metric(t, reg, "kinline_central_mqtt_connections_lost_total") == 1
	})
}
