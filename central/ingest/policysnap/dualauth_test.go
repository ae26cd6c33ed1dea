package policysnap

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

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
	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", SupervisionLevel: "high", Cards: []string{"04a1b2c3"}})
	must(err)
	off, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "S-77", Name: "Officer Reyes", Block: "A", Officer: true, Cards: []string{"0f0f0f0f"}})
	must(err)
	if !off.Officer || len(off.Cards) != 1 || off.Cards[0] != "0F0F0F0F" || ann.SupervisionLevel != "high" {
		t.Fatalf("created: %+v %+v", ann, off)
	}
	// Per-person override.
	both, win := wire.ConfirmBoth, 12
	_, changed, err := s.UpdatePerson(ctx, "admin", ann.ID, people.PersonUpdate{Confirm: &both, ConfirmWindowSeconds: &win})
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
	inm, err := s.People(ctx, people.PeopleFilter{Block: "A"})
	must(err)
	offs, err := s.People(ctx, people.PeopleFilter{Block: "A", Officers: true})
	must(err)
	if len(inm) != 1 || inm[0].ID != ann.ID || len(offs) != 1 || offs[0].ID != off.ID {
		t.Fatalf("inmates %+v officers %+v", inm, offs)
	}

	// Validation.
	bad := []error{
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x", Confirm: "sometimes"}}),
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x"}, {Level: "x"}}),
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x", ConfirmWindowSeconds: -1}}),
		s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "x", ConfirmWindowSeconds: people.MaxConfirmWindowSeconds + 1}}),
	}
	for i, err := range bad {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("bad rules %d: %v", i, err)
		}
	}
	if err := s.SetRules(ctx, "admin", "nope", nil); !errors.Is(err, store.ErrUnknownBlock) {
		t.Errorf("rules of an unknown block: %v", err)
	}
	if _, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A2", Name: "X", Block: "A", Confirm: "maybe"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad confirm: %v", err)
	}
	if _, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A3", Name: "Y", Block: "A", Cards: []string{"0F0F0F0F"}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("card issued twice: %v", err)
	}
	if _, err := s.Person(ctx, "A3"); !errors.Is(err, store.ErrNotFound) {
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
