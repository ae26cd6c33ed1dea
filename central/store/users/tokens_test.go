package users

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
)

func by(u *User) Creator { return Creator{Actor: u.Actor(), Role: u.Role, UserID: u.ID} }

func count(t *testing.T, core *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := core.Reader().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTokenLifecycle(t *testing.T) {
	s, core, clk := openTest(t)
	ctx := context.Background()
	ivy := mkUser(t, s, core, "ivy", store.RoleInvestigator)
	sec, tok, err := s.CreateToken(ctx, by(ivy), NewToken{Name: "scripts", Role: store.RoleInvestigator})
	mustT(t, err)
	if tok.Owner != ivy.ID || tok.OwnerName != "ivy" || tok.Expires == nil || !tok.Expires.Equal(t0.Add(DefaultTokenTTL)) {
		t.Fatalf("token %+v", tok)
	}
	if count(t, core, `SELECT COUNT(*) FROM tokens WHERE sha256 = $1`, store.TokenHash(sec)) != 1 ||
		count(t, core, `SELECT COUNT(*) FROM tokens WHERE sha256 = $1 OR name = $1 OR id = $1`, sec) != 0 {
		t.Fatal("the token is not stored as its hash alone")
	}
	got, err := s.AuthenticateToken(ctx, sec)
	if err != nil || got.ID != tok.ID || got.OwnerTOTP || got.LastUsed == nil {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, err := s.AuthenticateToken(ctx, sec+"x"); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, by(ivy), NewToken{Name: "scripts", Role: store.RoleReadOnly}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same name: %v", err)
	}
	if _, _, err := s.EnrollTOTP(ctx, "test", ivy.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AuthenticateToken(ctx, sec); !got.OwnerTOTP {
		t.Fatal("the owner's second factor is not seen")
	}
	// Expiry on the store's clock.
	clk.Advance(DefaultTokenTTL - time.Second)
	mustT(t, errOnly(s.AuthenticateToken(ctx, sec)))
	clk.Advance(time.Second)
	if _, err := s.AuthenticateToken(ctx, sec); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("expired token: %v", err)
	}
	// Revocation: by its owner, not by another user; the name is free again.
	sec2, tok2, err := s.CreateToken(ctx, by(ivy), NewToken{Name: "cron", Role: store.RoleReadOnly, TTL: time.Hour})
	mustT(t, err)
	olga := mkUser(t, s, core, "olga", store.RoleReadOnly)
	if _, err := s.RevokeToken(ctx, olga.Actor(), olga.ID, tok2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user's token revoked: %v", err)
	}
	r, err := s.RevokeToken(ctx, ivy.Actor(), ivy.ID, tok2.ID)
	if err != nil || r.Revoked == nil || r.RevokedBy != "user:ivy" {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if _, err := s.AuthenticateToken(ctx, sec2); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("revoked token: %v", err)
	}
	mustT(t, errOnly(s.RevokeToken(ctx, "admin", "", tok2.ID)))
	if count(t, core, `SELECT COUNT(*) FROM audit_log WHERE action = 'token.revoke' AND target = $1`, tok2.ID) != 1 {
		t.Fatal("revocation not audited once")
	}
	_, _, err = s.CreateToken(ctx, by(ivy), NewToken{Name: "cron", Role: store.RoleReadOnly})
	mustT(t, err)
	if list, err := s.Tokens(ctx, ivy.ID); err != nil || len(list) != 3 {
		t.Fatalf("ivy's tokens: %d %v", len(list), err)
	}
	if list, err := s.Tokens(ctx, olga.ID); err != nil || len(list) != 0 {
		t.Fatalf("olga's tokens: %d %v", len(list), err)
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestTokenCeiling(t *testing.T) {
	s, core, _ := openTest(t)
	ctx := context.Background()
	fin := mkUser(t, s, core, "fay", store.RoleFinance)
	bo := mkUser(t, s, core, "bob", store.RoleBlockOfficer, "A")
	adm := mkUser(t, s, core, "ada", store.RoleSystemAdmin)
	for _, c := range []struct {
		who  *User
		role string
		ttl  time.Duration
		want error
	}{
		{fin, store.RoleSystemAdmin, 0, ErrTooStrong},
		{fin, "admin", 0, ErrTooStrong},
		{fin, store.RoleInvestigator, 0, ErrTooStrong},
		{fin, store.RoleFinance, 0, nil},
		{fin, "viewer", 0, nil},
		{fin, "root", 0, store.ErrInvalid},
		{fin, store.RoleReadOnly, MaxTokenTTL + time.Hour, store.ErrInvalid},
		{fin, store.RoleReadOnly, -time.Hour, store.ErrInvalid},
		{bo, store.RoleBlockOfficer, 0, nil},
		{adm, store.RoleBlockOfficer, 0, ErrTooStrong}, // a block officer's token needs an officer's blocks
		{adm, store.RoleInvestigator, MaxTokenTTL, nil},
	} {
		_, _, err := s.CreateToken(ctx, by(c.who), NewToken{Name: store.NewSecret()[:8], Role: c.role, TTL: c.ttl})
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s asks for %s (%v): %v, want %v", c.who.Username, c.role, c.ttl, err, c.want)
		}
	}
	// A token minting a token: not beyond the minting token's life.
	cr := Creator{Actor: "token:x", Role: store.RoleSystemAdmin, UserID: adm.ID, NotAfter: t0.Add(time.Hour)}
	if _, _, err := s.CreateToken(ctx, cr, NewToken{Name: "long", Role: store.RoleReadOnly, TTL: 2 * time.Hour}); !errors.Is(err, ErrTooStrong) {
		t.Fatalf("outlives its creator: %v", err)
	}
	// A block officer's token is scoped to the owner's blocks.
	sec, _, err := s.CreateToken(ctx, by(bo), NewToken{Name: "panel", Role: store.RoleBlockOfficer})
	mustT(t, err)
	if got, err := s.AuthenticateToken(ctx, sec); err != nil || len(got.Blocks) != 1 || got.Blocks[0] != "A" {
		t.Fatalf("officer token: %+v %v", got, err)
	}
	// Demoting the owner stops a token stronger than the new role;
	// disabling the owner stops every token.
	asec, _, err := s.CreateToken(ctx, by(adm), NewToken{Name: "ops", Role: store.RoleSystemAdmin})
	mustT(t, err)
	vsec, _, err := s.CreateToken(ctx, by(adm), NewToken{Name: "view", Role: store.RoleReadOnly})
	mustT(t, err)
	inv := store.RoleInvestigator
	mustT(t, errOnly(s.UpdateUser(ctx, "test", adm.ID, UserUpdate{Role: &inv})))
	if _, err := s.AuthenticateToken(ctx, asec); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("token above its demoted owner: %v", err)
	}
	mustT(t, errOnly(s.AuthenticateToken(ctx, vsec)))
	yes := true
	mustT(t, errOnly(s.UpdateUser(ctx, "test", adm.ID, UserUpdate{Disabled: &yes})))
	if _, err := s.AuthenticateToken(ctx, vsec); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("token of a disabled owner: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, by(adm), NewToken{Name: "late", Role: store.RoleReadOnly}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a disabled user creates a token: %v", err)
	}
}

func TestTokenSessions(t *testing.T) {
	s, core, _ := openTest(t)
	ctx := context.Background()
	ivy := mkUser(t, s, core, "ivy", store.RoleInvestigator)
	sec, tok, err := s.CreateToken(ctx, by(ivy), NewToken{Name: "console", Role: store.RoleReadOnly})
	mustT(t, err)
	got, err := s.AuthenticateToken(ctx, sec)
	mustT(t, err)
	id, _, err := s.StartSession(ctx, NewSession{Actor: "token:console", Role: got.Role, TokenID: got.ID, TTL: time.Hour})
	mustT(t, err)
	se, err := s.SessionByID(ctx, id)
	if err != nil || se.MFA || se.Owner != ivy.ID || se.UserID != "" {
		t.Fatalf("token session: %+v %v", se, err)
	}
	_, _, err = s.EnrollTOTP(ctx, "test", ivy.ID)
	mustT(t, err)
	if se, _ := s.SessionByID(ctx, id); se == nil || !se.MFA {
		t.Fatal("the session does not follow the owner's second factor")
	}
	mustT(t, errOnly(s.RevokeToken(ctx, "test", "", tok.ID)))
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("session of a revoked token: %v", err)
	}
}

func TestBootstrapToken(t *testing.T) {
	s, core, _ := openTest(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "sub", "admin-token")
	mustT(t, s.EnsureAdminToken(ctx, path, log))
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	old := strings.TrimSpace(string(b))
	got, err := s.AuthenticateToken(ctx, old)
	if err != nil || got.Owner != BootstrapUserID || got.Role != store.RoleSystemAdmin || got.Expires != nil || !got.Bootstrap || got.OwnerTOTP {
		t.Fatalf("bootstrap token: %+v %v", got, err)
	}
	// The bootstrap administrator cannot sign in with a password.
	if _, _, err := s.Login(ctx, BootstrapUsername, "", ""); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("bootstrap password sign-in: %v", err)
	}
	// Starting again keeps it; rotating revokes it and writes a new one.
	mustT(t, s.EnsureAdminToken(ctx, path, log))
	mustT(t, s.RotateAdminToken(ctx, "cli", path))
	b, _ = os.ReadFile(path)
	fresh := strings.TrimSpace(string(b))
	if fi, _ := os.Stat(path); fresh == old || fi.Mode().Perm() != 0o600 {
		t.Fatal("rotation did not write a new token file of mode 0600")
	}
	if _, err := s.AuthenticateToken(ctx, old); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("rotated-out token: %v", err)
	}
	mustT(t, errOnly(s.AuthenticateToken(ctx, fresh)))
	if count(t, core, `SELECT COUNT(*) FROM audit_log WHERE action = 'token.rotate' AND actor = 'cli'`) != 1 {
		t.Fatal("rotation not audited")
	}
	// A revoked token left in the file is not brought back by a restart.
	mustT(t, os.WriteFile(path, []byte(old+"\n"), 0o600))
	mustT(t, s.EnsureAdminToken(ctx, path, log))
	if _, err := s.AuthenticateToken(ctx, old); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("a restart revived a revoked token: %v", err)
	}
	// Disabling the bootstrap administrator stops its tokens.
	yes := true
	mustT(t, errOnly(s.UpdateUser(ctx, "test", BootstrapUserID, UserUpdate{Disabled: &yes})))
	if _, err := s.AuthenticateToken(ctx, fresh); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("token of the disabled bootstrap administrator: %v", err)
	}
}
