package api

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

type tokenOut struct {
	ID, Name, Role, Owner, Token string
	Expires, Revoked             *time.Time
}

func TestTokenRoutes(t *testing.T) {
	e := newEnv(t)
	ivy := e.sessionFor("ivy", store.RoleInvestigator, true)
	fay := e.sessionFor("fay", store.RoleFinance, true)
	// A user creates a token (default expiry), which lists it, never its secret.
	var mine tokenOut
	if r := e.call(ivy, true, "POST", "/api/v1/tokens", map[string]any{"name": "scripts", "role": "investigator"}, &mine); r.StatusCode != 201 ||
		mine.Token == "" || mine.Owner != ivy.user.ID || mine.Expires == nil || !mine.Expires.Equal(t0.Add(users.DefaultTokenTTL)) {
		t.Fatalf("create: %d %+v", r.StatusCode, mine)
	}
	var list struct{ Tokens []tokenOut }
	if r := e.call(ivy, false, "GET", "/api/v1/tokens", nil, &list); r.StatusCode != 200 || len(list.Tokens) != 1 || list.Tokens[0].Token != "" {
		t.Fatalf("ivy's list: %d %+v", r.StatusCode, list)
	}
	list.Tokens = nil
	e.call(fay, false, "GET", "/api/v1/tokens", nil, &list)
	if len(list.Tokens) != 0 {
		t.Fatalf("fay sees %+v", list.Tokens)
	}
	list.Tokens = nil
	e.do("GET", "/api/v1/tokens", e.admin, nil, &list) // admin: every token
	if len(list.Tokens) != 3 {
		t.Fatalf("admin's list: %+v", list.Tokens)
	}
	// Hostile: stronger than the creator, longer than allowed, a token
	// minting a stronger or longer-lived one, another user's revocation.
	var eb struct{ Error string }
	if r := e.call(fay, true, "POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "admin"}, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, "stronger") {
		t.Fatalf("finance mints admin: %d %q", r.StatusCode, eb.Error)
	}
	if s := e.call(fay, true, "POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "viewer", "expires_days": 400}, nil).StatusCode; s != 422 {
		t.Fatalf("400 days: %d", s)
	}
	if s := e.status("POST", "/api/v1/tokens", mine.Token, map[string]any{"name": "up", "role": "admin"}); s != 403 {
		t.Fatalf("investigator token mints admin: %d", s)
	}
	if s := e.status("POST", "/api/v1/tokens", mine.Token, map[string]any{"name": "long", "role": "viewer", "expires_days": 91}); s != 403 {
		t.Fatalf("token mints a longer-lived one: %d", s)
	}
	var child tokenOut
	if r := e.do("POST", "/api/v1/tokens", mine.Token, map[string]any{"name": "child", "role": "viewer", "expires_days": 30}, &child); r.StatusCode != 201 || child.Owner != ivy.user.ID || child.Role != store.RoleReadOnly {
		t.Fatalf("token mints a weaker one: %d %+v", r.StatusCode, child)
	}
	if s := e.call(fay, true, "DELETE", "/api/v1/tokens/"+mine.ID, nil, nil).StatusCode; s != 404 {
		t.Fatalf("fay revokes ivy's token: %d", s)
	}
	if s := e.status("GET", "/api/v1/calls", mine.Token, nil); s != 200 {
		t.Fatalf("token after a refused revocation: %d", s)
	}
	// Revocation: DELETE by its owner, POST .../revoke by an admin; then 401.
	var rv tokenOut
	if r := e.call(ivy, true, "DELETE", "/api/v1/tokens/"+child.ID, nil, &rv); r.StatusCode != 200 || rv.Revoked == nil {
		t.Fatalf("revoke: %d %+v", r.StatusCode, rv)
	}
	if s := e.status("GET", "/api/v1/calls", child.Token, nil); s != 401 {
		t.Fatalf("revoked token: %d", s)
	}
	if s := e.status("POST", "/api/v1/tokens/"+mine.ID+"/revoke", e.admin, nil); s != 200 {
		t.Fatalf("admin revokes: %d", s)
	}
	if s := e.status("GET", "/api/v1/calls", mine.Token, nil); s != 401 {
		t.Fatalf("revoked token: %d", s)
	}
	if s := e.status("DELETE", "/api/v1/tokens/t_nope", e.admin, nil); s != 404 {
		t.Fatalf("unknown token: %d", s)
	}
}

func TestTokenExpiryAndDisabledOwner(t *testing.T) {
	e := newEnv(t)
	clk := e.st.Clock().(*clock.Fake)
	ivy := e.sessionFor("ivy", store.RoleInvestigator, true)
	var tok tokenOut
	e.call(ivy, true, "POST", "/api/v1/tokens", map[string]any{"name": "day", "role": "viewer", "expires_days": 1}, &tok)
	var long tokenOut
	e.call(ivy, true, "POST", "/api/v1/tokens", map[string]any{"name": "year", "role": "viewer", "expires_days": 365}, &long)
	if s := e.status("GET", "/api/v1/calls", tok.Token, nil); s != 200 {
		t.Fatalf("fresh token: %d", s)
	}
	clk.Advance(24 * time.Hour)
	if s := e.status("GET", "/api/v1/calls", tok.Token, nil); s != 401 {
		t.Fatalf("expired token: %d", s)
	}
	if s := e.status("GET", "/api/v1/calls", long.Token, nil); s != 200 {
		t.Fatalf("year token: %d", s)
	}
	yes := true
	if _, err := users.New(e.st).UpdateUser(context.Background(), "test", ivy.user.ID, users.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if s := e.status("GET", "/api/v1/calls", long.Token, nil); s != 401 {
		t.Fatalf("token of a disabled owner: %d", s)
	}
}

// TestTokenPlaybackNeedsOwnersSecondFactor: a token whose owner has no
// TOTP may not play or export (403 saying what to do); with TOTP it may.
func TestTokenPlaybackNeedsOwnersSecondFactor(t *testing.T) {
	e := newEnv(t)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{0x7f}, 400)...)
	seedCalls(t, e, wav)
	ivy := e.sessionFor("ivy", store.RoleInvestigator, true)
	var tok tokenOut
	e.call(ivy, true, "POST", "/api/v1/tokens", map[string]any{"name": "play", "role": "investigator"}, &tok)
	var eb struct{ Error string }
	for _, p := range []string{"/api/v1/calls/c1/recording", "/api/v1/export/calls.csv"} {
		if r := e.do("GET", p, tok.Token, nil, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, "enrols TOTP") {
			t.Fatalf("%s without the owner's TOTP: %d %q", p, r.StatusCode, eb.Error)
		}
	}
	if _, _, err := users.New(e.st).EnrollTOTP(context.Background(), "test", ivy.user.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/api/v1/calls/c1/recording", tok.Token, nil, nil); r.StatusCode != 200 {
		t.Fatalf("with the owner's TOTP: %d", r.StatusCode)
	}
	// The role still decides: a read-only token of the same owner may not.
	var ro tokenOut
	e.call(ivy, true, "POST", "/api/v1/tokens", map[string]any{"name": "ro", "role": "viewer"}, &ro)
	if s := e.status("GET", "/api/v1/calls/c1/recording", ro.Token, nil); s != 403 {
		t.Fatalf("read-only token plays: %d", s)
	}
}

// TestBlockOfficerTokenScoped: a block officer's token sees its owner's
// blocks only.
func TestBlockOfficerTokenScoped(t *testing.T) {
	e := newEnv(t)
	seedCalls(t, e, nil)
	bo := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	var tok tokenOut
	if r := e.call(bo, true, "POST", "/api/v1/tokens", map[string]any{"name": "panel", "role": "block_officer"}, &tok); r.StatusCode != 201 {
		t.Fatalf("officer token: %d", r.StatusCode)
	}
	var calls struct{ Calls []store.Call }
	if r := e.do("GET", "/api/v1/calls", tok.Token, nil, &calls); r.StatusCode != 200 || len(calls.Calls) != 1 || calls.Calls[0].ID != "c3" {
		t.Fatalf("scoped calls: %d %+v", r.StatusCode, calls.Calls)
	}
	if s := e.status("GET", "/api/v1/calls/c1", tok.Token, nil); s != 403 {
		t.Fatalf("other block's call: %d", s)
	}
}

// TestRefusedPlaybacksAudited: every refused playback is audited as
// "recording.refused" with its reason and the actor: a role that may not
// play, a token whose owner has no second factor, a session without one,
// another block's call, a hidden call; nothing is played.
func TestRefusedPlaybacksAudited(t *testing.T) {
	e := newEnv(t)
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{0x7f}, 400)...)
	seedCalls(t, e, wav) // c1 recorded, c2, block A
	ctx := context.Background()
	ivy := e.sessionFor("ivy", store.RoleInvestigator, true)
	var tok tokenOut
	e.call(ivy, true, "POST", "/api/v1/tokens", map[string]any{"name": "play", "role": "investigator"}, &tok)
	if s := e.status("GET", "/api/v1/calls/c1/recording", tok.Token, nil); s != 403 {
		t.Fatalf("token without second factor: %d", s)
	}
	if s := e.status("GET", "/api/v1/calls/c1/recording", e.viewer, nil); s != 403 {
		t.Fatalf("viewer: %d", s)
	}
	nomfa := e.sessionFor("noel", store.RoleInvestigator, false)
	if r := e.call(nomfa, false, "GET", "/api/v1/calls/c1/recording", nil, nil); r.StatusCode != 403 {
		t.Fatalf("session without second factor: %d", r.StatusCode)
	}
	offB := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	if r := e.call(offB, false, "GET", "/api/v1/calls/c1/recording", nil, nil); r.StatusCode != 403 {
		t.Fatalf("another block's officer: %d", r.StatusCode)
	}
	if _, _, err := people.New(e.st).AddGlobalNumber(ctx, "test", "+441", wire.NumberKindHidden, "investigation"); err != nil {
		t.Fatal(err)
	}
	offA := e.sessionFor("officer-a", store.RoleBlockOfficer, true, "A")
	if r := e.call(offA, false, "GET", "/api/v1/calls/c1/recording", nil, nil); r.StatusCode != 404 {
		t.Fatalf("hidden call for its block's officer: %d", r.StatusCode)
	}
	l, err := e.st.AuditLog(ctx, store.AuditFilter{Action: "recording.refused", Target: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range l {
		got = append(got, a.Actor+": "+a.Detail)
	}
	want := []string{"user:officer-a: hidden call", "user:officer-b: outside the caller's blocks", "user:noel: no second factor",
		"token:auditor: role may not play recordings", "token:play: token without a second factor"} // newest first
	if !slices.Equal(got, want) {
		t.Fatalf("refusals audited as %q, want %q", got, want)
	}
	if l, _ := e.st.AuditLog(ctx, store.AuditFilter{Action: "recording.play"}); len(l) != 0 {
		t.Fatalf("refused requests audited as playbacks: %+v", l)
	}
}
