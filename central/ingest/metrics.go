package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Refusal reasons of the kinline_central_ingest_batches_refused_total
// counter: a bounded set.
const (
	refusedSignature  = "signature"   // unsigned, badly signed, or no key known
	refusedWrongTopic = "wrong_topic" // names another appliance than its topic's
	refusedInvalid    = "invalid"     // does not decode or validate
	refusedStore      = "store_error" // the store failed: the appliance resends
)

// metrics are ingest's Prometheus metrics (Config.Registerer).
type metrics struct {
	batches        prometheus.Counter
	events         prometheus.Counter
	refused        *prometheus.CounterVec
	recordingBytes prometheus.Counter
	recordings     prometheus.Counter
	lost           prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_central_ingest_batches_received_total",
			Help: "Event batches received from appliances (refused ones included)."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_central_ingest_events_received_total",
			Help: "Events in the batches that decoded (resent ones included)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kinline_central_ingest_batches_refused_total",
			Help: "Event batches not stored nor acknowledged, by reason (signature, wrong_topic, invalid, store_error)."}, []string{"reason"}),
		recordingBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_central_recording_received_bytes_total",
			Help: "Bytes of recordings received, verified and stored (whole or chunked uploads)."}),
		recordings: prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_central_recordings_received_total",
			Help: "Recordings received, verified and stored."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_central_mqtt_connections_lost_total",
			Help: "Times central's ingest client lost its broker connection."}),
	}
	for _, r := range []string{refusedSignature, refusedWrongTopic, refusedInvalid, refusedStore} {
		m.refused.WithLabelValues(r) // every reason is exported from the start, at 0
	}
	if reg == nil {
		return m, nil
	}
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kinline_central_mqtt_connected",
		Help: "1 while central's ingest client is connected to the broker, else 0."}, func() float64 {
		if s.Connected() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.batches, m.events, m.refused, m.recordingBytes, m.recordings, m.lost, connected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Connected reports whether the ingest client is connected to the broker
// now (central's readiness and the kinline_central_mqtt_connected gauge).
func (s *Service) Connected() bool {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	return c != nil && c.IsConnectionOpen()
}
