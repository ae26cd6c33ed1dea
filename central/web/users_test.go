package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/totp"
	"github.com/kinline/kinline/central/store/users"
)

const pw = "correct horse battery"

func mkUser(t *testing.T, st *store.Store, name, role string, blocks ...string) *users.User {
	t.Helper()
	for _, b := range blocks {
		if err := st.EnsureBlock(context.Background(), "test", b); err != nil {
			t.Fatal(err)
		}
	}
	u, err := users.New(st).CreateUser(context.Background(), "test", users.NewUser{Username: name, DisplayName: name, Role: role, Blocks: blocks, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPasswordLoginWithSecondFactor(t *testing.T) {
	st, srv, _, wav, clk := setupClock(t)
	ctx := context.Background()
	u := mkUser(t, st, "ivy", store.RoleInvestigator)
	secret, _, err := users.New(st).EnrollTOTP(ctx, "test", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := totp.DecodeSecret(secret)
	c := client(t)
	// Password without the code, and a wrong code, are refused.
	for _, code := range []string{"", "000000"} {
		r := loginForm(t, c, srv, url.Values{"username": {"ivy"}, "password": {pw}, "code": {code}})
		if r.StatusCode != http.StatusUnauthorized || sessionCookie(r) != nil {
			t.Fatalf("code %q: %d", code, r.StatusCode)
		}
	}
	r := loginForm(t, c, srv, url.Values{"username": {"ivy"}, "password": {pw}, "code": {totp.Code(key, clk.Now())}})
	if r.StatusCode != http.StatusSeeOther || sessionCookie(r) == nil {
		t.Fatalf("login with code: %d", r.StatusCode)
	}
	resp, body := get(t, c, srv.URL+"/calls")
	if resp.StatusCode != 200 || !strings.Contains(body, "Signed in as user:ivy") || !strings.Contains(body, "<audio") {
		t.Fatalf("calls: %d", resp.StatusCode)
	}
	resp, body = get(t, c, srv.URL+"/calls/rec-call/recording")
	if resp.StatusCode != 200 || body != string(wav) {
		t.Fatalf("playback with second factor: %d", resp.StatusCode)
	}
	if l, _ := st.AuditLog(ctx, store.AuditFilter{Action: "recording.play"}); len(l) != 1 || l[0].Actor != "user:ivy" {
		t.Fatalf("playback audit %+v", l)
	}
}

func TestPlaybackRefusedWithoutSecondFactor(t *testing.T) {
	st, srv, _, _ := setup(t)
	mkUser(t, st, "ian", store.RoleInvestigator)
	c := client(t)
	if r := loginForm(t, c, srv, url.Values{"username": {"ian"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	resp, body := get(t, c, srv.URL+"/calls")
	if resp.StatusCode != 200 || strings.Contains(body, "<audio") || !strings.Contains(body, "playback needs") {
		t.Fatalf("calls page offers a player without a second factor: %d", resp.StatusCode)
	}
	if resp, body := get(t, c, srv.URL+"/calls/rec-call/recording"); resp.StatusCode != 403 || !strings.Contains(body, "second factor") {
		t.Fatalf("playback: %d %q", resp.StatusCode, body)
	}
	if l, _ := st.AuditLog(context.Background(), store.AuditFilter{Action: "recording.play"}); len(l) != 0 {
		t.Fatal("refused playback audited as played")
	}
}

func TestLoginCSRFRefused(t *testing.T) {
	st, srv, tok, _ := setup(t)
	c := client(t)
	// No sign-in form token (a forged form): refused, no session.
	if r := loginRaw(t, c, srv, tok); r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil {
		t.Fatalf("login without csrf: %d", r.StatusCode)
	}
	// A form token that does not match the cookie: refused.
	get(t, c, srv.URL+"/login")
	r, err := c.PostForm(srv.URL+"/login", url.Values{"token": {tok}, "csrf": {strings.Repeat("a", 64)}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden || sessionCookie(r) != nil {
		t.Fatalf("login with wrong csrf: %d", r.StatusCode)
	}
	if l, _ := st.AuditLog(context.Background(), store.AuditFilter{Action: "login"}); len(l) != 0 {
		t.Fatal("session created")
	}
	// Logout with another session's token is refused too.
	login(t, c, srv, tok)
	other := client(t)
	login(t, other, srv, tok)
	_, body := get(t, other, srv.URL+"/calls")
	lo, err := c.PostForm(srv.URL+"/logout", url.Values{"csrf": {csrfOf(t, body)}})
	if err != nil {
		t.Fatal(err)
	}
	lo.Body.Close()
	if lo.StatusCode != http.StatusForbidden {
		t.Fatalf("logout with another session's csrf: %d", lo.StatusCode)
	}
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	st, srv, _, _, clk := setupClock(t)
	mkUser(t, st, "rita", store.RoleReadOnly)
	c := client(t)
	loginForm(t, c, srv, url.Values{"username": {"rita"}, "password": {pw}})
	for range 3 {
		clk.Advance(25 * time.Minute)
		if resp, _ := get(t, c, srv.URL+"/calls"); resp.StatusCode != 200 {
			t.Fatalf("active session: %d", resp.StatusCode)
		}
	}
	clk.Advance(30 * time.Minute)
	if resp, _ := get(t, c, srv.URL+"/calls"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("idle session: %d", resp.StatusCode)
	}
	// Absolute: 8 hours however busy.
	loginForm(t, c, srv, url.Values{"username": {"rita"}, "password": {pw}})
	for range 19 {
		clk.Advance(25 * time.Minute)
		if resp, _ := get(t, c, srv.URL+"/calls"); resp.StatusCode != 200 {
			t.Fatalf("busy session: %d", resp.StatusCode)
		}
	}
	clk.Advance(25 * time.Minute) // 8 h 20 min
	if resp, _ := get(t, c, srv.URL+"/calls"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("session past 8 h: %d", resp.StatusCode)
	}
}

func TestBlockOfficerConsoleScoped(t *testing.T) {
	st, srv, _, _ := setup(t)
	ctx := context.Background()
	u := mkUser(t, st, "olga", store.RoleBlockOfficer, "B")
	secret, _, _ := users.New(st).EnrollTOTP(ctx, "test", u.ID)
	key, _ := totp.DecodeSecret(secret)
	c := client(t)
	if r := loginForm(t, c, srv, url.Values{"username": {"olga"}, "password": {pw}, "code": {totp.Code(key, t0)}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	resp, body := get(t, c, srv.URL+"/calls")
	if resp.StatusCode != 200 || !strings.Contains(body, "No calls match") {
		t.Fatalf("block A calls shown to a block B officer: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, srv.URL+"/calls?block=A"); resp.StatusCode != 403 {
		t.Fatalf("block filter: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, srv.URL+"/calls/rec-call/recording"); resp.StatusCode != 403 {
		t.Fatalf("other block's recording: %d", resp.StatusCode)
	}
}
