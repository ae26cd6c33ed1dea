package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// TestDualAuthAPI: an admin sets a block's call rules, a person's
// supervision level and override, enrols an officer with a card; the
// block's policy carries all of it; officer actions and the calls' officer
// come back through the API.
func TestDualAuthAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	rules := map[string]any{"rules": []map[string]any{
		{"level": "high", "confirm": "button", "confirm_window_seconds": 30, "officer_tap_ends_call": true},
		{"level": "", "confirm": "none"},
	}}
	if s := e.status("PUT", "/api/v1/blocks/A/rules", e.viewer, rules); s != 403 {
		t.Fatalf("viewer sets rules: %d", s)
	}
	var got struct {
		Block string
		Rules []wire.CallRule
	}
	if r := e.do("PUT", "/api/v1/blocks/A/rules", e.admin, rules, &got); r.StatusCode != 200 || len(got.Rules) != 2 {
		t.Fatalf("put rules: %d %+v", r.StatusCode, got)
	}
	if b := e.n.take(); len(b) != 1 || b[0] != "A" {
		t.Fatalf("notified %v", b)
	}
	for body, want := range map[string]int{
		`{"rules":[{"level":"x","confirm":"maybe"}]}`:              422,
		`{"rules":[{"level":"x"},{"level":"x"}]}`:                  422,
		`{"rules":[{"level":"x","confirm_window_seconds":99999}]}`: 422,
		`{"rules":[{"level":"x","colour":"red"}]}`:                 400,
		`{"rules":[]}`: 200,
	} {
		if s := e.status("PUT", "/api/v1/blocks/B/rules", e.admin, body); s != want {
			t.Errorf("PUT rules %s: %d, want %d", body, s, want)
		}
	}
	if s := e.status("PUT", "/api/v1/blocks/nope/rules", e.admin, `{"rules":[]}`); s != 422 {
		t.Errorf("rules of unknown block: %d", s)
	}
	if r := e.do("GET", "/api/v1/blocks/A/rules", e.viewer, nil, &got); r.StatusCode != 200 || len(got.Rules) != 2 || got.Rules[1].Level != "high" || !got.Rules[1].OfficerTapEndsCall {
		t.Fatalf("get rules: %+v", got)
	}

	var ann people.Person
	if r := e.do("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "A100", "name": "Ann", "block": "A", "supervision_level": "high"}, &ann); r.StatusCode != 201 || ann.SupervisionLevel != "high" {
		t.Fatalf("create inmate: %d %+v", r.StatusCode, ann)
	}
	var patched people.Person
	if r := e.do("PATCH", "/api/v1/inmates/"+ann.ID, e.admin, map[string]any{"confirm": "both", "confirm_window_seconds": 20}, &patched); r.StatusCode != 200 || patched.Confirm != "both" || patched.ConfirmWindowSeconds != 20 {
		t.Fatalf("patch inmate: %d %+v", r.StatusCode, patched)
	}
	if s := e.status("PATCH", "/api/v1/inmates/"+ann.ID, e.admin, map[string]any{"confirm": "whenever"}); s != 422 {
		t.Errorf("bad confirm: %d", s)
	}

	var off people.Person
	if r := e.do("POST", "/api/v1/officers", e.admin, map[string]any{"staff_number": "S-77", "name": "Officer Reyes", "block": "A", "cards": []string{"0f0f0f0f"}}, &off); r.StatusCode != 201 || !off.Officer || len(off.Cards) != 1 {
		t.Fatalf("create officer: %d %+v", r.StatusCode, off)
	}
	if s := e.status("POST", "/api/v1/officers", e.admin, map[string]any{"staff_number": "S-78", "name": "Dup", "block": "A", "cards": []string{"0F0F0F0F"}}); s != 409 {
		t.Errorf("officer with a card already issued: %d", s)
	}
	var offs struct{ Officers []people.Person }
	e.do("GET", "/api/v1/officers?block=A", e.viewer, nil, &offs)
	var inm struct{ Inmates []people.Person }
	e.do("GET", "/api/v1/inmates?block=A", e.viewer, nil, &inm)
	if len(offs.Officers) != 1 || offs.Officers[0].ID != off.ID || len(inm.Inmates) != 1 || inm.Inmates[0].ID != ann.ID {
		t.Fatalf("officers %+v inmates %+v", offs, inm)
	}

	p, err := policysnap.New(e.st).PolicyFor(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	var sawOfficer, sawAnn bool
	for _, pp := range p.People {
		sawOfficer = sawOfficer || (pp.ID == off.ID && pp.Officer && pp.Cards[0] == "0F0F0F0F")
		sawAnn = sawAnn || (pp.ID == ann.ID && pp.SupervisionLevel == "high" && pp.Confirm == "both" && pp.ConfirmWindowSeconds == 20)
	}
	if !sawOfficer || !sawAnn || len(p.Rules) != 2 {
		t.Fatalf("policy: %+v", p)
	}

	// What the appliance reports comes back out.
	var prev string
	mk := func(seq uint64, typ wire.EventType, payload any) wire.Event {
		b, _ := json.Marshal(payload)
		ev := wire.Event{ApplianceID: "appA", Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Type: typ, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		return ev
	}
	ans := t0.Add(5 * time.Second)
	evs := []wire.Event{
		mk(1, wire.EventOfficer, wire.OfficerAction{Action: "confirm", OfficerID: off.ID, CallID: "c1", Terminal: "t1"}),
		mk(2, wire.EventCall, wire.CallRecord{CallID: "c1", PersonID: ann.ID, Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(time.Minute),
			Disposition: wire.DispCompleted, OfficerID: off.ID, ConfirmMethod: "card"}),
		mk(3, wire.EventCall, wire.CallRecord{CallID: "c2", PersonID: ann.ID, Terminal: "t1", Number: "+441", Start: t0.Add(time.Hour), End: t0.Add(time.Hour),
			Disposition: wire.DispRefused, Reason: "officer did not confirm"}),
	}
	if ack, err := e.st.StoreEvents(ctx, "appA", evs); err != nil || ack != 3 {
		t.Fatal(ack, err)
	}
	var calls struct{ Calls []store.Call }
	if r := e.do("GET", "/api/v1/calls?officer="+off.ID, e.viewer, nil, &calls); r.StatusCode != 200 || len(calls.Calls) != 1 {
		t.Fatalf("calls of the officer: %d %+v", r.StatusCode, calls)
	}
	if c := calls.Calls[0]; c.ID != "c1" || c.OfficerID != off.ID || c.OfficerName != "Officer Reyes" || c.ConfirmMethod != "card" {
		t.Fatalf("call: %+v", c)
	}
	var acts struct {
		OfficerActions []people.OfficerAction `json:"officer_actions"`
	}
	if r := e.do("GET", "/api/v1/officer-actions?officer="+off.ID, e.viewer, nil, &acts); r.StatusCode != 200 || len(acts.OfficerActions) != 1 ||
		acts.OfficerActions[0].Action != "confirm" || acts.OfficerActions[0].CallID != "c1" || acts.OfficerActions[0].OfficerName != "Officer Reyes" {
		t.Fatalf("officer actions: %+v", acts)
	}
	if s := e.status("GET", "/api/v1/officer-actions?who=x", e.viewer, nil); s != 400 {
		t.Errorf("unknown parameter: %d", s)
	}
}
