package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

var newTokenRE = regexp.MustCompile(`<code id="new-token">([0-9a-f]{64})</code>`)

// TestTokensPage: a user creates a token (its secret shown once, never in
// the list), sees only their own, cannot mint a stronger one, and revokes
// it; an administrator sees and revokes everyone's; a token's console
// session ends when the token is revoked.
func TestTokensPage(t *testing.T) {
	e := newManageEnv(t)
	fay := e.signIn("fay", store.RoleFinance)
	resp, body := e.post(fay, "/tokens", "/tokens", url.Values{"name": {"sheets"}, "role": {store.RoleFinance}, "days": {"30"}})
	m := newTokenRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	secret := m[1]
	if _, body := get(t, fay, e.srv.URL+"/tokens"); strings.Contains(body, secret) || !strings.Contains(body, "sheets") || !strings.Contains(body, "Revoke sheets") {
		t.Fatalf("list: %s", body)
	}
	if resp, body := e.post(fay, "/tokens", "/tokens", url.Values{"name": {"root"}, "role": {store.RoleSystemAdmin}, "days": {"30"}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "stronger") {
		t.Fatalf("finance mints admin: %d", resp.StatusCode)
	}
	ada := e.signIn("ada", store.RoleSystemAdmin)
	_, body = get(t, ada, e.srv.URL+"/tokens")
	if !strings.Contains(body, "Every user") || !strings.Contains(body, "sheets") {
		t.Fatalf("admin's list: %s", body)
	}
	ivy := e.signIn("ivy", store.RoleInvestigator)
	if _, body := get(t, ivy, e.srv.URL+"/tokens"); strings.Contains(body, "sheets") {
		t.Fatal("ivy sees fay's token")
	}
	toks, _ := users.New(e.st).Tokens(context.Background(), "")
	var id string
	for _, tk := range toks {
		if tk.Name == "sheets" {
			id = tk.ID
		}
	}
	if resp, _ := e.post(ivy, "/tokens", "/tokens/"+id+"/revoke", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ivy revokes fay's token: %d", resp.StatusCode)
	}
	// The token signs in to the console; revoking it ends that session.
	tc := client(t)
	if r := login(t, tc, e.srv, secret); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("token sign-in: %d", r.StatusCode)
	}
	if r, _ := get(t, tc, e.srv.URL+"/tokens"); r.StatusCode != 200 {
		t.Fatalf("token session: %d", r.StatusCode)
	}
	if resp, _ := e.post(fay, "/tokens", "/tokens/"+id+"/revoke", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if r, _ := get(t, tc, e.srv.URL+"/tokens"); r.StatusCode == 200 {
		t.Fatal("the revoked token's session lives on")
	}
	if r := login(t, client(t), e.srv, secret); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token signs in: %d", r.StatusCode)
	}
}
