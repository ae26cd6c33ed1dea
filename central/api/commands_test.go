package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/wire"
)

// sendingNotifier is a PolicyNotifier that also sends commands, as the
// ingest service does.
type sendingNotifier struct {
	fakeNotifier
	mu   sync.Mutex
	sent []wire.Command
	err  error
}

func (f *sendingNotifier) SendCommand(_ context.Context, c *wire.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, *c)
	return nil
}

func TestCommandsAPI(t *testing.T) {
	e := newEnv(t)
	// Without a command sender (commands.Sender) the API answers 503 and records nothing.
	if st := e.status("POST", "/api/v1/appliances/appA/commands", e.admin, map[string]any{"kind": "lockdown"}); st != http.StatusServiceUnavailable {
		t.Fatalf("no sender: %d", st)
	}
	n := &sendingNotifier{}
	a, err := New(Deps{Store: e.st, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)

	var c store.Command
	if r := e.do("POST", "/api/v1/appliances/appA/commands", e.admin, map[string]any{"kind": "lockdown"}, &c); r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", r.StatusCode)
	}
	if c.Kind != wire.CmdLockdown || c.ApplianceID != "appA" || c.State != store.CommandPending || !c.Issued.Equal(t0) || !c.Expires.Equal(t0.Add(time.Minute)) {
		t.Fatalf("created %+v", c)
	}
	if len(n.sent) != 1 || n.sent[0].ID != c.ID || n.sent[0].Check() != nil {
		t.Fatalf("sent %+v", n.sent)
	}
	var ec store.Command
	if r := e.do("POST", "/api/v1/appliances/appA/commands", e.admin, map[string]any{"kind": "end_call", "call_id": "call-1", "ttl_seconds": 86400}, &ec); r.StatusCode != http.StatusCreated || ec.CallID != "call-1" || !ec.Expires.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("end_call: %d %+v", r.StatusCode, ec)
	}
	for _, bad := range []map[string]any{
		{"kind": "reboot"},
		{"kind": "end_call"},
		{"kind": "lockdown", "call_id": "x"},
		{"kind": "lockdown", "ttl_seconds": 86401},
		{"kind": "lockdown", "ttl_seconds": -1},
		{"kind": "lockdown", "extra": 1},
	} {
		if st := e.status("POST", "/api/v1/appliances/appA/commands", e.admin, bad); st != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, st)
		}
	}
	if st := e.status("POST", "/api/v1/appliances/nope/commands", e.admin, map[string]any{"kind": "lockdown"}); st != http.StatusNotFound {
		t.Fatalf("unknown appliance: %d", st)
	}
	if len(n.sent) != 2 {
		t.Fatalf("%d sent after refusals", len(n.sent))
	}

	// A block officer of B reaches appB, not appA.
	bo := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	if r := e.call(bo, true, "POST", "/api/v1/appliances/appA/commands", map[string]any{"kind": "lockdown"}, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("officer of B on appA: %d", r.StatusCode)
	}
	if r := e.call(bo, true, "GET", "/api/v1/appliances/appA/commands", nil, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("officer of B lists appA: %d", r.StatusCode)
	}
	if r := e.call(bo, true, "POST", "/api/v1/appliances/appB/commands", map[string]any{"kind": "refresh"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("officer of B on appB: %d", r.StatusCode)
	}

	// Answers show in the listing; send failures are 503 and the command
	// stays recorded (pending until it expires).
	if err := e.st.AnswerCommand(context.Background(), &wire.CommandAnswer{V: 1, ApplianceID: "appA", ID: c.ID, OK: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	n.err = errors.New("broker down")
	if st := e.status("POST", "/api/v1/appliances/appA/commands", e.admin, map[string]any{"kind": "lift_lockdown"}); st != http.StatusServiceUnavailable {
		t.Fatalf("send failure: %d", st)
	}
	var list struct{ Commands []store.Command }
	if r := e.do("GET", "/api/v1/appliances/appA/commands", e.admin, nil, &list); r.StatusCode != http.StatusOK || len(list.Commands) != 3 {
		t.Fatalf("list: %d %+v", r.StatusCode, list)
	}
	states := map[string]string{}
	for _, x := range list.Commands {
		states[x.Kind] = x.State
		if x.IssuedBy == "" {
			t.Fatalf("issued_by %q", x.IssuedBy)
		}
	}
	if states[wire.CmdLockdown] != store.CommandAnswered || states[wire.CmdEndCall] != store.CommandPending || states[wire.CmdLiftLockdown] != store.CommandPending {
		t.Fatalf("states %v", states)
	}
	log, _ := e.st.AuditLog(context.Background(), store.AuditFilter{Action: "command.create"})
	if len(log) != 4 {
		t.Fatalf("audit entries %d, want 4", len(log))
	}
}

// TestEndCallNamesSender: an end_call sent through the API or the console
// (Server.EndCall) says who sent it (wire.Command.By): a console user by
// actor and full name, a token by its actor; a name that would make an
// unusable By falls back to the actor. The call record the appliance then
// sends with that ended_by is what GET /api/v1/calls/{id} shows.
func TestEndCallNamesSender(t *testing.T) {
	e := newEnv(t)
	n := &sendingNotifier{}
	a, err := New(Deps{Store: e.st, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	us := users.New(e.st)
	session := func(username, name string) session {
		u, err := us.CreateUser(ctx, "test", users.NewUser{Username: username, DisplayName: name, Role: store.RoleBlockOfficer, Blocks: []string{"A"}, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		id, se, err := us.StartSession(ctx, users.NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return session{id: id, csrf: se.CSRF, user: u}
	}
	reyes := session("reyes", "Officer Reyes")
	if r := e.call(reyes, true, "POST", "/api/v1/appliances/appA/commands", map[string]any{"kind": "end_call", "call_id": "call-1"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("end_call: %d", r.StatusCode)
	}
	if err := a.EndCall(ctx, authz.Caller{Actor: "token:ops", Role: store.RoleSystemAdmin}, "appA", "call-2"); err != nil {
		t.Fatal(err)
	}
	long := session("long", strings.Repeat("𝕹", 128)) // 512 bytes: over wire.MaxCommandByLen
	if err := a.EndCall(ctx, authz.Caller{Actor: long.user.Actor(), UserID: long.user.ID, Role: store.RoleBlockOfficer, Blocks: []string{"A"}}, "appA", "call-3"); err != nil {
		t.Fatal(err)
	}
	if err := a.EndCall(ctx, authz.Caller{Actor: "user:gone", UserID: "no-such-user", Role: store.RoleSystemAdmin}, "appA", "call-4"); err != nil {
		t.Fatal(err)
	}
	want := []string{"user:reyes (Officer Reyes)", "token:ops", "user:long", "user:gone"}
	if len(n.sent) != len(want) {
		t.Fatalf("sent %+v", n.sent)
	}
	for i, c := range n.sent {
		if c.By != want[i] || c.Check() != nil {
			t.Errorf("command %d (%s) by %q, want %q", i, c.CallID, c.By, want[i])
		}
	}

	// The appliance's record of call-1 names the sender; the API shows it.
	start := t0.Add(time.Hour)
	ans := start.Add(5 * time.Second)
	b, _ := json.Marshal(wire.CallRecord{CallID: "call-1", Terminal: "t1", Number: "+441234", Start: start, Answer: &ans, End: ans.Add(time.Minute),
		Disposition: wire.DispEnded, Reason: "ended by central", EndedBy: n.sent[0].By})
	ev := wire.Event{ApplianceID: "appA", Seq: 1, Time: start, Type: wire.EventCall, Payload: b}
	ev.Seal()
	if _, err := e.st.StoreEvents(ctx, "appA", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		EndedBy string `json:"ended_by"`
	}
	if r := e.call(reyes, false, "GET", "/api/v1/calls/call-1", nil, &got); r.StatusCode != http.StatusOK || got.EndedBy != "user:reyes (Officer Reyes)" {
		t.Fatalf("GET call-1: %d, ended_by %q", r.StatusCode, got.EndedBy)
	}
}
