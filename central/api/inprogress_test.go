package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestCallsInProgressAPI: the calls appliances report started and not
// ended, scoped to a block officer's blocks, hidden ones only for those
// who see them, and audited; a call's record ends it.
func TestCallsInProgressAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for app, block := range map[string]string{"appS": "A", "appT": "B"} {
		if err := e.st.UpsertAppliance(ctx, app, block); err != nil {
			t.Fatal(err)
		}
	}
	prev := map[string]string{}
	seq := map[string]uint64{}
	store1 := func(app string, typ wire.EventType, payload any) {
		t.Helper()
		b, _ := json.Marshal(payload)
		seq[app]++
		ev := wire.Event{ApplianceID: app, Seq: seq[app], Time: t0, Type: typ, Payload: b, PrevHash: prev[app]}
		ev.Seal()
		prev[app] = ev.Hash
		if _, err := e.st.StoreEvents(ctx, app, []wire.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	store1("appS", wire.EventCallStarted, wire.CallStarted{CallID: "s1", Terminal: "t1", PrisonNumber: "A100", Number: "+441", Start: t0})
	store1("appS", wire.EventCallStarted, wire.CallStarted{CallID: "s2", Terminal: "t2", Number: "+442", Start: t0.Add(time.Second), Hidden: true})
	store1("appT", wire.EventCallStarted, wire.CallStarted{CallID: "t1", Terminal: "t9", Number: "+443", Start: t0.Add(2 * time.Second), Privileged: true})
	list := func(se session) []store.CallInProgress {
		t.Helper()
		var out struct{ Calls []store.CallInProgress }
		// The projection is asynchronous; the callers check what comes back either way.
		testkit.Within(10*time.Second, 20*time.Millisecond, func() bool {
			r := e.call(se, false, "GET", "/api/v1/calls/in-progress", nil, &out)
			if r.StatusCode != 200 {
				t.Fatalf("in progress: %d", r.StatusCode)
			}
			return len(out.Calls) > 0
		})
		return out.Calls
	}
	admin := e.sessionFor("root", store.RoleSystemAdmin, true)
	if cs := list(admin); len(cs) != 3 || cs[0].CallID != "s1" || cs[0].Block != "A" || cs[0].ApplianceID != "appS" || !cs[2].Privileged || !cs[1].Hidden {
		t.Fatalf("admin sees %+v", cs)
	}
	officerB := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	if cs := list(officerB); len(cs) != 1 || cs[0].CallID != "t1" {
		t.Fatalf("block B's officer sees %+v", cs)
	}
	officerA := e.sessionFor("officer-a", store.RoleBlockOfficer, true, "A")
	if cs := list(officerA); len(cs) != 1 || cs[0].CallID != "s1" {
		t.Fatalf("block A's officer sees %+v (not the hidden call)", cs)
	}
	audited := func() int {
		t.Helper()
		log, err := e.st.AuditLog(ctx, store.AuditFilter{Action: "calls.in_progress"})
		if err != nil {
			t.Fatal(err)
		}
		return len(log)
	}
	before := audited()
	list(officerA)
	if n := audited(); before == 0 || n != before+1 {
		t.Fatalf("listings audited: %d then %d, want one more per listing", before, n)
	}
	// s1's record ends it.
	store1("appS", wire.EventCall, wire.CallRecord{CallID: "s1", Terminal: "t1", Number: "+441", Start: t0, End: t0.Add(time.Minute), Disposition: wire.DispEnded})
	var cs []store.CallInProgress
	if !testkit.Within(10*time.Second, 20*time.Millisecond, func() bool {
		cs = list(admin)
		return len(cs) == 2 && cs[0].CallID == "s2"
	}) {
		t.Fatalf("after s1's record: %+v", cs)
	}
}
