package money

import (
	"context"
	"testing"

	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/ledger"
)

func TestAccountsList(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "B"))
	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann Lee", Block: "A"})
	mustT(t, err)
	_, err = s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "B1", Name: "Bob Roe", Block: "B"})
	mustT(t, err)
	_, err = s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "S1", Name: "Sam Officer", Block: "A", Officer: true})
	mustT(t, err)
	_, _, err = s.Recharge(ctx, "admin", ann.ID, 1250, "R-1")
	mustT(t, err)
	_, _, err = s.Adjust(ctx, "admin", ann.ID, -250, "correction")
	mustT(t, err)
	as, err := s.Accounts(ctx, AccountFilter{})
	mustT(t, err)
	if len(as) != 2 || as[0].Account != ann.ID || as[0].Balance != ledger.Money(1000) || as[0].Entries != 2 || as[0].LastEntry == nil ||
		as[1].PrisonNumber != "B1" || as[1].Balance != 0 || as[1].Entries != 0 || as[1].LastEntry != nil {
		t.Fatalf("accounts %+v", as)
	}
	if bal, _ := s.Balance(ctx, ann.ID); bal != as[0].Balance {
		t.Fatalf("list balance %d, Balance %d", as[0].Balance, bal)
	}
	if got, _ := s.Accounts(ctx, AccountFilter{Blocks: []string{"B"}}); len(got) != 1 || got[0].PrisonNumber != "B1" {
		t.Fatalf("scoped %+v", got)
	}
	if got, _ := s.Accounts(ctx, AccountFilter{Query: "lee"}); len(got) != 1 || got[0].Account != ann.ID {
		t.Fatalf("query %+v", got)
	}
	if got, _ := s.Accounts(ctx, AccountFilter{Query: "%"}); len(got) != 0 {
		t.Fatalf("wildcard query matched %+v", got)
	}
}

// TestAccountsSearchIgnoresCaseOnBoth: the accounts search matches a
// prison number prefix and part of a name whatever their case, on both
// databases (SQLite's LIKE ignores ASCII case, PostgreSQL's does not), and
// LIKE's wildcards in the query are literal (the people search's half is
// the core's TestSearchIgnoresCaseOnBoth).
func TestAccountsSearchIgnoresCaseOnBoth(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []people.NewPerson{{PrisonNumber: "A1234BC", Name: "Ann Lee", Block: "A"}, {PrisonNumber: "B7", Name: "Bo_b 100%", Block: "A"}} {
		if _, err := s.CreatePerson(ctx, "test", p); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string]string{"a12": "A1234BC", "A12": "A1234BC", "lee": "A1234BC", "ANN L": "A1234BC", "o_b": "B7", "100%": "B7", "b7": "B7"} {
		as, err := s.Accounts(ctx, AccountFilter{Query: q})
		if err != nil || len(as) != 1 || as[0].PrisonNumber != want {
			t.Errorf("accounts %q: %+v %v, want %s", q, as, err, want)
		}
	}
}
