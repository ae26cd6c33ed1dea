package syncclient

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// syncMetrics are the client's metrics; a nil *syncMetrics records
// nothing.
type syncMetrics struct {
	connected prometheus.Gauge
	failures  *prometheus.CounterVec
}

// newMetrics registers the client's metrics on reg (nil: none).
func (c *Client) newMetrics(reg prometheus.Registerer) (*syncMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &syncMetrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinline_appliance_mqtt_connected",
			Help: "1 while the appliance is connected to the broker (and subscribed), else 0.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinline_appliance_mqtt_connection_failures_total",
			Help: "Failed attempts to connect to the broker, by cause.",
		}, []string{"cause"}),
	}
	for _, cause := range Causes {
		m.failures.WithLabelValues(string(cause)) // every cause exported from the start
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kinline_appliance_sync_lag_seconds",
		Help: "How long events have waited in the outbox with no acknowledgement from central making progress (0 when the outbox is empty).",
	}, c.lag)
	for _, col := range []prometheus.Collector{m.connected, m.failures, lag} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("%w: metrics: %w", ErrConfig, err)
		}
	}
	return m, nil
}

func (m *syncMetrics) failure(cause Cause) {
	if m != nil {
		m.failures.WithLabelValues(string(cause)).Inc()
	}
}

func (m *syncMetrics) setConnected(up bool) {
	if m == nil {
		return
	}
	if up {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

// progressClock holds when central's acknowledgements last made progress
// (unix nanoseconds), read by the lag metric from another goroutine.
type progressClock struct{ at atomic.Int64 }

func (p *progressClock) mark(t time.Time) { p.at.Store(t.UnixNano()) }

func (p *progressClock) get() time.Time { return time.Unix(0, p.at.Load()) }

// lag is the sync lag: the time since central's acknowledgements last made
// progress, or since the oldest event waiting was appended if that is
// later; 0 when nothing waits.
func (c *Client) lag() float64 {
	n, oldest, err := c.deps.Store.Outbox()
	if err != nil || n == 0 {
		return 0
	}
	from := c.progress.get()
	if oldest.After(from) {
		from = oldest
	}
	return max(0, c.clk.Now().Sub(from).Seconds())
}
