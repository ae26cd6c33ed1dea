package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/users"
)

// sessionFor creates a console user with role (scoped to blocks) and a live
// session for them; mfa says whether the second factor was verified.
type session struct {
	id, csrf string
	user     *users.User
}

func (e *env) sessionFor(username, role string, mfa bool, blocks ...string) session {
	e.t.Helper()
	ctx := context.Background()
	u, err := users.New(e.st).CreateUser(ctx, "test", users.NewUser{Username: username, DisplayName: username, Role: role, Blocks: blocks, Password: "correct horse battery"})
	if err != nil {
		e.t.Fatal(err)
	}
	id, se, err := users.New(e.st).StartSession(ctx, users.NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, MFA: mfa, TTL: time.Hour, Idle: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return session{id: id, csrf: se.CSRF, user: u}
}

// call sends a request with a session cookie (and, if csrf, its header).
func (e *env) call(se session, csrf bool, method, path string, body any, out any) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.AddCookie(&http.Cookie{Name: authz.SessionCookie, Value: se.id})
	if csrf {
		req.Header.Set(CSRFHeader, se.csrf)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	return resp
}

// TestMatrixCoversEveryRoute: every route the server registers is in the
// matrix and every /api/ route of the matrix is registered.
func TestMatrixCoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	s, err := New(Deps{Store: e.st})
	if err != nil {
		t.Fatal(err)
	}
	var matrix []string
	for p := range authz.Routes {
		if strings.Contains(p, " /api/") {
			matrix = append(matrix, p)
		}
	}
	got := slices.Clone(s.patterns)
	sort.Strings(got)
	sort.Strings(matrix)
	if !slices.Equal(got, matrix) {
		t.Fatalf("registered %v\nmatrix %v", got, matrix)
	}
}

// TestRoleMatrix calls every API route as every role (and both token
// kinds) and checks that exactly the roles of the matrix get past 403.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{1}, 100)...)
	seedCalls(t, e, wav)
	ctx := context.Background()
	person, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", Status: "active"})
	if err != nil {
		t.Fatal(err)
	}
	target, err := users.New(e.st).CreateUser(ctx, "test", users.NewUser{Username: "target", DisplayName: "T", Role: store.RoleReadOnly, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[string]session{}
	for _, role := range store.UserRoles {
		var blocks []string
		if role == store.RoleBlockOfficer {
			blocks = []string{"A"}
		}
		sessions[role] = e.sessionFor(strings.ReplaceAll(role, "_", "-"), role, true, blocks...)
	}
	path := func(pattern string) (method, p string) {
		method, p, _ = strings.Cut(pattern, " ")
		id := p
		switch {
		case strings.HasPrefix(p, "/api/v1/inmates/"):
			id = person.ID
		case strings.HasPrefix(p, "/api/v1/calls/"):
			id = "c1"
		case strings.HasPrefix(p, "/api/v1/users/"):
			id = target.ID
		case strings.HasPrefix(p, "/api/v1/alarms/"):
			id = "none"
		}
		p = strings.ReplaceAll(strings.ReplaceAll(p, "{id}", id), "{name}", "A")
		return method, p
	}
	n := 0
	for pattern, rule := range authz.Routes {
		if !strings.Contains(pattern, " /api/") {
			continue
		}
		method, p := path(pattern)
		var body any
		if method != "GET" {
			// Empty bodies (mostly 4xx past authorization), in the officer's
			// block where a block is named.
			body = map[string]any{}
			if pattern == "POST /api/v1/inmates" {
				body = map[string]any{"block": "A"}
			}
		}
		for _, role := range store.UserRoles {
			want := slices.Contains(rule.Roles, role)
			var eb struct{ Error string }
			r := e.call(sessions[role], true, method, p, body, &eb)
			if got := r.StatusCode != http.StatusForbidden; got != want {
				t.Errorf("%s as %s: status %d (%s), allowed=%v", pattern, role, r.StatusCode, eb.Error, want)
			}
			if r.StatusCode == http.StatusUnauthorized {
				t.Errorf("%s as %s: 401", pattern, role)
			}
			n++
		}
		// Tokens: admin acts as system_admin, viewer as read_only.
		for tok, role := range map[string]string{e.admin: store.RoleSystemAdmin, e.viewer: store.RoleReadOnly} {
			want := slices.Contains(rule.Roles, role)
			if got := e.status(method, p, tok, body) != http.StatusForbidden; got != want {
				t.Errorf("%s as %s token: allowed=%v want %v", pattern, role, got, want)
			}
		}
	}
	if n < 5*25 {
		t.Fatalf("only %d checks", n)
	}
}

func TestSecondFactorRequiredForPlayback(t *testing.T) {
	e := newEnv(t)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{1}, 100)...)
	seedCalls(t, e, wav)
	weak := e.sessionFor("ivy", store.RoleInvestigator, false)
	var eb struct{ Error string }
	if r := e.call(weak, false, "GET", "/api/v1/calls/c1/recording", nil, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, "second factor") {
		t.Fatalf("playback without second factor: %d %q", r.StatusCode, eb.Error)
	}
	// Metadata is still readable.
	if r := e.call(weak, false, "GET", "/api/v1/calls/c1", nil, nil); r.StatusCode != 200 {
		t.Fatalf("call without second factor: %d", r.StatusCode)
	}
	strong := e.sessionFor("ian", store.RoleInvestigator, true)
	if r := e.call(strong, false, "GET", "/api/v1/calls/c1/recording", nil, nil); r.StatusCode != 200 {
		t.Fatalf("playback with second factor: %d", r.StatusCode)
	}
	log, _ := e.st.AuditLog(context.Background(), store.AuditFilter{Action: "recording.play"})
	if len(log) != 1 || log[0].Actor != "user:ian" {
		t.Fatalf("playback audit %+v", log)
	}
}

func TestBlockOfficerScoped(t *testing.T) {
	e := newEnv(t)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{1}, 100)...)
	seedCalls(t, e, wav)
	ctx := context.Background()
	pa, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", Status: "active"})
	pb, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B", Status: "active"})
	bo := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	var list struct{ Inmates []people.Person }
	if r := e.call(bo, false, "GET", "/api/v1/inmates", nil, &list); r.StatusCode != 200 || len(list.Inmates) != 1 || list.Inmates[0].ID != pb.ID {
		t.Fatalf("scoped list: %d %+v", r.StatusCode, list.Inmates)
	}
	var calls struct{ Calls []store.Call }
	if r := e.call(bo, false, "GET", "/api/v1/calls", nil, &calls); r.StatusCode != 200 || len(calls.Calls) != 1 || calls.Calls[0].ID != "c3" {
		t.Fatalf("scoped calls: %d %+v", r.StatusCode, calls.Calls)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/inmates?block=A", nil},
		{"GET", "/api/v1/inmates/" + pa.ID, nil},
		{"GET", "/api/v1/inmates/" + pa.ID + "/contacts", nil},
		{"PATCH", "/api/v1/inmates/" + pa.ID, map[string]any{"name": "Changed"}},
		{"PATCH", "/api/v1/inmates/" + pb.ID, map[string]any{"block": "A"}},
		{"POST", "/api/v1/inmates/" + pa.ID + "/cards", map[string]any{"uid": "04AABBCC"}},
		{"POST", "/api/v1/inmates/" + pa.ID + "/contacts", map[string]any{"number": "+4411", "name": "X", "relationship": "friend"}},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "A9", "name": "New", "block": "A", "status": "active"}},
		{"GET", "/api/v1/officers?block=A", nil},
		{"GET", "/api/v1/calls?block=A", nil},
		{"GET", "/api/v1/calls/c1", nil},
		{"GET", "/api/v1/calls/c1/recording", nil},
	} {
		if r := e.call(bo, true, c.method, c.path, c.body, nil); r.StatusCode != 403 {
			t.Errorf("%s %s: %d, want 403", c.method, c.path, r.StatusCode)
		}
	}
	if p, _ := people.New(e.st).Person(ctx, pa.ID); p.Name != "Ann" {
		t.Fatal("other block's person changed")
	}
	// Their own block works.
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/v1/inmates/" + pb.ID, nil, 200},
		{"PATCH", "/api/v1/inmates/" + pb.ID, map[string]any{"name": "Bobby"}, 200},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "B9", "name": "New", "block": "B", "status": "active"}, 201},
		{"GET", "/api/v1/calls/c3", nil, 200},
	} {
		if r := e.call(bo, true, c.method, c.path, c.body, nil); r.StatusCode != c.want {
			t.Errorf("own block %s %s: %d want %d", c.method, c.path, r.StatusCode, c.want)
		}
	}
}

func TestSessionCSRFOnAPI(t *testing.T) {
	e := newEnv(t)
	adm := e.sessionFor("root", store.RoleSystemAdmin, true)
	body := map[string]any{"name": "C"}
	var eb struct{ Error string }
	if r := e.call(adm, false, "POST", "/api/v1/blocks", body, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, CSRFHeader) {
		t.Fatalf("without csrf: %d %q", r.StatusCode, eb.Error)
	}
	wrong := adm
	wrong.csrf = strings.Repeat("0", 64)
	if r := e.call(wrong, true, "POST", "/api/v1/blocks", body, nil); r.StatusCode != 403 {
		t.Fatalf("wrong csrf: %d", r.StatusCode)
	}
	if r := e.call(adm, true, "POST", "/api/v1/blocks", body, nil); r.StatusCode != 201 {
		t.Fatalf("with csrf: %d", r.StatusCode)
	}
	// Reads need no CSRF token; an unknown session is 401.
	if r := e.call(adm, false, "GET", "/api/v1/blocks", nil, nil); r.StatusCode != 200 {
		t.Fatalf("read: %d", r.StatusCode)
	}
	if r := e.call(session{id: "nope"}, false, "GET", "/api/v1/blocks", nil, nil); r.StatusCode != 401 {
		t.Fatalf("unknown session: %d", r.StatusCode)
	}
}

func TestUsersAPI(t *testing.T) {
	e := newEnv(t)
	var u users.User
	r := e.do("POST", "/api/v1/users", e.admin, map[string]any{"username": "olga", "display_name": "Olga", "role": "block_officer", "blocks": []string{"A"}, "password": "correct horse battery"}, &u)
	if r.StatusCode != 201 || u.ID == "" || u.Role != store.RoleBlockOfficer || u.Blocks[0] != "A" {
		t.Fatalf("create: %d %+v", r.StatusCode, u)
	}
	if s := e.status("POST", "/api/v1/users", e.admin, map[string]any{"username": "olga", "display_name": "O", "role": "read_only", "password": "correct horse battery"}); s != 409 {
		t.Fatalf("duplicate: %d", s)
	}
	if s := e.status("POST", "/api/v1/users", e.admin, map[string]any{"username": "x1", "display_name": "O", "role": "block_officer", "password": "correct horse battery"}); s != 422 {
		t.Fatalf("officer without blocks: %d", s)
	}
	var list struct{ Users []users.User }
	e.do("GET", "/api/v1/users", e.admin, nil, &list)
	// olga and the bootstrap administrator (the admin token's owner).
	if len(list.Users) != 2 || list.Users[0].Username != users.BootstrapUsername || strings.Contains(mustJSON(list), "argon2") {
		t.Fatalf("list %+v", list)
	}
	r = e.do("PATCH", "/api/v1/users/"+u.ID, e.admin, map[string]any{"role": "investigator", "blocks": []string{}, "disabled": true, "password": "another long passphrase"}, &u)
	if r.StatusCode != 200 || u.Role != store.RoleInvestigator || !u.Disabled || len(u.Blocks) != 0 {
		t.Fatalf("patch: %d %+v", r.StatusCode, u)
	}
	var enrol map[string]string
	if r := e.do("POST", "/api/v1/users/"+u.ID+"/totp", e.admin, nil, &enrol); r.StatusCode != 201 || !strings.HasPrefix(enrol["otpauth_uri"], "otpauth://totp/") || enrol["secret"] == "" {
		t.Fatalf("enrol: %d %v", r.StatusCode, enrol)
	}
	var got users.User
	e.do("GET", "/api/v1/users/"+u.ID, e.admin, nil, &got)
	if !got.TOTP || strings.Contains(mustJSON(got), enrol["secret"]) {
		t.Fatalf("secret shown again or not enrolled: %+v", got)
	}
	// A user may enrol themselves but not others, and not list users.
	self := e.sessionFor("self", store.RoleInvestigator, false)
	if r := e.call(self, true, "POST", "/api/v1/users/"+self.user.ID+"/totp", nil, nil); r.StatusCode != 201 {
		t.Fatalf("self enrol: %d", r.StatusCode)
	}
	if r := e.call(self, true, "POST", "/api/v1/users/"+u.ID+"/totp", nil, nil); r.StatusCode != 403 {
		t.Fatalf("enrol other: %d", r.StatusCode)
	}
	var audit struct{ Audit []store.AuditEntry }
	e.do("GET", "/api/v1/audit?target="+u.ID, e.admin, nil, &audit)
	if len(audit.Audit) != 3 {
		t.Fatalf("user changes audited: %+v", audit.Audit)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAuditCSVAndVerify(t *testing.T) {
	e := newEnv(t)
	e.status("POST", "/api/v1/blocks", e.admin, map[string]any{"name": "C"})
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/audit.csv", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v %v", resp.StatusCode, resp.Header, err)
	}
	last := recs[len(recs)-1]
	if last[2] != "token:admin" || last[3] != "audit.export" {
		t.Fatalf("export not audited: %q", last)
	}
	var audit struct{ Audit []store.AuditEntry }
	e.do("GET", "/api/v1/audit?action=audit.export", e.admin, nil, &audit)
	if len(audit.Audit) != 1 {
		t.Fatalf("audit.export entries %+v", audit.Audit)
	}
	var v map[string]any
	if r := e.do("GET", "/api/v1/audit/verify", e.admin, nil, &v); r.StatusCode != 200 || v["ok"] != true {
		t.Fatalf("verify: %d %v", r.StatusCode, v)
	}
	if s := e.status("GET", "/api/v1/audit.csv", e.viewer, nil); s != 403 {
		t.Fatalf("viewer export: %d", s)
	}
}
