package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
)

var navRE = regexp.MustCompile(`(?s)<nav aria-label="Main">(.*?)</nav>`)
var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

// navOf is the main navigation's links of a page.
func navOf(t *testing.T, body string) []string {
	t.Helper()
	m := navRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no main navigation in %q", body)
	}
	var hrefs []string
	for _, h := range hrefRE.FindAllStringSubmatch(m[1], -1) {
		hrefs = append(hrefs, h[1])
	}
	return hrefs
}

// Each role's navigation holds exactly the pages it may open: every link
// opens (no 403), and the pages left out are those it may not open.
func TestNavigationPerRole(t *testing.T) {
	e := newManageEnv(t)
	everything := []string{"/calls", "/calls/in-progress", "/people", "/numbers", "/blocks", "/appliances", "/money/rates", "/money/accounts",
		"/money/settings", "/money/reconciliation", "/stats", "/reports/billing", "/import", "/export", "/settings", "/alarms", "/audit",
		"/users", "/tokens", "/account/totp"}
	for _, role := range store.UserRoles {
		var blocks []string
		if role == store.RoleBlockOfficer {
			blocks = []string{"A"}
		}
		c := e.signIn("u-"+strings.ReplaceAll(role, "_", "-"), role, blocks...)
		_, body := get(t, c, e.srv.URL+"/calls")
		nav := navOf(t, body)
		for _, href := range everything {
			allowed := slices.Contains(authz.Routes["GET "+href].Roles, role)
			if slices.Contains(nav, href) != allowed {
				t.Errorf("%s: nav has %s = %v, may open = %v", role, href, !allowed, allowed)
			}
		}
		for _, href := range nav {
			if resp, _ := get(t, c, e.srv.URL+href); resp.StatusCode == http.StatusForbidden {
				t.Errorf("%s: nav link %s answers 403", role, href)
			}
		}
	}
}

// A page a role may not open answers 403 with a page in the layout: what
// was refused, why, and where to go.
func TestForbiddenPage(t *testing.T) {
	e := newManageEnv(t)
	c := e.signIn("ro", store.RoleReadOnly)
	resp, body := get(t, c, e.srv.URL+"/users")
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/users as read-only: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<nav aria-label="Main">`, "<code>/users</code>", "You are not allowed to see this.", "read_only", `id="refused-go" href="/calls"`} {
		if !strings.Contains(body, want) {
			t.Errorf("refusal page lacks %q: %s", want, body)
		}
	}
	if slices.Contains(navOf(t, body), "/users") {
		t.Error("refusal page's navigation offers /users")
	}
}

// A real installation's sign-in page advertises no token file; the
// demo's (Config.SignInHint set) says where its admin token is.
func TestSignInHint(t *testing.T) {
	st, _, _, _ := setup(t)
	for hint, want := range map[string]string{"": "", "Demo: the admin token is in .demo/admin-token.": "Demo: the admin token is in .demo/admin-token."} {
		w, err := New(Config{Store: st, SignInHint: hint})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(w.Handler())
		_, body := get(t, client(t), srv.URL+"/login")
		srv.Close()
		if strings.Contains(body, "admin-token") != (want != "") || strings.Contains(body, "token file") {
			t.Errorf("hint %q: sign-in page %s", hint, body)
		}
		if want != "" && !strings.Contains(body, `id="sign-in-hint">`+want) {
			t.Errorf("hint %q not shown: %s", hint, body)
		}
	}
}
