package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// The outbox's depth and the age of its oldest event, as a scrape sees
// them: growing with appends and time, back to 0 when central acks.
func TestOutboxMetrics(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{ApplianceID: "blk-a", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	check := func(depth, age float64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
		if got["kinline_appliance_outbox_events"] != depth || got["kinline_appliance_outbox_oldest_age_seconds"] != age {
			t.Fatalf("outbox metrics %v, want depth %v age %v", got, depth, age)
		}
	}
	check(0, 0)
	for range 3 {
		if _, err := s.Append(wire.EventCardTap, wire.CardTap{Reader: "r", UID: "u"}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	check(3, 180)
	if _, err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	check(1, 60)
	if _, err := s.Ack(3); err != nil {
		t.Fatal(err)
	}
	check(0, 0)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 2 {
		t.Fatalf("%d metrics, %v", n, err)
	}
}
