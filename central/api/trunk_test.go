package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// TestCallTrunkInAPI: the trunk a call record names is in the call's API
// response, and in the list; a call without one has no "trunk" key.
func TestCallTrunkInAPI(t *testing.T) {
	e := newEnv(t)
	ans := t0.Add(5 * time.Second)
	var prev string
	var evs []wire.Event
	for i, rec := range []wire.CallRecord{
		{CallID: "ct1", PersonID: "p1", PrisonNumber: "A100", Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Trunk: "carrier-b"},
		{CallID: "ct2", PersonID: "p1", PrisonNumber: "A100", Terminal: "t1", Number: "+442", Start: t0.Add(time.Hour), End: t0.Add(time.Hour), Disposition: wire.DispRefused, Reason: "number not approved"},
	} {
		b, _ := json.Marshal(rec)
		ev := wire.Event{ApplianceID: "appT", Seq: uint64(i + 1), Time: rec.End, Type: wire.EventCall, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		evs = append(evs, ev)
	}
	if ack, err := e.st.StoreEvents(context.Background(), "appT", evs); err != nil || ack != 2 {
		t.Fatal(ack, err)
	}
	var one map[string]any
	if r := e.do("GET", "/api/v1/calls/ct1", e.viewer, nil, &one); r.StatusCode != 200 {
		t.Fatalf("GET call: %d", r.StatusCode)
	}
	if one["trunk"] != "carrier-b" {
		t.Fatalf("call ct1 = %v: no trunk", one)
	}
	var other map[string]any
	e.do("GET", "/api/v1/calls/ct2", e.viewer, nil, &other)
	if _, ok := other["trunk"]; ok {
		t.Fatalf("call ct2 without a trunk has one: %v", other)
	}
	var list struct{ Calls []map[string]any }
	e.do("GET", "/api/v1/calls?number=%2B441", e.viewer, nil, &list)
	if len(list.Calls) != 1 || list.Calls[0]["trunk"] != "carrier-b" {
		t.Fatalf("list = %v", list.Calls)
	}
}
