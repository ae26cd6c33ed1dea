package web

import (
	"context"
	"encoding/json"
	"github.com/kinline/kinline/central/authz"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestCallsInProgressLive: the page and its live JSON name the person and
// the call's limit (the person's own, else their level's rule), scoped as
// the page is, and the elapsed time follows the clock; the page loads the
// script that keeps it live.
func TestCallsInProgressLive(t *testing.T) {
	st, _, _, _, clk := setupClock(t)
	ctx := context.Background()
	ps := people.New(st)
	for app, block := range map[string]string{"appLA": "A", "appLB": "B"} {
		if err := st.UpsertAppliance(ctx, app, block); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.PutRule(ctx, "test", "A", wire.CallRule{Level: "standard", MaxDurationSeconds: 900}); err != nil {
		t.Fatal(err)
	}
	ann, err := ps.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A777", Name: "Ann Able", Block: "A", SupervisionLevel: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ps.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B777", Name: "Bob Baker", Block: "B", MaxDurationSeconds: 300})
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now().Add(-90 * time.Second)
	for _, x := range []struct {
		app string
		c   wire.CallStarted
	}{
		{"appLA", wire.CallStarted{CallID: "live-a", Terminal: "t1", PersonID: ann.ID, PrisonNumber: "A777", Number: "+44123", Start: start}},
		{"appLB", wire.CallStarted{CallID: "live-b", Terminal: "t7", PersonID: bob.ID, PrisonNumber: "B777", Number: "+44999", Start: start}},
	} {
		b, _ := json.Marshal(x.c)
		ev := wire.Event{ApplianceID: x.app, Seq: 1, Time: x.c.Start, Type: wire.EventCallStarted, Payload: b}
		ev.Seal()
		if _, err := st.StoreEvents(ctx, x.app, []wire.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := New(Config{Store: st, EndCall: func(context.Context, authz.Caller, string, string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	e := &manageEnv{t: t, st: st, srv: srv}
	officerA := e.signIn("offa", store.RoleBlockOfficer, "A")
	var body string
	testkit.Within(10*time.Second, 20*time.Millisecond, func() bool {
		_, body = get(t, officerA, srv.URL+"/calls/in-progress")
		return strings.Contains(body, "Ann Able")
	})
	if !strings.Contains(body, "Ann Able") || !strings.Contains(body, ">15:00<") || !strings.Contains(body, ">1:30<") || strings.Contains(body, "Bob Baker") ||
		!strings.Contains(body, `data-live="/calls/in-progress/live"`) || !strings.Contains(body, `<script src="/static/calls_live.js?v=`) {
		t.Fatalf("block A's officer's page: %s", body)
	}
	type live struct {
		Calls []liveCall `json:"calls"`
	}
	read := func() live {
		t.Helper()
		resp, b := get(t, officerA, srv.URL+"/calls/in-progress/live")
		var l live
		if err := json.Unmarshal([]byte(b), &l); err != nil || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("live %d %s: %v", resp.StatusCode, b, err)
		}
		return l
	}
	l := read()
	if len(l.Calls) != 1 || l.Calls[0].Name != "Ann Able" || l.Calls[0].LimitSeconds != 900 || l.Calls[0].ElapsedSeconds != 90 || !l.Calls[0].Endable {
		t.Fatalf("block A's live calls: %+v", l.Calls)
	}
	clk.Advance(5 * time.Second)
	if l := read(); l.Calls[0].ElapsedSeconds != 95 {
		t.Fatalf("elapsed after 5 s: %+v", l.Calls)
	}
	admin := e.signIn("root", store.RoleSystemAdmin)
	_, b := get(t, admin, srv.URL+"/calls/in-progress/live")
	if !strings.Contains(b, `"name":"Bob Baker"`) || !strings.Contains(b, `"limit_seconds":300`) || !strings.Contains(b, `"name":"Ann Able"`) {
		t.Fatalf("admin's live calls: %s", b)
	}
	if r, _ := get(t, client(t), srv.URL+"/calls/in-progress/live"); r.StatusCode != 303 {
		t.Fatalf("live calls without a session: %d", r.StatusCode)
	}
}
