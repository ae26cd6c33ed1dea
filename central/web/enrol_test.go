package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kinline/kinline/central/store"
)

// TestConsoleAppliancesPage: a system administrator enrols, moves and
// retires appliances on /appliances (audited, both blocks republished on
// a move, central told of a retirement); a block officer cannot.
func TestConsoleAppliancesPage(t *testing.T) {
	e := newManageEnv(t)
	var mu sync.Mutex
	var retired []string
	w, err := New(Config{Store: e.st, Retired: func(id string) { mu.Lock(); retired = append(retired, id); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	w.SetNotifier(e.n)
	e.srv = httptest.NewServer(w.Handler())
	t.Cleanup(w.Close)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	if err := e.st.EnsureBlock(ctx, "test", "B"); err != nil {
		t.Fatal(err)
	}
	e.n.take()

	amy := e.signIn("amy", store.RoleBlockOfficer, "A")
	if r, _ := get(t, amy, e.srv.URL+"/appliances"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("block officer sees the page: %d", r.StatusCode)
	}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	resp, body := e.post(admin, "/appliances", "/appliances", url.Values{"id": {"app/2"}, "block": {"A"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "app/2") {
		t.Fatalf("bad id: %d", resp.StatusCode)
	}
	if resp, _ = e.post(admin, "/appliances", "/appliances", url.Values{"id": {"app2"}, "block": {"A"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enrol: %d", resp.StatusCode)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("enrol republished %v", got)
	}
	if resp, _ = e.post(admin, "/appliances", "/appliances", url.Values{"id": {"app2"}, "block": {"A"}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("enrol twice: %d", resp.StatusCode)
	}
	if resp, _ = e.post(admin, "/appliances", "/appliances/app2/move", url.Values{"block": {"B"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("move: %d", resp.StatusCode)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("move republished %v", got)
	}
	if b, _ := e.st.ApplianceBlock(ctx, "app2"); b != "B" {
		t.Fatalf("block %q after move", b)
	}
	if resp, _ = e.post(amy, "/people", "/appliances/app2/retire", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("block officer retires: %d", resp.StatusCode)
	}
	if resp, _ = e.post(admin, "/appliances", "/appliances/app2/retire", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retire: %d", resp.StatusCode)
	}
	mu.Lock()
	if !slices.Equal(retired, []string{"app2"}) {
		t.Fatalf("central told of %v", retired)
	}
	mu.Unlock()
	_, body = get(t, admin, e.srv.URL+"/appliances")
	if !strings.Contains(body, "Retired appliances") || !strings.Contains(body, "Retire appA") {
		t.Fatalf("page: %s", body)
	}
	entries, _ := e.st.AuditLog(ctx, store.AuditFilter{Target: "app2"})
	var actions []string
	for _, en := range entries {
		if en.Actor != "system" {
			actions = append(actions, en.Action)
		}
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"appliance.enrol", "appliance.move", "appliance.retire"}) {
		t.Fatalf("audit %v", actions)
	}
}
