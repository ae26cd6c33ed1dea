package diskwatch

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics registers the recordings disk's free and total bytes
// and level (0 ok, 1 low, 2 full) as of the last check.
func (g *Guard) RegisterMetrics(reg prometheus.Registerer) error {
	gauge := func(name, help string, f func(State) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(g.State()) })
	}
	for _, c := range []prometheus.Collector{
		gauge("kinline_appliance_recordings_disk_free_bytes", "Bytes free for recordings on their file system, as of the last check.",
			func(s State) float64 { return float64(s.Usage.Free) }),
		gauge("kinline_appliance_recordings_disk_total_bytes", "Size of the recordings' file system, as of the last check.",
			func(s State) float64 { return float64(s.Usage.Total) }),
		gauge("kinline_appliance_recordings_disk_level", "The recordings disk's level: 0 ok, 1 low (alarm disk_low), 2 full (alarm disk_full: recorded calls refused).",
			func(s State) float64 { return float64(s.Level) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("diskwatch: metrics: %w", err)
		}
	}
	return nil
}
