package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/api"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// The tests here check the composition of the JSON API and the console
// (NewHTTP): the console is mounted beside the API, and its changes reach
// the API's notifier.

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
}

// newEnv serves NewHTTP(api.Deps{Store, Notifier}) with an admin and a
// viewer token and appliances appA (block A) and appB (block B).
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storetest.Open(ctx, t, filepath.Join(dir, "c.db"), filepath.Join(dir, "rec"), clock.NewFake(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &fakeNotifier{}
	h, err := NewHTTP(api.Deps{Store: st, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tokPath := filepath.Join(dir, "admin-token")
	us := users.New(st)
	if err := us.EnsureAdminToken(ctx, tokPath, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tokPath)
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
	return &env{t: t, st: st, srv: srv, n: n, admin: strings.TrimSpace(string(b)), viewer: viewer}
}

// do sends a JSON API request as token and decodes the answer into out.
func (e *env) do(method, path, token string, body any, out any) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
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
	return resp
}

type session struct{ id, csrf string }

// sessionFor creates a console user with role and a live session for them;
// mfa says whether the second factor was verified.
func (e *env) sessionFor(username, role string, mfa bool) session {
	e.t.Helper()
	ctx := context.Background()
	u, err := users.New(e.st).CreateUser(ctx, "test", users.NewUser{Username: username, DisplayName: username, Role: role, Password: "correct horse battery"})
	if err != nil {
		e.t.Fatal(err)
	}
	id, se, err := users.New(e.st).StartSession(ctx, users.NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, MFA: mfa, TTL: time.Hour, Idle: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return session{id: id, csrf: se.CSRF}
}

// TestAPIAndConsoleRouted: /api and /api/... reach the JSON API (its JSON
// 404 for an unknown path), everything else the console.
func TestAPIAndConsoleRouted(t *testing.T) {
	e := newEnv(t)
	var eb struct{ Error string }
	if r := e.do("GET", "/api/v1/nothing-here", e.admin, nil, &eb); r.StatusCode != http.StatusNotFound || eb.Error == "" {
		t.Fatalf("unknown API path: %d %q", r.StatusCode, eb.Error)
	}
	r, err := http.Get(e.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(b), "<form") {
		t.Fatalf("console sign-in page: %d %.200s", r.StatusCode, b)
	}
}

func TestConsoleMounted(t *testing.T) {
	e := newEnv(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("/ -> %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A console session cookie does not open the bearer API.
	resp, err = c.PostForm(e.srv.URL+"/login", url.Values{"token": {e.admin}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Cookies()
	if len(ck) != 1 {
		t.Fatalf("login cookies %v", ck)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/calls", nil)
	req.AddCookie(ck[0])
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("API with cookie only: %d", resp.StatusCode)
	}
}

// TestConsoleFormsReachTheNotifier: the console served by the API's
// handler publishes its policy changes through the API's notifier (a
// console recharge and a rate change, as in issue #6's audit).
func TestConsoleFormsReachTheNotifier(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	fin := e.sessionFor("fin", store.RoleFinance, false)
	form := func(path string, v url.Values) int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/accounts/"+ann.ID, nil)
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: fin.id})
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no csrf on the account page: %s", b)
		}
		v.Set("csrf", string(m[1]))
		req, _ = http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: fin.id})
		r, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	e.n.take()
	if s := form("/accounts/"+ann.ID+"/recharge", url.Values{"amount": {"5.00"}, "receipt": {"R-7"}}); s != http.StatusSeeOther {
		t.Fatalf("recharge: %d", s)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("console recharge notified %v", got)
	}
	if s := form("/money/rates", url.Values{"prefix": {"+44"}, "destination_type": {wire.DestNational}, "per_minute": {"0.05"}, "billing_unit_seconds": {"60"}}); s != http.StatusSeeOther {
		t.Fatalf("rate: %d", s)
	}
	got := e.n.take()
	sort.Strings(got)
	if !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("console rate change notified %v", got)
	}
	var rates struct{ Rates []json.RawMessage }
	e.do("GET", "/api/v1/rates", e.viewer, nil, &rates)
	if len(rates.Rates) != 1 {
		t.Fatalf("rates %s", rates.Rates)
	}
}

// TestConsoleChangesNotify: a change made on the console's management
// pages reaches the API server's notifier (the policy is republished).
func TestConsoleChangesNotify(t *testing.T) {
	e := newEnv(t)
	se := e.sessionFor("ada", store.RoleSystemAdmin, false)
	e.n.take()
	form := strings.NewReader("csrf=" + se.csrf + "&name=Zed&prison_number=A9&block=A")
	req, _ := http.NewRequest("POST", e.srv.URL+"/people", form)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "kinline_session", Value: se.id})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("console create: %d", r.StatusCode)
	}
	if got := e.n.take(); len(got) != 1 || got[0] != "A" {
		t.Fatalf("notified %v", got)
	}
}
