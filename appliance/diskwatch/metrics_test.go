package diskwatch

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The disk's metrics follow the last check: free, total and the level.
func TestDiskMetrics(t *testing.T) {
	g, fs, _, _ := newGuard(t)
	reg := prometheus.NewRegistry()
	if err := g.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			out[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
		return out
	}
	for _, c := range []struct {
		free  uint64
		level float64
	}{{50 * gib, 0}, {5 * gib, 1}, {gib / 2, 2}, {50 * gib, 0}} {
		fs.Set(100*gib, c.free)
		check(t, g)
		m := read()
		if m["kinline_appliance_recordings_disk_free_bytes"] != float64(c.free) || m["kinline_appliance_recordings_disk_total_bytes"] != 100*gib ||
			m["kinline_appliance_recordings_disk_level"] != c.level {
			t.Fatalf("free %d: metrics %v, want level %v", c.free, m, c.level)
		}
	}
}
