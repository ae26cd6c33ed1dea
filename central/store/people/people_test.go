package people

import (
	"context"
	"errors"
	"testing"

	"github.com/kinline/kinline/central/store"
)

func TestValidation(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	s.UpsertAppliance(ctx, "appA", "A")
	if _, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "X1", Name: "X", Block: "Z"}); !errors.Is(err, store.ErrUnknownBlock) {
		t.Fatalf("unknown block: %v", err)
	}
	for _, in := range []NewPerson{
		{PrisonNumber: "", Name: "X", Block: "A"},
		{PrisonNumber: "X1", Name: "", Block: "A"},
		{PrisonNumber: "X1", Name: "X", Block: "A", PIN: "12"},
		{PrisonNumber: "X1", Name: "X", Block: "A", PIN: "12ab"},
		{PrisonNumber: "X1", Name: "X", Block: "A", Status: "gone"},
		{PrisonNumber: "X1", Name: "X\x00", Block: "A"},
	} {
		if _, err := s.CreatePerson(ctx, "admin", in); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%+v: %v", in, err)
		}
	}
	p, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "X1", Name: "X", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePerson(ctx, "admin", NewPerson{PrisonNumber: "X1", Name: "Y", Block: "A"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate prison number: %v", err)
	}
	if _, err := s.AddCard(ctx, "admin", p.ID, "zz"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad uid: %v", err)
	}
	if _, err := s.AddCard(ctx, "admin", p.ID, "04A1B2C3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCard(ctx, "admin", p.ID, "04a1b2c3"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate card: %v", err)
	}
	if _, err := s.AddCard(ctx, "admin", "p_none", "04A1B2C4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("card for unknown person: %v", err)
	}
	if _, _, err := s.AddContact(ctx, "admin", p.ID, NewContact{Number: "call me", Name: "Z"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad number: %v", err)
	}
	if _, _, err := s.AddContact(ctx, "admin", p.ID, NewContact{Number: "+44 1", Name: "Z"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddContact(ctx, "admin", p.ID, NewContact{Number: "0044-1", Name: "Z"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same normalized number twice: %v", err)
	}
	// Every change above is in the audit log, newest first.
	log, err := s.AuditLog(ctx, store.AuditFilter{Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 || log[0].Action != "contact.add" || log[2].Action != "inmate.create" {
		t.Fatalf("audit %+v", log)
	}
}

// TestSearchIgnoresCaseOnBoth: the people search matches a prison number
// prefix and part of a name whatever their case, on both databases
// (SQLite's LIKE ignores ASCII case, PostgreSQL's does not), and LIKE's
// wildcards in the query are literal (the accounts' search: the test of the
// same name in the core).
func TestSearchIgnoresCaseOnBoth(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []NewPerson{{PrisonNumber: "A1234BC", Name: "Ann Lee", Block: "A"}, {PrisonNumber: "B7", Name: "Bo_b 100%", Block: "A"}} {
		if _, err := s.CreatePerson(ctx, "test", p); err != nil {
			t.Fatal(err)
		}
	}
	// The accounts' search is tested in the core (central/store).
	for q, want := range map[string]string{"a12": "A1234BC", "A12": "A1234BC", "lee": "A1234BC", "ANN L": "A1234BC", "o_b": "B7", "100%": "B7", "b7": "B7"} {
		ps, err := s.People(ctx, PeopleFilter{Query: q})
		if err != nil || len(ps) != 1 || ps[0].PrisonNumber != want {
			t.Errorf("people %q: %+v %v, want %s", q, ps, err, want)
		}
	}
	for _, q := range []string{"1234", "_1", "1%0", "ob"} {
		if ps, err := s.People(ctx, PeopleFilter{Query: q}); err != nil || len(ps) != 0 {
			t.Errorf("people %q matched %+v %v", q, ps, err)
		}
	}
}
