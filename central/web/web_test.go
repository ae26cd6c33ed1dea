package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*store.Store, *httptest.Server, string, []byte) {
	t.Helper()
	st, srv, tok, wav, _ := setupClock(t)
	return st, srv, tok, wav
}

// setupClock is setup also returning the store's fake clock.
func setupClock(t *testing.T) (*store.Store, *httptest.Server, string, []byte, *clock.Fake) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	st, err := storetest.Open(ctx, t, filepath.Join(dir, "c.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The admin token is the bootstrap one, its owner with a second factor.
	us := users.New(st)
	if err := us.EnsureAdminToken(ctx, filepath.Join(dir, "admin-token"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	tb, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(tb))
	if _, _, err := us.EnrollTOTP(ctx, "test", users.BootstrapUserID); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertAppliance(ctx, "appA", "A"); err != nil {
		t.Fatal(err)
	}
	p, err := people.New(st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A100", Name: "Ann <b>Lee</b>", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := people.New(st).AddContact(ctx, "test", p.ID, people.NewContact{Number: "+44 800 111", Name: "Lawyer", Privileged: true}); err != nil {
		t.Fatal(err)
	}
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt fake audio bytes")
	sum := sha256.Sum256(wav)
	ref := wire.RecordingRef{ID: "r1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(wav)), Format: "wav/pcmu-stereo"}
	ans := t0.Add(5 * time.Second)
	recs := []wire.CallRecord{
		{CallID: "rec-call", PersonID: p.ID, Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(75 * time.Second), Disposition: wire.DispCompleted, Recording: &ref},
		{CallID: "priv-call", PersonID: p.ID, Terminal: "t1", Number: "+44800111", Start: t0.Add(time.Hour), Answer: &ans, End: ans.Add(time.Hour), Disposition: wire.DispCompleted},
		{CallID: "refused-call", PersonID: p.ID, Terminal: "t2", Number: "+449", Start: t0.Add(2 * time.Hour), End: t0.Add(2 * time.Hour), Disposition: wire.DispRefused, Reason: "number not approved"},
	}
	var evs []wire.Event
	prev := ""
	for i, rc := range recs {
		b, _ := json.Marshal(rc)
		ev := wire.Event{ApplianceID: "appA", Seq: uint64(i + 1), Time: rc.End, Type: wire.EventCall, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		evs = append(evs, ev)
	}
	if _, err := st.StoreEvents(ctx, "appA", evs); err != nil {
		t.Fatal(err)
	}
	if err := st.StoreRecording(ctx, "appA", &wire.RecordingUpload{V: 1, ApplianceID: "appA", CallID: "rec-call", Ref: ref, Data: wav}); err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return st, srv, tok, wav, clk
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// csrfOf is the CSRF token in a page's forms.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in %q", body)
	}
	return m[1]
}

// loginForm opens the sign-in page and posts form with its CSRF token.
func loginForm(t *testing.T, c *http.Client, srv *httptest.Server, form url.Values) *http.Response {
	t.Helper()
	_, body := get(t, c, srv.URL+"/login")
	form.Set("csrf", csrfOf(t, body))
	resp, err := c.PostForm(srv.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func sessionCookie(r *http.Response) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

func login(t *testing.T, c *http.Client, srv *httptest.Server, tok string) *http.Response {
	t.Helper()
	return loginForm(t, c, srv, url.Values{"token": {tok}})
}

func loginRaw(t *testing.T, c *http.Client, srv *httptest.Server, tok string) *http.Response {
	t.Helper()
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestLoginAndCalls(t *testing.T) {
	st, srv, tok, wav := setup(t)
	c := client(t)
	// Without a session everything leads to /login.
	for _, p := range []string{"/", "/calls", "/calls/rec-call/recording"} {
		resp, _ := get(t, c, srv.URL+p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("%s without session: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, body := get(t, c, srv.URL+"/login")
	if resp.StatusCode != 200 || !strings.Contains(body, `<label for="token">`) || !strings.Contains(body, `lang="en"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	// Wrong token: 401, no cookie.
	if r := login(t, c, srv, "nope"); r.StatusCode != http.StatusUnauthorized || sessionCookie(r) != nil {
		t.Fatalf("bad login: %d %v", r.StatusCode, r.Cookies())
	}
	r := login(t, c, srv, tok)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/calls" {
		t.Fatalf("login: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	ck := []*http.Cookie{sessionCookie(r)}
	if ck[0] == nil || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || len(ck[0].Value) < 32 {
		t.Fatalf("cookie %+v", ck)
	}
	if ck[0].Value == tok || strings.Contains(ck[0].Value, tok) {
		t.Fatal("session cookie carries the token")
	}
	resp, _ = get(t, c, srv.URL+"/")
	if resp.Header.Get("Location") != "/calls" {
		t.Fatalf("/ with session -> %s", resp.Header.Get("Location"))
	}
	resp, body = get(t, c, srv.URL+"/calls")
	if resp.StatusCode != 200 {
		t.Fatalf("calls: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<audio controls preload="none" src="/calls/rec-call/recording"`,
		"privileged: not recorded",
		"no recording",
		"number not approved",
		"1:15", // 75 s talk time
		"Ann &lt;b&gt;Lee&lt;/b&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("calls page lacks %q", want)
		}
	}
	if strings.Count(body, "<audio") != 1 {
		t.Errorf("%d players, want 1", strings.Count(body, "<audio"))
	}
	// html/template writes "+" as "&#43;".
	i9, i1 := strings.Index(body, "&#43;449"), strings.Index(body, "&#43;441")
	if i9 < 0 || i1 < 0 || i9 > i1 {
		t.Error("calls not newest first")
	}
	// Filter.
	_, body = get(t, c, srv.URL+"/calls?disposition=refused&number=&inmate=")
	if strings.Contains(body, "<audio") || !strings.Contains(body, "&#43;449") {
		t.Error("disposition filter not applied")
	}
	// Recording through the cookie, audited with the actor.
	resp, body = get(t, c, srv.URL+"/calls/rec-call/recording")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" || body != string(wav) {
		t.Fatalf("recording: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, body = get(t, c, srv.URL+"/calls/priv-call/recording")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "privileged") {
		t.Fatalf("privileged recording: %d %q", resp.StatusCode, body)
	}
	if l, _ := st.AuditLog(context.Background(), store.AuditFilter{Action: "recording.refused"}); len(l) != 1 || l[0].Target != "priv-call" {
		t.Fatalf("refused playback audit %+v", l)
	}
	log, err := st.AuditLog(context.Background(), store.AuditFilter{Action: "recording.play"})
	if err != nil || len(log) != 1 || log[0].Actor != "token:admin" || log[0].Target != "rec-call" {
		t.Fatalf("playback audit %+v %v", log, err)
	}
	if l, _ := st.AuditLog(context.Background(), store.AuditFilter{Action: "login"}); len(l) != 1 {
		t.Fatalf("login audit %+v", l)
	}
	// Logout needs the session's CSRF token, then ends the session server-side.
	lo, err := c.PostForm(srv.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	lo.Body.Close()
	if lo.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without csrf: %d", lo.StatusCode)
	}
	if _, err := users.New(st).SessionByID(context.Background(), ck[0].Value); err != nil {
		t.Fatal("session ended by a logout without csrf")
	}
	_, body = get(t, c, srv.URL+"/calls")
	lo, err = c.PostForm(srv.URL+"/logout", url.Values{"csrf": {csrfOf(t, body)}})
	if err != nil {
		t.Fatal(err)
	}
	lo.Body.Close()
	if _, err := users.New(st).SessionByID(context.Background(), ck[0].Value); err == nil {
		t.Fatal("session alive after logout")
	}
	resp, _ = get(t, c, srv.URL+"/calls")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("calls after logout: %d", resp.StatusCode)
	}
}

func TestCrossSiteLoginRefused(t *testing.T) {
	_, srv, tok, _ := setup(t)
	req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("cross-site login: %d", resp.StatusCode)
	}
}

func TestBadFilterShowsError(t *testing.T) {
	_, srv, tok, _ := setup(t)
	c := client(t)
	login(t, c, srv, tok)
	resp, body := get(t, c, srv.URL+"/calls?number=abc")
	if resp.StatusCode != 400 || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("bad filter: %d", resp.StatusCode)
	}
}
