package media

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// mediaTotals are the counts of closed sessions (under Manager.mu).
type mediaTotals struct {
	received, relayed, lost, dropped uint64
	recordingBytes                   uint64
}

// add counts one leg's stats.
func (t *mediaTotals) add(st LegStats) {
	t.received += st.Packets
	t.relayed += st.Sent
	t.lost += st.Lost
	t.dropped += st.Dropped
}

// retire moves a closed session's counts from the live ones to the
// totals, and observes its legs' jitter.
func (m *Manager) retire(s *Session, legs [2]LegStats, recBytes int64) {
	m.mu.Lock()
	delete(m.sessions, s)
	for _, st := range legs {
		m.totals.add(st)
	}
	if recBytes > 0 {
		m.totals.recordingBytes += uint64(recBytes)
	}
	jitter := m.jitter
	m.mu.Unlock()
	if jitter == nil {
		return
	}
	for _, st := range legs {
		if st.JitterOK {
			jitter.Observe(st.Jitter.Seconds())
		}
	}
}

// mediaCollector exports the relay's counters at each scrape: those of
// closed sessions plus those of the sessions up.
type mediaCollector struct {
	m                                          *Manager
	received, relayed, lost, dropped, recBytes *prometheus.Desc
	sessions                                   *prometheus.Desc
}

// RegisterMetrics registers the media relay's metrics on reg: RTP
// packets received, relayed, lost (from sequence numbers) and dropped,
// recording bytes written (plaintext, counted when a recording is
// finished), sessions up, and a histogram of each leg's interarrival
// jitter at the end of its call.
func (m *Manager) RegisterMetrics(reg prometheus.Registerer) error {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	c := &mediaCollector{m: m,
		received: d("kinline_appliance_rtp_packets_received_total", "Valid RTP packets received on call legs."),
		relayed:  d("kinline_appliance_rtp_packets_relayed_total", "RTP packets relayed to the other leg of a call."),
		lost:     d("kinline_appliance_rtp_packets_lost_total", "RTP packets the peers sent that never arrived (from sequence numbers, RFC 3550)."),
		dropped:  d("kinline_appliance_rtp_packets_dropped_total", "Datagrams dropped on RTP sockets: not RTP, RTCP, from the wrong source, too big."),
		recBytes: d("kinline_appliance_recording_bytes_total", "Bytes of recordings written (plaintext), counted when each recording is finished."),
		sessions: d("kinline_appliance_media_sessions", "Media sessions (calls with RTP sockets) open."),
	}
	jitter := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kinline_appliance_rtp_jitter_seconds",
		Help:    "Interarrival jitter (RFC 3550) of each call leg's audio at the end of the call.",
		Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2},
	})
	for _, col := range []prometheus.Collector{c, jitter} {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("media: metrics: %w", err)
		}
	}
	m.mu.Lock()
	m.jitter = jitter
	m.mu.Unlock()
	return nil
}

func (c *mediaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.received, c.relayed, c.lost, c.dropped, c.recBytes, c.sessions} {
		ch <- d
	}
}

func (c *mediaCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	t := m.totals
	live := make([]*Session, 0, len(m.sessions))
	for s := range m.sessions {
		live = append(live, s)
	}
	active := m.active
	// Live sessions are read under m.mu so that none moves to the
	// totals in between (counted twice or not at all).
	for _, s := range live {
		s.mu.Lock()
		t.add(s.legs[LegA].statsLocked())
		t.add(s.legs[LegB].statsLocked())
		s.mu.Unlock()
	}
	m.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.received, t.received)
	counter(c.relayed, t.relayed)
	counter(c.lost, t.lost)
	counter(c.dropped, t.dropped)
	counter(c.recBytes, t.recordingBytes)
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(active))
}
