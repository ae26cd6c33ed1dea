package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

func TestMoneyAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	fin := e.sessionFor("fin", store.RoleFinance, false)
	officer := e.sessionFor("off", store.RoleBlockOfficer, true, "A")
	ro := e.sessionFor("ro", store.RoleReadOnly, false)
	e.n.take()

	// Rates: validation errors say what is wrong; finance sets them.
	var eb struct{ Error string }
	bad := map[string]any{"rates": []wire.Rate{{Prefix: "+44", DestinationType: "moon", PerMinute: 5, BillingUnitSeconds: 60}}}
	if r := e.call(fin, true, "PUT", "/api/v1/rates", bad, &eb); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(eb.Error, `destination type "moon"`) {
		t.Fatalf("bad rate: %d %q", r.StatusCode, eb.Error)
	}
	good := map[string]any{"rates": []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 12, BillingUnitSeconds: 60}}}
	var rates struct {
		Currency string
		Rates    []money.RateRow
	}
	if r := e.call(fin, true, "PUT", "/api/v1/rates", good, &rates); r.StatusCode != http.StatusOK || len(rates.Rates) != 1 || rates.Rates[0].UpdatedBy != "user:fin" {
		t.Fatalf("put rates: %d %+v", r.StatusCode, rates)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("rates notified %v, want every block", got)
	}
	if r := e.call(officer, true, "PUT", "/api/v1/rates", good, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("officer sets rates: %d", r.StatusCode)
	}

	// A finance user recharges; a block officer and a read-only user cannot.
	recharge := map[string]any{"amount": "12.50", "receipt": "R-100"}
	var out struct {
		Entry       money.LedgerEntry
		Balance     int64
		BalanceText string `json:"balance_text"`
	}
	if r := e.call(fin, true, "POST", "/api/v1/accounts/"+ann.ID+"/recharges", recharge, &out); r.StatusCode != http.StatusCreated {
		t.Fatalf("recharge: %d", r.StatusCode)
	}
	if out.Balance != 1250 || out.BalanceText != "12.50 EUR" || out.Entry.Receipt != "R-100" || out.Entry.CreatedBy != "user:fin" {
		t.Fatalf("recharge answer %+v", out)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("recharge notified %v", got)
	}
	for _, se := range []session{officer, ro} {
		if r := e.call(se, true, "POST", "/api/v1/accounts/"+ann.ID+"/recharges", map[string]any{"amount": "1", "receipt": "R-x"}, nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("%s recharges: %d", se.user.Role, r.StatusCode)
		}
	}
	if r := e.call(fin, true, "POST", "/api/v1/accounts/"+ann.ID+"/recharges", recharge, &eb); r.StatusCode != http.StatusConflict {
		t.Fatalf("same receipt twice: %d %s", r.StatusCode, eb.Error)
	}
	if r := e.call(fin, true, "POST", "/api/v1/accounts/"+ann.ID+"/recharges", map[string]any{"amount": "1.005", "receipt": "R-101"}, &eb); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(eb.Error, "decimals") {
		t.Fatalf("three decimals: %d %s", r.StatusCode, eb.Error)
	}
	if r := e.call(fin, false, "POST", "/api/v1/accounts/"+ann.ID+"/recharges", map[string]any{"amount": "1", "receipt": "R-102"}, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("recharge without CSRF header: %d", r.StatusCode)
	}
	if r := e.call(fin, true, "POST", "/api/v1/accounts/"+ann.ID+"/adjustments", map[string]any{"amount": "-2.50", "reason": "phone card fee"}, &out); r.StatusCode != http.StatusCreated || out.Balance != 1000 {
		t.Fatalf("adjustment: %d %+v", r.StatusCode, out)
	}
	if r := e.call(fin, true, "POST", "/api/v1/accounts/"+ann.ID+"/refunds", map[string]any{"amount": "1"}, &eb); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(eb.Error, "reason") {
		t.Fatalf("refund without reason: %d %s", r.StatusCode, eb.Error)
	}
	if r := e.do("POST", "/api/v1/accounts/"+bob.ID+"/refunds", e.admin, map[string]any{"amount": 3, "reason": "goodwill"}, &out); r.StatusCode != http.StatusCreated || out.Balance != 300 {
		t.Fatalf("admin refund: %d %+v", r.StatusCode, out)
	}

	// Reads: the block officer sees block A's account, not block B's.
	var acct struct {
		Balance     int64
		BalanceText string `json:"balance_text"`
		Lines       []struct {
			Kind    string
			Amount  int64
			Balance int64
		}
	}
	if r := e.call(officer, false, "GET", "/api/v1/accounts/"+ann.ID, nil, &acct); r.StatusCode != http.StatusOK || acct.Balance != 1000 || len(acct.Lines) != 2 || acct.Lines[1].Balance != 1000 {
		t.Fatalf("officer reads own block: %d %+v", r.StatusCode, acct)
	}
	if r := e.call(officer, false, "GET", "/api/v1/accounts/"+bob.ID, nil, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("officer reads block B: %d", r.StatusCode)
	}
	if r := e.call(ro, false, "GET", "/api/v1/accounts/"+bob.ID+"?from=2025-01-01", nil, &acct); r.StatusCode != http.StatusOK || acct.BalanceText != "3.00 EUR" {
		t.Fatalf("read-only reads: %d %+v", r.StatusCode, acct)
	}
	if r := e.call(ro, false, "GET", "/api/v1/accounts/"+bob.ID+"?from=yesterday", nil, nil); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad from: %d", r.StatusCode)
	}

	// Reconciliation: scoped for the officer, everything for the others.
	var rep money.Reconciliation
	if r := e.call(officer, false, "GET", "/api/v1/reconciliation", nil, &rep); r.StatusCode != http.StatusOK || len(rep.Accounts) != 1 || rep.Accounts[0].Account != ann.ID || !rep.OK {
		t.Fatalf("officer reconciliation: %d %+v", r.StatusCode, rep)
	}
	rep = money.Reconciliation{}
	if r := e.call(ro, false, "GET", "/api/v1/reconciliation", nil, &rep); r.StatusCode != http.StatusOK || len(rep.Accounts) != 2 || rep.Balance != 1300 || rep.Credits != 1550 || rep.Debits != 250 {
		t.Fatalf("reconciliation: %d %+v", r.StatusCode, rep)
	}

	// Money settings.
	if r := e.call(fin, true, "PUT", "/api/v1/money/settings", store.MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "Europe/London"}, &eb); r.StatusCode != http.StatusConflict {
		t.Fatalf("currency change with a ledger: %d %s", r.StatusCode, eb.Error)
	}
	var ms store.MoneySettings
	if r := e.call(fin, true, "PUT", "/api/v1/money/settings", store.MoneySettings{Currency: "EUR", Digits: 2, TimeZone: "Europe/Berlin"}, &ms); r.StatusCode != http.StatusOK || ms.TimeZone != "Europe/Berlin" {
		t.Fatalf("settings: %d %+v", r.StatusCode, ms)
	}
	for _, act := range []string{"ledger.recharge", "ledger.adjustment", "ledger.refund", "rates.set", "money.settings", "account.view", "reconciliation.view"} {
		if l, err := e.st.AuditLog(ctx, store.AuditFilter{Action: act}); err != nil || len(l) == 0 {
			t.Errorf("no audit entry %s (%v)", act, err)
		}
	}
}
