package people

import (
	"context"
	"testing"

	"github.com/kinline/kinline/shared/wire"

	"github.com/kinline/kinline/central/store/money"
)

// A called party's self-block reported by an appliance of another block
// than the person's is not applied at once (its event's projection alarms
// instead); the person's own block's appliance applies it.
func TestSelfBlockOnlyFromOwnBlock(t *testing.T) {
	s, _, bob := moneyFixture(t)
	ctx := context.Background()
	if _, _, err := s.AddContact(ctx, "test", bob, NewContact{Number: "+44 20 3333", Name: "X"}); err != nil {
		t.Fatal(err)
	}
	nb := wire.NumberBlocked{PersonID: bob, CallID: "c1", Number: "+44 20 3333"}
	if blk, err := s.SelfBlockReported(ctx, "appA", nb); err != nil || blk != "" {
		t.Fatalf("block A's appliance blocked a number of block B's person: %q, %v", blk, err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM contacts WHERE person_id = $1 AND self_blocked = 1`, bob); n != 0 {
		t.Fatal("contact self-blocked by another block's appliance")
	}
	if blk, err := s.SelfBlockReported(ctx, "appB", nb); err != nil || blk != "B" {
		t.Fatalf("own block's self-block: %q, %v", blk, err)
	}
}

// moneyFixture: block A with appliances appA and appB, person ann in A,
// person bob in B, and one rate so policies carry money.
func moneyFixture(t *testing.T) (*testStore, string, string) {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		if err := s.UpsertAppliance(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	ann, err := s.CreatePerson(ctx, "test", NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreatePerson(ctx, "test", NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	if err := money.New(s.coreStore).SetRates(ctx, "test", []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	return s, ann.ID, bob.ID
}
