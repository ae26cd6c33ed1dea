package ingest_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestNotEnrolledRefused: with Config.Enrolled, the messages of an
// appliance that is not enrolled are neither stored nor acknowledged, and
// raise AlarmUnknownAppliance; once enrolled, its batches go through.
func TestNotEnrolledRefused(t *testing.T) {
	var enrolled atomic.Bool
	var mu sync.Mutex
	var alarms []string
	e := setupCfg(t, nil, func(c *ingest.Config) {
		c.Enrolled = func(_ context.Context, id string) (bool, error) { return id == "blk-a" && enrolled.Load(), nil }
		c.OnAlarm = func(id, code, source, _ string) {
			mu.Lock()
			defer mu.Unlock()
			alarms = append(alarms, id+" "+code+" "+source)
		}
	})
	evs := events("blk-a", 1, 3, "")
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[:2]})
	e.publish(t, wire.TopicPolicyRequest("blk-a"), map[string]any{"v": 1, "appliance_id": "blk-a"})
	testkit.Eventually(t, wait, "unknown_appliance alarm raised", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(alarms) > 0
	})
	mu.Lock()
	if alarms[0] != "blk-a "+ingest.AlarmUnknownAppliance+" enrolment" {
		t.Fatalf("alarm %q", alarms[0])
	}
	mu.Unlock()
	if n := e.st.Count("blk-a"); n != 0 {
		t.Fatalf("%d events of an appliance not enrolled stored", n)
	}
	enrolled.Store(true)
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs})
	if got := e.nextAck(t); got != 3 {
		t.Fatalf("ack %d once enrolled, want 3 (the refused batch must not have been acknowledged)", got)
	}
}
