package policysnap

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

func TestPolicy(t *testing.T) {
	s, clk, dir := openTest(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpsertAppliance(ctx, "appA", "A"))
	must(s.UpsertAppliance(ctx, "appB", "B"))
	if _, err := s.PolicyFor(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown appliance: %v", err)
	}
	v0 := policyVersion(t, s, "appA")

	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A100", Name: "Ann", Block: "A", PIN: "4711", Language: "en"})
	must(err)
	bob, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "B200", Name: "Bob", Block: "B"})
	must(err)
	_, err = s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A101", Name: "Cid", Block: "A", Status: wire.StatusSuspended})
	must(err)
	v1 := policyVersion(t, s, "appA")
	if v1 <= v0 {
		t.Fatalf("version %d -> %d after adding people", v0, v1)
	}
	_, err = s.AddCard(ctx, "admin", ann.ID, "04a1b2c3")
	must(err)
	_, _, err = s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "0044 20 7946 0000", Name: "Mum", Relationship: "mother"})
	must(err)
	_, _, err = s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+44 800 111", Name: "Lawyer", Privileged: true})
	must(err)
	_, _, err = s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+1 555 0100", Name: "Ex", Status: people.ContactRejected})
	must(err)
	_, err = s.AddCard(ctx, "admin", bob.ID, "04B0B0B0")
	must(err)

	p, err := s.PolicyFor(ctx, "appA")
	must(err)
	if p.Block != "A" || p.V != wire.ProtocolVersion || p.ApplianceID != "appA" || !p.IssuedAt.Equal(clk.Now()) {
		t.Fatalf("policy header %+v", p)
	}
	if len(p.People) != 1 {
		t.Fatalf("people %+v: want only active Ann (Bob is in B, Cid suspended)", p.People)
	}
	a := p.People[0]
	if a.ID != ann.ID || a.PrisonNumber != "A100" || a.Language != "en" || len(a.Cards) != 1 || a.Cards[0] != "04A1B2C3" {
		t.Fatalf("person %+v", a)
	}
	if ok, err := pin.Verify(a.PINHash, "4711"); !ok || err != nil {
		t.Fatalf("PIN hash in policy does not verify: %v", err)
	}
	if len(a.Numbers) != 2 {
		t.Fatalf("numbers %+v: want the two approved", a.Numbers)
	}
	// The snapshot drives the shared decision as the appliance would.
	ix := policy.NewIndex(p)
	if d := ix.Decide("04A1B2C3", "+44 20 7946 0000"); !d.Allowed() {
		t.Fatalf("decision: %v", d.Err)
	}
	if d := ix.Decide("04A1B2C3", "+1 555 0100"); d.Allowed() {
		t.Fatal("rejected contact allowed")
	}
	if d := ix.Decide("04B0B0B0", "+44 20 7946 0000"); d.Allowed() {
		t.Fatal("card of block B allowed in A")
	}
	if d := ix.Decide("04A1B2C3", "+44 800 111"); !d.Allowed() || !d.Number.Privileged {
		t.Fatal("privileged number not marked")
	}

	// Every change raises the version; reads do not.
	prev := policyVersion(t, s, "appA")
	if policyVersion(t, s, "appA") != prev {
		t.Fatal("version changed without a change")
	}
	steps := []func() error{
		func() error { _, err := s.AddCard(ctx, "admin", ann.ID, "04FFFFFF"); return err },
		func() error {
			st := wire.StatusSuspended
			_, _, err := s.UpdatePerson(ctx, "admin", ann.ID, people.PersonUpdate{Status: &st})
			return err
		},
		func() error {
			st := wire.StatusActive
			_, _, err := s.UpdatePerson(ctx, "admin", ann.ID, people.PersonUpdate{Status: &st})
			return err
		},
		func() error {
			pinv := "9999"
			_, _, err := s.UpdatePerson(ctx, "admin", ann.ID, people.PersonUpdate{PIN: &pinv})
			return err
		},
	}
	for i, step := range steps {
		must(step())
		v := policyVersion(t, s, "appA")
		if v <= prev {
			t.Fatalf("step %d: version %d not above %d", i, v, prev)
		}
		prev = v
	}
	// Moving Bob from B to A changes both blocks.
	vb := policyVersion(t, s, "appB")
	blk := "A"
	_, changed, err := s.UpdatePerson(ctx, "admin", bob.ID, people.PersonUpdate{Block: &blk})
	must(err)
	if len(changed) != 2 || changed[0] != "B" || changed[1] != "A" {
		t.Fatalf("changed blocks %v", changed)
	}
	if policyVersion(t, s, "appB") <= vb || policyVersion(t, s, "appA") <= prev {
		t.Fatal("move did not bump both blocks")
	}
	if pb, _ := s.PolicyFor(ctx, "appB"); len(pb.People) != 0 {
		t.Fatal("Bob still in B's policy")
	}
	// Moving an appliance from A (high version) to B: its version must not go back.
	va := policyVersion(t, s, "appA")
	must(s.UpsertAppliance(ctx, "appA", "B"))
	if v := policyVersion(t, s, "appA"); v <= va {
		t.Fatalf("appliance moved to B: version %d not above %d", v, va)
	}
	must(s.UpsertAppliance(ctx, "appA", "A"))
	// Across a restart the counter continues.
	last := policyVersion(t, s, "appA")
	s2, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk)
	must(err)
	defer s2.Close()
	if p2, _ := s2.PolicyFor(ctx, "appA"); p2.Version != last {
		t.Fatalf("version after reopen %d, want %d", p2.Version, last)
	}
	name := "Ann B."
	_, _, err = s2.UpdatePerson(ctx, "admin", ann.ID, people.PersonUpdate{Name: &name})
	must(err)
	if p2, _ := s2.PolicyFor(ctx, "appA"); p2.Version <= last {
		t.Fatal("version did not grow after reopen")
	}
	// Unassigned appliance.
	must(s.UpsertAppliance(ctx, "appC", ""))
	if _, err := s.PolicyFor(ctx, "appC"); !errors.Is(err, store.ErrNoBlock) {
		t.Fatalf("unassigned: %v", err)
	}
	ids, _ := s.AppliancesInBlock(ctx, "")
	if len(ids) != 3 {
		t.Fatalf("all appliances %v", ids)
	}
}
