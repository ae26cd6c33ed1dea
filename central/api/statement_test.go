package api

import (
	"context"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/wire"
)

// TestStatementWithholdsHiddenCallsAPI: an account's statement names a
// hidden call (404 to the reader) only to roles that may see hidden
// calls; the others get its charge with no ref, a neutral reason and
// withheld true, so the money still adds up.
func TestStatementWithholdsHiddenCallsAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpsertAppliance(ctx, "appH", "A"); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	call := func(id string, hidden bool) wire.CallRecord {
		return wire.CallRecord{CallID: id, PersonID: ann.ID, PrisonNumber: "A1", Terminal: "t1", Number: "+441", Start: at, Answer: &at,
			End: at.Add(time.Minute), Disposition: wire.DispCompleted, Hidden: hidden}
	}
	debit := func(id string, amount int64) wire.LedgerEntry {
		return wire.LedgerEntry{ID: "d-" + id, Account: ann.ID, Kind: wire.LedgerCallDebit, Amount: amount, Currency: "EUR", Ref: id, At: at, Origin: "appH"}
	}
	storetest.MustStore(t, e.st, "appH", storetest.Events("appH", 1, "", t0, call("open", false), debit("open", -20), call("secret", true), debit("secret", -35)))
	type line struct {
		Ref, Reason string
		Amount      int64
		Withheld    bool
	}
	statement := func(s session) (lines []line, balance int64) {
		t.Helper()
		var out struct {
			Lines   []line
			Balance int64
		}
		if r := e.call(s, false, "GET", "/api/v1/accounts/"+ann.ID, nil, &out); r.StatusCode != 200 {
			t.Fatalf("statement: %d", r.StatusCode)
		}
		return out.Lines, out.Balance
	}
	inv := e.sessionFor("ivy", store.RoleInvestigator, true)
	if s := e.call(e.sessionFor("fin", store.RoleFinance, true), false, "GET", "/api/v1/calls/secret", nil, nil); s.StatusCode != 404 {
		t.Fatalf("finance reads the hidden call: %d", s.StatusCode)
	}
	fin := e.sessionFor("fin2", store.RoleFinance, true)
	got, bal := statement(fin)
	want := []line{{"open", "", -20, false}, {"", money.WithheldReason, -35, true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || bal != -55 {
		t.Fatalf("finance's statement %+v balance %d, want %+v", got, bal, want)
	}
	got, bal = statement(inv)
	if len(got) != 2 || got[1] != (line{"secret", "", -35, false}) || bal != -55 {
		t.Fatalf("investigator's statement %+v balance %d", got, bal)
	}
}
