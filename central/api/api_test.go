package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// fakeNotifier records PolicyChanged calls.
type fakeNotifier struct {
	mu     sync.Mutex
	blocks []string
}

func (f *fakeNotifier) PolicyChanged(_ context.Context, block string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks = append(f.blocks, block)
}

func (f *fakeNotifier) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.blocks
	f.blocks = nil
	return b
}

type env struct {
	t      *testing.T
	st     *store.Store
	srv    *httptest.Server
	n      *fakeNotifier
	admin  string
	viewer string
	dir    string
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storetest.Open(ctx, t, filepath.Join(dir, "c.db"), filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &fakeNotifier{}
	a, err := New(Deps{Store: st, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	tokPath := filepath.Join(dir, "admin-token")
	if err := a.EnsureAdminToken(ctx, tokPath); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tokPath)
	// The bootstrap administrator has a second factor here, so the admin
	// token plays recordings (tokens_test.go tests it without).
	us := users.New(st)
	if _, _, err := us.EnrollTOTP(ctx, "test", users.BootstrapUserID); err != nil {
		t.Fatal(err)
	}
	viewer, _, err := us.CreateToken(ctx, users.Creator{Actor: "test", Role: store.RoleSystemAdmin, UserID: users.BootstrapUserID}, users.NewToken{Name: "auditor", Role: store.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ app, block string }{{"appA", "A"}, {"appB", "B"}} {
		if err := st.UpsertAppliance(ctx, b.app, b.block); err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, st: st, srv: srv, n: n, admin: strings.TrimSpace(string(b)), viewer: viewer, dir: dir}
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (e *env) do(method, path, token string, body any, out any) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			js, _ := json.Marshal(b)
			rd = bytes.NewReader(js)
		}
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, data, err)
		}
	}
	if resp.StatusCode >= 400 {
		var eb struct{ Error string }
		if json.Unmarshal(data, &eb); eb.Error == "" {
			e.t.Fatalf("%s %s: error %d without JSON error body: %q", method, path, resp.StatusCode, data)
		}
	}
	return resp
}

func (e *env) status(method, path, token string, body any) int {
	e.t.Helper()
	return e.do(method, path, token, body, nil).StatusCode
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	if s := e.status("GET", "/api/v1/inmates", "", nil); s != 401 {
		t.Fatalf("no token: %d", s)
	}
	if s := e.status("GET", "/api/v1/inmates", "wrong-token-wrong-token", nil); s != 401 {
		t.Fatalf("bad token: %d", s)
	}
	if s := e.status("GET", "/api/v1/inmates", e.admin+"x", nil); s != 401 {
		t.Fatalf("token with suffix: %d", s)
	}
	if s := e.status("GET", "/api/v1/inmates", e.admin, nil); s != 200 {
		t.Fatalf("admin: %d", s)
	}
	if s := e.status("GET", "/api/v1/calls", e.viewer, nil); s != 200 {
		t.Fatalf("viewer read: %d", s)
	}
	if s := e.status("POST", "/api/v1/inmates", e.viewer, map[string]string{"prison_number": "A1", "name": "X", "block": "A"}); s != 403 {
		t.Fatalf("viewer write: %d", s)
	}
	if s := e.status("GET", "/api/v1/nothing", e.admin, nil); s != 404 {
		t.Fatalf("unknown endpoint: %d", s)
	}
}

func TestEnsureAdminToken(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "admin-token")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v %v", fi.Mode(), err)
	}
	// Idempotent: the same file keeps working, no new token.
	a, err := New(Deps{Store: e.st})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.EnsureAdminToken(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != e.admin {
		t.Fatal("token file rewritten")
	}
	// A token file from elsewhere (e.g. a fresh database) gets registered.
	other := filepath.Join(e.dir, "other-token")
	os.WriteFile(other, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	if err := a.EnsureAdminToken(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if s := e.status("GET", "/api/v1/audit", "0123456789abcdef0123456789abcdef", nil); s != 200 {
		t.Fatalf("registered token: %d", s)
	}
}

func TestInmateLifecycle(t *testing.T) {
	e := newEnv(t)
	var p people.Person
	r := e.do("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "A100", "name": "Ann", "block": "A", "pin": "4711"}, &p)
	if r.StatusCode != 201 || p.ID == "" || !p.HasPIN || p.Status != wire.StatusActive {
		t.Fatalf("create: %d %+v", r.StatusCode, p)
	}
	if got := e.n.take(); len(got) != 1 || got[0] != "A" {
		t.Fatalf("notifier after create: %v", got)
	}
	var card map[string]string
	if r := e.do("POST", "/api/v1/inmates/"+p.ID+"/cards", e.admin, map[string]string{"uid": "04a1b2c3"}, &card); r.StatusCode != 201 || card["uid"] != "04A1B2C3" {
		t.Fatalf("card: %d %v", r.StatusCode, card)
	}
	if got := e.n.take(); len(got) != 1 || got[0] != "A" {
		t.Fatalf("notifier after card: %v", got)
	}
	var c people.Contact
	if r := e.do("POST", "/api/v1/inmates/"+p.ID+"/contacts", e.admin, map[string]any{"number": "+44 20 7946 0000", "name": "Mum", "relationship": "mother"}, &c); r.StatusCode != 201 {
		t.Fatalf("contact: %d", r.StatusCode)
	}
	if c.Number != "+442079460000" || c.Status != people.ContactApproved || c.Privileged {
		t.Fatalf("contact %+v", c)
	}
	if got := e.n.take(); len(got) != 1 || got[0] != "A" {
		t.Fatalf("notifier after contact: %v", got)
	}
	var cl struct{ Contacts []people.Contact }
	e.do("GET", "/api/v1/inmates/"+p.ID+"/contacts", e.viewer, nil, &cl)
	if len(cl.Contacts) != 1 {
		t.Fatalf("contacts %+v", cl)
	}
	// The appliance's policy now holds it all.
	pol, err := policysnap.New(e.st).PolicyFor(context.Background(), "appA")
	if err != nil || len(pol.People) != 1 || len(pol.People[0].Cards) != 1 || len(pol.People[0].Numbers) != 1 {
		t.Fatalf("policy %+v %v", pol, err)
	}
	// Move to B: both blocks notified.
	var moved people.Person
	if r := e.do("PATCH", "/api/v1/inmates/"+p.ID, e.admin, map[string]any{"block": "B", "status": "suspended"}, &moved); r.StatusCode != 200 || moved.Block != "B" || moved.Status != "suspended" {
		t.Fatalf("patch: %d %+v", r.StatusCode, moved)
	}
	if got := e.n.take(); len(got) != 2 || got[0] != "A" || got[1] != "B" {
		t.Fatalf("notifier after move: %v", got)
	}
	var got people.Person
	e.do("GET", "/api/v1/inmates/"+p.ID, e.viewer, nil, &got)
	if got.Block != "B" || len(got.Cards) != 1 {
		t.Fatalf("get %+v", got)
	}
	var list struct{ Inmates []people.Person }
	e.do("GET", "/api/v1/inmates?block=B", e.viewer, nil, &list)
	if len(list.Inmates) != 1 {
		t.Fatalf("list %+v", list)
	}
	// Every change is audited with the actor.
	var audit struct{ Audit []store.AuditEntry }
	e.do("GET", "/api/v1/audit?actor=token:admin", e.admin, nil, &audit)
	actions := map[string]bool{}
	for _, a := range audit.Audit {
		actions[a.Action] = true
	}
	for _, want := range []string{"inmate.create", "card.add", "contact.add", "inmate.update"} {
		if !actions[want] {
			t.Fatalf("audit lacks %s: %+v", want, audit.Audit)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	e := newEnv(t)
	var p people.Person
	e.do("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "A100", "name": "Ann", "block": "A"}, &p)
	e.n.take()
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/v1/inmates", `{"prison_number":`, 400},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "A2", "name": "X", "block": "A", "cell": 4}, 400},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "A2", "name": "X", "block": "Nowhere"}, 422},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "A2", "name": "", "block": "A"}, 422},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "A2", "name": "X", "block": "A", "pin": "12"}, 422},
		{"POST", "/api/v1/inmates", map[string]any{"prison_number": "A100", "name": "Dup", "block": "A"}, 409},
		{"PATCH", "/api/v1/inmates/p_missing", map[string]any{"name": "X"}, 404},
		{"PATCH", "/api/v1/inmates/" + p.ID, map[string]any{"status": "escaped"}, 422},
		{"POST", "/api/v1/inmates/" + p.ID + "/cards", map[string]string{"uid": "not-hex"}, 422},
		{"POST", "/api/v1/inmates/p_missing/cards", map[string]string{"uid": "04A1B2C3"}, 404},
		{"POST", "/api/v1/inmates/" + p.ID + "/contacts", map[string]any{"number": "call me maybe", "name": "X"}, 422},
		{"GET", "/api/v1/inmates/p_missing", nil, 404},
		{"GET", "/api/v1/calls?from=yesterday", nil, 400},
		{"GET", "/api/v1/calls?disposition=great", nil, 400},
		{"GET", "/api/v1/calls?number=abc", nil, 400},
		{"GET", "/api/v1/calls?inmat=A1", nil, 400},
		{"GET", "/api/v1/calls?limit=-1", nil, 400},
		{"GET", "/api/v1/calls/nope", nil, 404},
	}
	for _, c := range cases {
		if got := e.status(c.method, c.path, e.admin, c.body); got != c.want {
			t.Errorf("%s %s %v: %d, want %d", c.method, c.path, c.body, got, c.want)
		}
	}
	// Duplicate card across people -> 409.
	var q people.Person
	e.do("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "A101", "name": "Bea", "block": "A"}, &q)
	if s := e.status("POST", "/api/v1/inmates/"+p.ID+"/cards", e.admin, map[string]string{"uid": "04A1B2C3"}); s != 201 {
		t.Fatalf("card: %d", s)
	}
	if s := e.status("POST", "/api/v1/inmates/"+q.ID+"/cards", e.admin, map[string]string{"uid": "04a1b2c3"}); s != 409 {
		t.Fatalf("duplicate card: %d", s)
	}
	if s := e.status("POST", "/api/v1/inmates/"+p.ID+"/contacts", e.admin, map[string]any{"number": "+1 555", "name": "X"}); s != 201 {
		t.Fatalf("contact: %d", s)
	}
	if s := e.status("POST", "/api/v1/inmates/"+p.ID+"/contacts", e.admin, map[string]any{"number": "001-555", "name": "X"}); s != 409 {
		t.Fatalf("duplicate contact: %d", s)
	}
	// Failed changes notify nobody.
	if got := e.n.take(); len(got) != 3 { // create A101, card, contact
		t.Fatalf("notifications %v", got)
	}
}

// seedCalls stores call events: two in A by Ann, one refused in B.
func seedCalls(t *testing.T, e *env, withRecording []byte) {
	t.Helper()
	ctx := context.Background()
	var prev string
	mk := func(app string, seq uint64, rec wire.CallRecord) wire.Event {
		b, _ := json.Marshal(rec)
		ev := wire.Event{ApplianceID: app, Seq: seq, Time: rec.End, Type: wire.EventCall, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		return ev
	}
	start := t0
	ans := start.Add(10 * time.Second)
	r1 := wire.CallRecord{CallID: "c1", PersonID: "p1", PrisonNumber: "A100", Terminal: "t1", Number: "+441", Start: start, Answer: &ans, End: ans.Add(90 * time.Second), Disposition: wire.DispCompleted}
	if withRecording != nil {
		sum := sha256.Sum256(withRecording)
		r1.Recording = &wire.RecordingRef{ID: "r1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(withRecording)), Format: "wav/pcmu-stereo"}
	}
	r2 := wire.CallRecord{CallID: "c2", PersonID: "p1", PrisonNumber: "A100", Terminal: "t1", Number: "+442", Start: start.Add(time.Hour), End: start.Add(time.Hour + time.Second), Disposition: wire.DispNoAnswer}
	evA := []wire.Event{mk("appA", 1, r1), mk("appA", 2, r2)}
	prev = ""
	r3 := wire.CallRecord{CallID: "c3", PrisonNumber: "B200", Terminal: "t9", Number: "+443", Start: start.Add(2 * time.Hour), End: start.Add(2 * time.Hour), Disposition: wire.DispRefused, Reason: "number not approved"}
	evB := []wire.Event{mk("appB", 1, r3)}
	if ack, err := e.st.StoreEvents(ctx, "appA", evA); err != nil || ack != 2 {
		t.Fatal(ack, err)
	}
	if ack, err := e.st.StoreEvents(ctx, "appB", evB); err != nil || ack != 1 {
		t.Fatal(ack, err)
	}
	if withRecording != nil {
		up := &wire.RecordingUpload{V: 1, ApplianceID: "appA", CallID: "c1", Ref: *r1.Recording, Data: withRecording}
		if err := e.st.StoreRecording(ctx, "appA", up); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCalls(t *testing.T) {
	e := newEnv(t)
	seedCalls(t, e, nil)
	ids := func(q string) string {
		t.Helper()
		var out struct{ Calls []store.Call }
		if r := e.do("GET", "/api/v1/calls"+q, e.viewer, nil, &out); r.StatusCode != 200 {
			t.Fatalf("%s: %d", q, r.StatusCode)
		}
		var s []string
		for _, c := range out.Calls {
			s = append(s, c.ID)
		}
		return strings.Join(s, ",")
	}
	for q, want := range map[string]string{
		"":                                    "c3,c2,c1",
		"?block=A":                            "c2,c1",
		"?inmate=A100":                        "c2,c1",
		"?inmate=B200":                        "c3",
		"?number=" + url.QueryEscape("+44 2"): "c2",
		"?disposition=refused":                "c3",
		"?from=" + url.QueryEscape(t0.Add(30*time.Minute).Format(time.RFC3339)):                                                     "c3,c2",
		"?from=" + url.QueryEscape(t0.Format(time.RFC3339)) + "&to=" + url.QueryEscape(t0.Add(90*time.Minute).Format(time.RFC3339)): "c2,c1",
		"?limit=1&offset=1": "c2",
	} {
		if got := ids(q); got != want {
			t.Errorf("calls%s = %s, want %s", q, got, want)
		}
	}
	var c store.Call
	e.do("GET", "/api/v1/calls/c1", e.viewer, nil, &c)
	if c.DurationSeconds != 90 || c.Disposition != wire.DispCompleted || c.Block != "A" {
		t.Fatalf("call %+v", c)
	}
	// Searches are audited.
	var audit struct{ Audit []store.AuditEntry }
	e.do("GET", "/api/v1/audit?action=calls.search", e.admin, nil, &audit)
	if len(audit.Audit) < 9 || audit.Audit[0].Actor != "token:auditor" {
		t.Fatalf("search audit %+v", audit.Audit)
	}
}

func TestRecordingServedAndAudited(t *testing.T) {
	e := newEnv(t)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{0x7f}, 4000)...)
	seedCalls(t, e, wav)
	// Not uploaded: clear 404.
	var eb struct{ Error string }
	// read_only (a viewer token) may not play recordings.
	if s := e.status("GET", "/api/v1/calls/c1/recording", e.viewer, nil); s != 403 {
		t.Fatalf("viewer playback: %d", s)
	}
	if r := e.do("GET", "/api/v1/calls/c2/recording", e.admin, nil, &eb); r.StatusCode != 404 || !strings.Contains(eb.Error, "no recording uploaded") {
		t.Fatalf("missing recording: %d %q", r.StatusCode, eb.Error)
	}
	if s := e.status("GET", "/api/v1/calls/nope/recording", e.admin, nil); s != 404 {
		t.Fatalf("unknown call: %d", s)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/calls/c1/recording", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(body, wav) {
		t.Fatalf("recording: %d %s %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	// Range request.
	req.Header.Set("Range", "bytes=0-3")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(body) != "RIFF" {
		t.Fatalf("range: %d %q", resp.StatusCode, body)
	}
	req.Method = http.MethodHead
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 206 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()
	// Without a token: 401 and no audit entry.
	if s := e.status("GET", "/api/v1/calls/c1/recording", "", nil); s != 401 {
		t.Fatalf("anonymous: %d", s)
	}
	var audit struct{ Audit []store.AuditEntry }
	e.do("GET", "/api/v1/audit?action=recording.play", e.admin, nil, &audit)
	// The whole file, a range and a HEAD in a row are one listening: one
	// entry, the first request's (recordings.ListeningWindow).
	if len(audit.Audit) != 1 {
		t.Fatalf("playback audit %+v", audit.Audit)
	}
	for _, a := range audit.Audit {
		if a.Actor != "token:admin" || a.Target != "c1" || strings.Contains(a.Detail, "range=") {
			t.Fatalf("audit entry %+v", a)
		}
	}
}

func TestAppliancesAndTokens(t *testing.T) {
	e := newEnv(t)
	var out struct{ Appliances []store.Appliance }
	e.do("GET", "/api/v1/appliances", e.viewer, nil, &out)
	if len(out.Appliances) != 2 || out.Appliances[0].ID != "appA" || out.Appliances[0].Block != "A" || out.Appliances[0].PolicyVersionCurrent == 0 {
		t.Fatalf("appliances %+v", out.Appliances)
	}
	var tok struct{ Token string }
	if r := e.do("POST", "/api/v1/tokens", e.admin, map[string]string{"name": "ops", "role": "viewer"}, &tok); r.StatusCode != 201 || tok.Token == "" {
		t.Fatalf("token: %d %v", r.StatusCode, tok)
	}
	if s := e.status("GET", "/api/v1/calls", tok.Token, nil); s != 200 {
		t.Fatalf("new token: %d", s)
	}
	if s := e.status("POST", "/api/v1/tokens", e.admin, map[string]string{"name": "ops", "role": "viewer"}); s != 409 {
		t.Fatalf("duplicate token name: %d", s)
	}
	if s := e.status("POST", "/api/v1/tokens", e.admin, map[string]string{"name": "x", "role": "root"}); s != 422 {
		t.Fatalf("bad role: %d", s)
	}
}

func TestStatusFor(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("x: %w", store.ErrNotFound):     404,
		fmt.Errorf("x: %w", store.ErrConflict):     409,
		fmt.Errorf("x: %w", store.ErrInvalid):      422,
		fmt.Errorf("x: %w", store.ErrUnknownBlock): 422,
		fmt.Errorf("x: %w", ErrBadRequest):         400,
		errors.New("disk on fire"):                 500,
	} {
		if got := StatusFor(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}

// Every people search is audited, officers as well as people in prison.
func TestPeopleSearchesAudited(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []string{"inmates", "officers"} {
		e.do("GET", "/api/v1/"+kind+"?status=active", e.admin, nil, nil)
		var audit struct{ Audit []store.AuditEntry }
		e.do("GET", "/api/v1/audit?action="+kind+".search", e.admin, nil, &audit)
		if len(audit.Audit) != 1 || audit.Audit[0].Target != kind || audit.Audit[0].Detail != "status=active" {
			t.Errorf("%s search audit: %+v", kind, audit.Audit)
		}
	}
}
