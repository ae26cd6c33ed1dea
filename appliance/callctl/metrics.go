package callctl

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector exports the SIP server's load and its trunks, read at
// each scrape.
type metricsCollector struct {
	s                   *Server
	transactions, shed  *prometheus.Desc
	trunkUp, trunkCalls *prometheus.Desc
	activeD             *prometheus.Desc
}

// RegisterMetrics registers on reg: SIP transactions in flight, requests
// shed with 503 for overload, calls in progress on the SIP side, and each
// trunk's state (up by its keep-alives) and calls.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	c := &metricsCollector{s: s,
		transactions: prometheus.NewDesc("kinline_appliance_sip_transactions", "SIP server transactions in flight.", nil, nil),
		shed:         prometheus.NewDesc("kinline_appliance_sip_requests_shed_total", "SIP requests answered 503 with Retry-After for overload.", nil, nil),
		trunkUp:      prometheus.NewDesc("kinline_appliance_trunk_up", "1 while the trunk is up (its OPTIONS keep-alives answered), else 0.", []string{"trunk"}, nil),
		trunkCalls:   prometheus.NewDesc("kinline_appliance_trunk_calls", "Calls in progress on the trunk (ringing or answered).", []string{"trunk"}, nil),
		activeD:      prometheus.NewDesc("kinline_appliance_sip_calls", "Calls in progress on the SIP side, from the INVITE to the end.", nil, nil),
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("callctl: metrics: %w", err)
	}
	return nil
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.transactions, c.shed, c.trunkUp, c.trunkCalls, c.activeD} {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	load := c.s.Load()
	ch <- prometheus.MustNewConstMetric(c.transactions, prometheus.GaugeValue, float64(load.Transactions))
	ch <- prometheus.MustNewConstMetric(c.shed, prometheus.CounterValue, float64(load.Shed))
	ch <- prometheus.MustNewConstMetric(c.activeD, prometheus.GaugeValue, float64(len(c.s.ActiveCalls())))
	for _, t := range c.s.TrunkStatus() {
		up := 0.0
		if t.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.trunkUp, prometheus.GaugeValue, up, t.Name)
		ch <- prometheus.MustNewConstMetric(c.trunkCalls, prometheus.GaugeValue, float64(t.Active), t.Name)
	}
}
