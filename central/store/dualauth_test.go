package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// TestMigration2KeepsData: a database at schema 1 with people and calls
// migrates to 2 without losing a row; the new columns read as "no officer".
func TestMigration2KeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	db := rawSQL(t, path)
	schema1 := append(append([]string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version VALUES (1)`}, migrations[0]...), testDialect().after[1]...)
	for _, q := range schema1 {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO blocks VALUES ('A', 1, 0)`,
		`INSERT INTO appliances (id, block, created_ns) VALUES ('app1', 'A', 0)`,
		`INSERT INTO people (id, prison_number, name, block, status, created_ns, updated_ns) VALUES ('p1', 'A1', 'Ann', 'A', 'active', 0, 0)`,
		`INSERT INTO calls (call_id, appliance_id, seq, person_id, start_ns, end_ns, disposition) VALUES ('c1', 'app1', 1, 'p1', 0, 1, 'completed')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := openAt(t, ctx, path, filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(ctx); v != len(migrations) {
		t.Fatalf("schema %d after migrating (migrations %d)", v, len(migrations))
	}
	p, err := s.Person(ctx, "p1")
	if err != nil || p.Name != "Ann" || p.Officer || p.SupervisionLevel != "" || p.Confirm != "" {
		t.Fatalf("person after migration: %+v %v", p, err)
	}
	c, err := s.Call(ctx, "c1")
	if err != nil || c.Disposition != "completed" || c.OfficerID != "" || c.EndedBy != "" {
		t.Fatalf("call after migration: %+v %v", c, err)
	}
	pol, err := s.PolicyFor(ctx, "app1")
	if err != nil || len(pol.People) != 1 || len(pol.Rules) != 0 {
		t.Fatalf("policy after migration: %+v %v", pol, err)
	}
}

func TestDualAuthPolicy(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpsertAppliance(ctx, "appA", "A"))
	must(s.UpsertAppliance(ctx, "appB", "B"))
	v0 := policyVersion(t, s, "appA")

	must(s.SetRules(ctx, "admin", "A", []wire.CallRule{
		{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: 30, OfficerTapEndsCall: true},
		{Level: "", Confirm: ""},
	}))
	v1 := policyVersion(t, s, "appA")
	if v1 <= v0 {
		t.Fatalf("rules did not bump the policy: %d -> %d", v0, v1)
	}
	ann, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", SupervisionLevel: "high", Cards: []string{"04a1b2c3"}})
	must(err)
	off, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "S-77", Name: "Officer Reyes", Block: "A", Officer: true, Cards: []string{"0f0f0f0f"}})
	must(err)
	if !off.Officer || len(off.Cards) != 1 || off.Cards[0] != "0F0F0F0F" || ann.SupervisionLevel != "high" {
		t.Fatalf("created: %+v %+v", ann, off)
	}
	// Per-person override.
	both, win := wire.ConfirmBoth, 12
	_, changed, err := s.UpdatePerson(ctx, "admin", ann.ID, PersonUpdate{Confirm: &both, ConfirmWindowSeconds: &win})
	must(err)
	if len(changed) != 1 || changed[0] != "A" {
		t.Fatalf("changed blocks %v", changed)
	}

	p, err := s.PolicyFor(ctx, "appA")
	must(err)
	if len(p.Rules) != 2 || !reflect.DeepEqual(p.Rules[0], wire.CallRule{Level: "", Confirm: wire.ConfirmNone}) ||
		!reflect.DeepEqual(p.Rules[1], wire.CallRule{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: 30, OfficerTapEndsCall: true}) {
		t.Fatalf("rules %+v", p.Rules)
	}
	byID := map[string]wire.Person{}
	for _, pp := range p.People {
		byID[pp.ID] = pp
	}
	if a := byID[ann.ID]; a.SupervisionLevel != "high" || a.Confirm != wire.ConfirmBoth || a.ConfirmWindowSeconds != 12 || a.Officer {
		t.Fatalf("ann in policy: %+v", a)
	}
	if o := byID[off.ID]; !o.Officer || len(o.Cards) != 1 || o.Cards[0] != "0F0F0F0F" {
		t.Fatalf("officer in policy: %+v", o)
	}
	if pb, err := s.PolicyFor(ctx, "appB"); err != nil || len(pb.Rules) != 0 || len(pb.People) != 0 {
		t.Fatalf("block B sees A's rules or people: %+v %v", pb, err)
	}

	// Inmates and officers are listed apart.
	inm, err := s.People(ctx, PeopleFilter{Block: "A"})
	must(err)
	offs, err := s.People(ctx, PeopleFilter{Block: "A", Officers: true})
	must(err)
	if len(inm) != 1 || inm[0].ID != ann.ID || len(offs) != 1 || offs[0].ID != off.ID {
		t.Fatalf("inmates %+v officers %+v", inm, offs)
	}

	// Validation.
	bad := []error{
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x", Confirm: "sometimes"}}),
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x"}, {Level: "x"}}),
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x", ConfirmWindowSeconds: -1}}),
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x", ConfirmWindowSeconds: MaxConfirmWindowSeconds + 1}}),
	}
	for i, err := range bad {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("bad rules %d: %v", i, err)
		}
	}
	if err := s.SetRules(ctx, "admin", "nope", nil); !errors.Is(err, ErrUnknownBlock) {
		t.Errorf("rules of an unknown block: %v", err)
	}
	if _, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "A2", Name: "X", Block: "A", Confirm: "maybe"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad confirm: %v", err)
	}
	if _, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "A3", Name: "Y", Block: "A", Cards: []string{"0F0F0F0F"}}); !errors.Is(err, ErrConflict) {
		t.Errorf("card issued twice: %v", err)
	}
	if _, err := s.Person(ctx, "A3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a person whose card failed was kept")
	}
	rules, err := s.Rules(ctx, "A")
	if err != nil || len(rules) != 2 {
		t.Fatalf("rules after refused changes: %+v %v", rules, err)
	}
	// Clearing the rules.
	must(s.SetRules(ctx, "admin", "A", nil))
	if rules, _ := s.Rules(ctx, "A"); len(rules) != 0 {
		t.Fatalf("rules after clearing: %+v", rules)
	}
}

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
	if n := openAlarms(t, s, "appA", AlarmPayload); n != 1 {
		t.Fatalf("payload alarms %d", n)
	}
}
