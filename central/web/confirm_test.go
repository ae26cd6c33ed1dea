package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/wire"
)

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// Each destructive action, posted without confirm=yes, changes nothing
// and shows a confirmation page whose Confirm button posts the same form
// with it; that post acts.
func TestDestructiveActionsAskForConfirmation(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	admin := e.signIn("ada", store.RoleSystemAdmin)
	olgaU := mkUser(t, e.st, "olga", store.RoleReadOnly)
	if _, _, err := users.New(e.st).EnrollTOTP(ctx, "test", olgaU.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][2]string{
		{"/money/rates", "prefix=%2B44&destination_type=" + wire.DestNational + "&per_minute=0.10&billing_unit_seconds=60&rounding=up"},
		{"/numbers", "number=%2B44+800+111&kind=privileged&note=legal"},
		{"/appliances", "id=app2&block=A"},
		{"/tokens", "name=sheets&role=read_only&days=30"},
	} {
		form, _ := url.ParseQuery(s[1])
		if resp, body := e.post(admin, s[0], s[0], form); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusCreated {
			t.Fatalf("set up %s: %d %s", s[0], resp.StatusCode, body)
		}
	}
	us, _ := users.New(e.st).Users(ctx)
	olga := us[slices.IndexFunc(us, func(u users.User) bool { return u.Username == "olga" })].ID
	toks, _ := users.New(e.st).Tokens(ctx, "")
	token := toks[slices.IndexFunc(toks, func(tk users.Token) bool { return tk.Name == "sheets" })].ID
	count := func(what string) int {
		n := 0
		switch what {
		case "rates":
			rs, _ := money.New(e.st).Rates(ctx)
			n = len(rs)
		case "numbers":
			ns, _ := people.New(e.st).GlobalNumbers(ctx)
			n = len(ns)
		case "appliances":
			as, _ := e.st.Appliances(ctx)
			for _, a := range as {
				if a.Retired == nil {
					n++
				}
			}
		case "users":
			u, _ := users.New(e.st).User(ctx, olga)
			if !u.Disabled {
				n = 1
			}
		case "totp":
			u, _ := users.New(e.st).User(ctx, olga)
			if u.TOTP {
				n = 1
			}
		case "tokens":
			ts, _ := users.New(e.st).Tokens(ctx, "")
			for _, tk := range ts {
				if tk.Revoked == nil {
					n++
				}
			}
		}
		return n
	}
	for _, a := range []struct{ from, action, form, what, question string }{
		{"/money/rates", "/money/rates/delete", "prefix=%2B44", "rates", "Delete the rate for +44?"},
		{"/numbers", "/numbers/remove", "number=%2B44800111&kind=privileged&note=gone", "numbers", "Remove +44800111"},
		{"/appliances", "/appliances/app2/retire", "", "appliances", "Retire appliance app2?"},
		{"/users", "/users/" + olga + "/totp/reset", "", "totp", "Reset this user's second factor?"},
		{"/users", "/users/" + olga + "/disabled", "disabled=true", "users", "Disable this user?"},
		{"/tokens", "/tokens/" + token + "/revoke", "", "tokens", "Revoke this API token?"},
	} {
		before := count(a.what)
		form, _ := url.ParseQuery(a.form)
		resp, body := e.post(admin, a.from, a.action, form)
		if resp.StatusCode != http.StatusOK || count(a.what) != before || !strings.Contains(html.UnescapeString(body), a.question) ||
			!strings.Contains(body, `<a id="confirm-cancel" href="`+a.from+`">Cancel</a>`) {
			t.Fatalf("%s without confirmation: %d, %s %d→%d: %s", a.action, resp.StatusCode, a.what, before, count(a.what), body)
		}
		// The page's form: the same fields, confirm=yes.
		again := url.Values{}
		for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
			again.Add(m[1], html.UnescapeString(m[2]))
		}
		if again.Get("confirm") != "yes" {
			t.Fatalf("%s: confirmation form %v", a.action, again)
		}
		for k := range form {
			if again.Get(k) != form.Get(k) {
				t.Fatalf("%s: confirmation form loses %s: %v", a.action, k, again)
			}
		}
		if resp, body := post(t, admin, e.srv.URL+a.action, again); resp.StatusCode != http.StatusSeeOther || count(a.what) != before-1 {
			t.Fatalf("%s confirmed: %d, %s %d→%d: %s", a.action, resp.StatusCode, a.what, before, count(a.what), body)
		}
	}
	// Enabling a user again is not destructive: no confirmation.
	if resp, _ := e.post(admin, "/users", "/users/"+olga+"/disabled", url.Values{"disabled": {"false"}}); resp.StatusCode != http.StatusSeeOther || count("users") != 1 {
		t.Fatalf("enable: %d", resp.StatusCode)
	}
}
