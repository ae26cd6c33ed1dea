package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// personID is the id of the person setup creates (prison number A100).
func personID(t *testing.T, st *store.Store) string {
	t.Helper()
	ps, err := people.New(st).People(context.Background(), people.PeopleFilter{Block: "A"})
	if err != nil || len(ps) != 1 {
		t.Fatalf("people %+v %v", ps, err)
	}
	return ps[0].ID
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func passwordLogin(t *testing.T, c *http.Client, srv string, user string) {
	t.Helper()
	_, body := get(t, c, srv+"/login")
	resp, _ := post(t, c, srv+"/login", url.Values{"csrf": {csrfOf(t, body)}, "username": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/calls" {
		t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
}

func TestFinanceRechargesOnConsole(t *testing.T) {
	st, srv, _, _ := setup(t)
	ann := personID(t, st)
	mkUser(t, st, "fin", store.RoleFinance)
	c := client(t)
	passwordLogin(t, c, srv.URL, "fin")

	resp, body := get(t, c, srv.URL+"/accounts/"+ann)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Record a recharge") || !strings.Contains(body, "0.00 EUR") {
		t.Fatalf("account page: %d %s", resp.StatusCode, body)
	}
	// The person's name is escaped.
	if strings.Contains(body, "<b>Lee</b>") {
		t.Fatal("name not escaped")
	}
	csrf := csrfOf(t, body)
	// Without the CSRF token nothing is recorded.
	if r, _ := post(t, c, srv.URL+"/accounts/"+ann+"/recharge", url.Values{"amount": {"12.50"}, "receipt": {"R-1"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("recharge without csrf: %d", r.StatusCode)
	}
	r, _ := post(t, c, srv.URL+"/accounts/"+ann+"/recharge", url.Values{"csrf": {csrf}, "amount": {"12.50"}, "receipt": {"R-1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("recharge: %d", r.StatusCode)
	}
	if b, _ := money.New(st).Balance(context.Background(), ann); b != 1250 {
		t.Fatalf("balance %d", b)
	}
	_, body = get(t, c, srv.URL+r.Header.Get("Location"))
	if !strings.Contains(body, "Recharge recorded") || !strings.Contains(body, "12.50 EUR") || !strings.Contains(body, "R-1") {
		t.Fatalf("statement after recharge: %s", body)
	}
	// A bad amount and a reused receipt are explained, and change nothing.
	r, body = post(t, c, srv.URL+"/accounts/"+ann+"/recharge", url.Values{"csrf": {csrf}, "amount": {"1.234"}, "receipt": {"R-2"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "decimals") {
		t.Fatalf("bad amount: %d %s", r.StatusCode, body)
	}
	r, body = post(t, c, srv.URL+"/accounts/"+ann+"/recharge", url.Values{"csrf": {csrf}, "amount": {"1"}, "receipt": {"R-1"}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(body, "already recorded") {
		t.Fatalf("reused receipt: %d %s", r.StatusCode, body)
	}
	if b, _ := money.New(st).Balance(context.Background(), ann); b != 1250 {
		t.Fatalf("balance changed to %d", b)
	}

	// Rates: a clear error for a bad one, then one saved and deleted.
	_, body = get(t, c, srv.URL+"/money/rates")
	if !strings.Contains(body, "No rates") {
		t.Fatalf("rates page: %s", body)
	}
	r, body = post(t, c, srv.URL+"/money/rates", url.Values{"csrf": {csrf}, "prefix": {"44 20"}, "destination_type": {"local"},
		"per_minute": {"0.10"}, "billing_unit_seconds": {"60"}, "rounding": {"up"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not a normalized number prefix") {
		t.Fatalf("bad rate: %d %s", r.StatusCode, body)
	}
	r, _ = post(t, c, srv.URL+"/money/rates", url.Values{"csrf": {csrf}, "prefix": {"+4420"}, "destination_type": {"local"},
		"per_minute": {"0.10"}, "billing_unit_seconds": {"30"}, "connection_fee": {"0.05"}, "rounding": {"up"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("save rate: %d", r.StatusCode)
	}
	rates, err := money.New(st).Rates(context.Background())
	if err != nil || len(rates) != 1 || rates[0].PerMinute != 10 || rates[0].ConnectionFee != 5 || rates[0].BillingUnitSeconds != 30 {
		t.Fatalf("rates %+v %v", rates, err)
	}
	_, body = get(t, c, srv.URL+"/money/rates")
	if !strings.Contains(body, "+4420") || !strings.Contains(body, "0.10") {
		t.Fatalf("rates page: %s", body)
	}
	if r, _ := post(t, c, srv.URL+"/money/rates/delete", url.Values{"csrf": {csrf}, "prefix": {"+4420"}, "confirm": {"yes"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete rate: %d", r.StatusCode)
	}
	if rates, _ := money.New(st).Rates(context.Background()); len(rates) != 0 {
		t.Fatalf("rate not deleted: %+v", rates)
	}
}

func TestBlockOfficerCannotRecharge(t *testing.T) {
	st, srv, _, _ := setup(t)
	ann := personID(t, st)
	mkUser(t, st, "offa", store.RoleBlockOfficer, "A")
	mkUser(t, st, "offb", store.RoleBlockOfficer, "B")
	c := client(t)
	passwordLogin(t, c, srv.URL, "offa")
	resp, body := get(t, c, srv.URL+"/accounts/"+ann)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "Record a recharge") {
		t.Fatalf("officer's account page: %d (form shown: %v)", resp.StatusCode, strings.Contains(body, "Record a recharge"))
	}
	r, _ := post(t, c, srv.URL+"/accounts/"+ann+"/recharge", url.Values{"csrf": {csrfOf(t, body)}, "amount": {"5"}, "receipt": {"R-9"}})
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("officer recharges: %d", r.StatusCode)
	}
	if b, _ := money.New(st).Balance(context.Background(), ann); b != 0 {
		t.Fatalf("balance %d", b)
	}
	// Another block's officer does not see the account at all.
	c2 := client(t)
	passwordLogin(t, c2, srv.URL, "offb")
	if resp, _ := get(t, c2, srv.URL+"/accounts/"+ann); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("block B officer: %d", resp.StatusCode)
	}
}

func TestReconciliationPageShowsOverspend(t *testing.T) {
	st, srv, tok, _ := setup(t)
	ctx := context.Background()
	ann := personID(t, st)
	if _, _, err := money.New(st).Recharge(ctx, "test", ann, 100, "R-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := money.New(st).Adjust(ctx, "test", ann, -80, "reversed"); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertAppliance(ctx, "appA2", "A"); err != nil {
		t.Fatal(err)
	}
	d := wire.LedgerEntry{ID: "appA2:1", Account: ann, Kind: wire.LedgerCallDebit, Amount: -60, Currency: "EUR", Ref: "call-over",
		At: t0.Add(time.Hour), Origin: "appA2"}
	b, _ := json.Marshal(d)
	ev := wire.Event{ApplianceID: "appA2", Seq: 1, Time: d.At, Type: wire.EventLedger, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "appA2", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitProjected(ctx, "appA2", 1); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	login(t, c, srv, tok)
	resp, body := get(t, c, srv.URL+"/money/reconciliation")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reconciliation: %d", resp.StatusCode)
	}
	for _, want := range []string{"Every account reconciles", `class="overspend"`, "call-over", "appA2", "0.20 → -0.40", "0.40 not covered", "/accounts/" + ann} {
		if !strings.Contains(body, want) {
			t.Errorf("reconciliation page lacks %q", want)
		}
	}
	if l, err := st.AuditLog(ctx, store.AuditFilter{Action: "reconciliation.view"}); err != nil || len(l) != 1 {
		t.Fatalf("audit %+v %v", l, err)
	}
}
