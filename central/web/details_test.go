package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
)

// TestConsoleRefusesHiddenCharactersWithCleanMessages: the console
// refuses a name with a bidirectional override (the store's ValidText),
// says which field and character, and shows no internal prefix; a
// search's malformed parameter reads clean too (issue 14, defect 8).
func TestConsoleRefusesHiddenCharactersWithCleanMessages(t *testing.T) {
	e := newManageEnv(t)
	admin := e.signIn("ada", store.RoleSystemAdmin)
	resp, body := e.post(admin, "/people", "/people", url.Values{"prison_number": {"A300"}, "name": {"Ann\u202egnp.exe"}, "block": {"A"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "U&#43;202E") || !strings.Contains(body, "name") {
		t.Fatalf("bidi name: %d", resp.StatusCode)
	}
	resp, body = e.post(admin, "/people", "/people", url.Values{"prison_number": {"A301"}, "name": {""}, "block": {"A"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "name is required") {
		t.Fatalf("no name: %d", resp.StatusCode)
	}
	resp, body2 := get(t, admin, e.srv.URL+"/calls?from=yesterday")
	for _, b := range []string{body, body2} {
		for _, bad := range []string{"store: ", "invalid input: ", "bad query: "} {
			if strings.Contains(b, bad) {
				t.Errorf("page shows %q (%d)", bad, resp.StatusCode)
			}
		}
	}
}
