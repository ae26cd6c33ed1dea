package sync_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestSnapshotAskedAgainWhileBehind: deltas arrive out of order (as
// through the reordering proxy of hil-tests' TestFaultProxyDuplicatesReorders,
// which found this): at version 3 the appliance gets the delta 4->5, asks
// for a snapshot, then applies 3->4. Central ignores both requests (it
// answers at most one per appliance every ingest.SnapshotRequestInterval)
// and publishes nothing more. The appliance, still short of version 5,
// asks again once PolicyRequestInterval has passed, and stops asking once
// the snapshot brings it to version 5.
func TestSnapshotAskedAgainWhileBehind(t *testing.T) {
	h := newHarness(t)
	st := h.openStore()
	h.startClient(st, h.config()) // PolicyRequestInterval: the default
	interval := syncclient.DefaultPolicyRequestInterval
	central := h.centralClient()
	var mu sync.Mutex
	var requests []wire.PolicyRequest
	tok := central.Subscribe(wire.TopicPolicyRequest(appID), 1, func(_ mqtt.Client, m mqtt.Message) {
		r, err := wire.DecodePolicyRequest(m.Payload(), appID)
		if err != nil {
			t.Errorf("policy request: %v", err)
			return
		}
		mu.Lock()
		requests = append(requests, *r)
		mu.Unlock()
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("subscribe", tok.Error())
	}
	got := func() []wire.PolicyRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]wire.PolicyRequest(nil), requests...)
	}
	send := func(topic string, v any) {
		t.Helper()
		data, _ := json.Marshal(v)
		if tok := central.Publish(topic, 1, false, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatal("publish", tok.Error())
		}
	}
	delta := func(from, to uint64) *wire.PolicyDelta {
		d, err := wire.DiffPolicy(deltaPol(from), deltaPol(to))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The client subscribes after connecting: resend the snapshot until
	// it is applied.
	testkit.Eventually(t, patience, "the snapshot of version 3 to be applied", func() bool {
		send(wire.TopicPolicy(appID), deltaPol(3))
		select {
		case v := <-h.polCh:
			return v == 3
		case <-time.After(500 * time.Millisecond):
			return false
		}
	})

	send(wire.TopicPolicyDelta(appID), delta(4, 5))
	testkit.Eventually(t, patience, "the first snapshot request", func() bool { return len(got()) == 1 })
	send(wire.TopicPolicyDelta(appID), delta(3, 4))
	h.waitPolicy(4)
	if r := got(); len(r) != 1 || r[0].Have != 3 {
		t.Fatalf("requests %+v, want one from version 3", r)
	}

	// Nothing more comes from central. Within the interval the client
	// does not ask again; after it, it does, from version 4.
	h.clk.Advance(interval - time.Second)
	time.Sleep(300 * time.Millisecond) // real time on purpose: a grace period for a wrongly early request
	if r := got(); len(r) != 1 {
		t.Fatalf("asked again before PolicyRequestInterval: %+v", r)
	}
	h.clk.Advance(time.Second)
	testkit.Eventually(t, patience, "the snapshot to be asked for again", func() bool { return len(got()) == 2 })
	if r := got()[1]; r.Have != 4 || !strings.Contains(r.Reason, "still behind") {
		t.Fatalf("second request %+v, want from version 4, still behind", r)
	}

	// Central's snapshot of version 5 arrives; the client stops asking.
	send(wire.TopicPolicy(appID), deltaPol(5))
	h.waitPolicy(5)
	h.clk.Advance(3 * interval)
	time.Sleep(300 * time.Millisecond) // real time on purpose: a grace period for a wrong further request
	if r := got(); len(r) != 2 {
		t.Fatalf("still asking after reaching version 5: %+v", r)
	}
	if p, err := st.Policy(); err != nil || p.Version != 5 {
		t.Fatalf("stored policy %+v, %v", p, err)
	}
}
