package people

import (
	"context"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
)

func TestOfficerProjection(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "appA", "A"); err != nil {
		t.Fatal(err)
	}
	off, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "S-1", Name: "Officer Reyes", Block: "A", Officer: true})
	if err != nil {
		t.Fatal(err)
	}
	start := t0.Add(time.Minute)
	ans := start.Add(20 * time.Second)
	evs := chain("appA", 1, 4, "", func(seq uint64) (wire.EventType, any) {
		switch seq {
		case 1:
			return wire.EventOfficer, wire.OfficerAction{Action: "confirm", OfficerID: off.ID, CallID: "c1", Terminal: "t1"}
		case 2:
			return wire.EventCall, wire.CallRecord{CallID: "c1", PersonID: "p1", Terminal: "t1", Number: "5550100", Start: start, Answer: &ans,
				End: ans.Add(time.Minute), Disposition: wire.DispEnded, OfficerID: off.ID, ConfirmMethod: "card", EndedBy: "o-2"}
		case 3:
			return wire.EventCall, wire.CallRecord{CallID: "c2", Terminal: "t1", Number: "5550100", Start: start, End: start, Disposition: wire.DispRefused, Reason: "officer did not confirm"}
		}
		return wire.EventOfficer, wire.OfficerAction{Action: "timeout", CallID: "c2", Terminal: "t1"}
	})
	up, err := s.StoreEvents(ctx, "appA", evs)
	if err != nil || up != 4 {
		t.Fatalf("StoreEvents: %d %v", up, err)
	}
	// Redelivery adds nothing.
	if _, err := s.StoreEvents(ctx, "appA", evs); err != nil {
		t.Fatal(err)
	}
	c, err := s.Call(ctx, "c1")
	if err != nil || c.OfficerID != off.ID || c.OfficerName != "Officer Reyes" || c.ConfirmMethod != "card" || c.EndedBy != "o-2" {
		t.Fatalf("call c1: %+v %v", c, err)
	}
	// The search by officer is central/store/reports' TestCallSearchByOfficer.
	acts, err := s.OfficerActions(ctx, OfficerActionFilter{})
	if err != nil || len(acts) != 2 {
		t.Fatalf("officer actions: %+v %v", acts, err)
	}
	if a := acts[1]; a.Action != "confirm" || a.OfficerID != off.ID || a.OfficerName != "Officer Reyes" || a.CallID != "c1" || a.Seq != 1 || !a.Time.Equal(evs[0].Time) {
		t.Fatalf("confirm action: %+v", a)
	}
	if a := acts[0]; a.Action != "timeout" || a.CallID != "c2" || a.OfficerID != "" {
		t.Fatalf("timeout action: %+v", a)
	}
	if got, _ := s.OfficerActions(ctx, OfficerActionFilter{CallID: "c2"}); len(got) != 1 || got[0].Action != "timeout" {
		t.Fatalf("filter by call: %+v", got)
	}
	if got, _ := s.OfficerActions(ctx, OfficerActionFilter{Officer: off.ID, ApplianceID: "appA"}); len(got) != 1 {
		t.Fatalf("filter by officer: %+v", got)
	}
	// A malformed officer action is kept as an event but raises an alarm.
	bad := chain("appA", 5, 5, evs[3].Hash, func(uint64) (wire.EventType, any) { return wire.EventOfficer, wire.OfficerAction{} })
	if up, err := s.StoreEvents(ctx, "appA", bad); err != nil || up != 5 {
		t.Fatalf("bad officer action: %d %v", up, err)
	}
	if n := openAlarms(t, s, "appA", store.AlarmPayload); n != 1 {
		t.Fatalf("payload alarms %d", n)
	}
}
