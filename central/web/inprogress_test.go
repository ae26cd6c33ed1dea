package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestCallsInProgressPage: the page lists the calls in progress for the
// viewer's scope; End sends end_call to the call's appliance (through
// Config.EndCall) for those who may, CSRF-checked; a call no longer in
// progress, another block's call or a failing appliance link each get a
// clear answer.
func TestCallsInProgressPage(t *testing.T) {
	st, _, _, _ := setup(t)
	ctx := context.Background()
	for app, block := range map[string]string{"appA2": "A", "appB": "B"} {
		if err := st.UpsertAppliance(ctx, app, block); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var ended []string
	var fail error
	w, err := New(Config{Store: st, EndCall: func(_ context.Context, actor, app, call string) error {
		mu.Lock()
		defer mu.Unlock()
		if fail != nil {
			return fail
		}
		ended = append(ended, actor+" "+app+" "+call)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	e := &manageEnv{t: t, st: st, srv: srv}
	for _, x := range []struct {
		app string
		c   wire.CallStarted
	}{
		{"appA2", wire.CallStarted{CallID: "live-a", Terminal: "t1", PrisonNumber: "A100", Number: "+44123", Start: t0.Add(3 * time.Hour)}},
		{"appB", wire.CallStarted{CallID: "live-b", Terminal: "t7", Number: "+44999", Start: t0.Add(3 * time.Hour), Privileged: true}},
	} {
		b, _ := json.Marshal(x.c)
		ev := wire.Event{ApplianceID: x.app, Seq: 1, Time: x.c.Start, Type: wire.EventCallStarted, Payload: b}
		ev.Seal()
		if _, err := st.StoreEvents(ctx, x.app, []wire.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.signIn("root", store.RoleSystemAdmin)
	var body string
	testkit.Within(10*time.Second, 20*time.Millisecond, func() bool { // the page is checked below either way
		_, body = get(t, admin, srv.URL+"/calls/in-progress")
		return strings.Contains(body, "44999")
	})
	if !strings.Contains(body, "44123") || !strings.Contains(body, "44999") || !strings.Contains(body, `action="/calls/live-a/end"`) ||
		!strings.Contains(body, `<span class="priv">privileged</span>`) {
		t.Fatalf("admin's page: %s", body)
	}
	officerA := e.signIn("offa", store.RoleBlockOfficer, "A")
	if _, body = get(t, officerA, srv.URL+"/calls/in-progress"); !strings.Contains(body, "44123") || strings.Contains(body, "44999") {
		t.Fatalf("block A's officer's page: %s", body)
	}
	investigator := e.signIn("ivy", store.RoleInvestigator)
	if _, body = get(t, investigator, srv.URL+"/calls/in-progress"); !strings.Contains(body, "44123") || strings.Contains(body, "/end\"") {
		t.Fatalf("an investigator (no commands) gets End buttons or no list: %s", body)
	}

	// End: CSRF first, then the command to the call's appliance.
	if r, _ := post(t, admin, srv.URL+"/calls/live-a/end", url.Values{"csrf": {"wrong"}}); r.StatusCode == http.StatusSeeOther {
		t.Fatal("ended without the CSRF token")
	}
	// Without confirm=yes: the confirmation page, and no command.
	if r, body := e.post(admin, "/calls/in-progress", "/calls/live-a/end", url.Values{}); r.StatusCode != http.StatusOK ||
		!strings.Contains(body, "End call live-a now?") || !strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("end without confirmation: %d %s", r.StatusCode, body)
	}
	mu.Lock()
	if len(ended) != 0 {
		t.Fatalf("ended without confirmation: %v", ended)
	}
	mu.Unlock()
	r, _ := e.post(admin, "/calls/in-progress", "/calls/live-a/end", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "notice=") {
		t.Fatalf("end: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r, _ := e.post(officerA, "/calls/in-progress", "/calls/live-b/end", url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusSeeOther ||
		!strings.Contains(r.Header.Get("Location"), url.QueryEscape("no longer in progress")) {
		t.Fatalf("block A's officer ending block B's call: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r, _ := e.post(investigator, "/calls/in-progress", "/calls/live-b/end", url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("an investigator ending a call: %d", r.StatusCode)
	}
	mu.Lock()
	fail = errors.New("broker down")
	mu.Unlock()
	if r, body := e.post(admin, "/calls/in-progress", "/calls/live-b/end", url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "try again") {
		t.Fatalf("end with the appliance unreachable: %d %s", r.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ended) != 1 || ended[0] != "user:root appA2 live-a" {
		t.Fatalf("end_call sent %v, want only root's for live-a on appA2", ended)
	}
}
