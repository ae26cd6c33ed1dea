package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store/totp"
)

func mkUser(t *testing.T, s *Store, username, role string, blocks ...string) *User {
	t.Helper()
	if len(blocks) > 0 {
		for _, b := range blocks {
			if err := s.EnsureBlock(context.Background(), "test", b); err != nil {
				t.Fatal(err)
			}
		}
	}
	u, err := s.CreateUser(context.Background(), "test", NewUser{Username: username, DisplayName: strings.ToUpper(username), Role: role, Blocks: blocks, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUserValidation(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mkUser(t, s, "ann", RoleBlockOfficer, "A")
	for _, in := range []NewUser{
		{Username: "ann", DisplayName: "Dup", Role: RoleReadOnly, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: RoleBlockOfficer, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: RoleBlockOfficer, Blocks: []string{"Z"}, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: RoleReadOnly, Blocks: []string{"A"}, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: "root", Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: RoleReadOnly, Password: "short"},
		{Username: "Bob Smith", DisplayName: "Bob", Role: RoleReadOnly, Password: "correct horse battery"},
	} {
		_, err := s.CreateUser(ctx, "test", in)
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrUnknownBlock) {
			t.Errorf("%+v accepted or wrong error: %v", in, err)
		}
	}
	us, err := s.Users(ctx)
	if err != nil || len(us) != 1 || us[0].Blocks[0] != "A" || us[0].TOTP {
		t.Fatalf("users %+v %v", us, err)
	}
}

func TestLoginLockoutAndBackoff(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	u := mkUser(t, s, "ann", RoleReadOnly)
	for i := 1; i <= MaxFailedLogins; i++ {
		if _, _, err := s.Login(ctx, "ann", "wrong password!!", ""); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	// Locked: even the right password is refused.
	if _, _, err := s.Login(ctx, "ann", "correct horse battery", ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("locked account: %v", err)
	}
	clk.Advance(LockoutBase - time.Second)
	if _, _, err := s.Login(ctx, "ann", "correct horse battery", ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("still locked: %v", err)
	}
	clk.Advance(time.Second)
	// One more failure after the lock doubles it (backoff).
	if _, _, err := s.Login(ctx, "ann", "wrong password!!", ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatal(err)
	}
	got, _ := s.User(ctx, u.ID)
	if got.FailedLogins != MaxFailedLogins+1 || got.LockedUntil == nil || !got.LockedUntil.Equal(clk.Now().Add(2*LockoutBase)) {
		t.Fatalf("backoff: %+v", got)
	}
	clk.Advance(2 * LockoutBase)
	lu, mfa, err := s.Login(ctx, "ann", "correct horse battery", "")
	if err != nil || lu.ID != u.ID || mfa {
		t.Fatalf("login after lock: %v %v", err, mfa)
	}
	got, _ = s.User(ctx, u.ID)
	if got.FailedLogins != 0 || got.LockedUntil != nil {
		t.Fatalf("not reset: %+v", got)
	}
	// Unknown users and disabled accounts fail the same way, audited.
	if _, _, err := s.Login(ctx, "nobody", "correct horse battery", ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatal(err)
	}
	dis := true
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{Disabled: &dis}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Login(ctx, "ann", "correct horse battery", ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("disabled: %v", err)
	}
	fails, _ := s.AuditLog(ctx, AuditFilter{Action: "login.failed", Limit: 1000})
	locks, _ := s.AuditLog(ctx, AuditFilter{Action: "login.locked"})
	if len(fails) != MaxFailedLogins+1+2 || len(locks) != 2 {
		t.Fatalf("audit: %d failed, %d locked", len(fails), len(locks))
	}
	if !strings.Contains(fails[0].Detail, "account disabled") || fails[1].Detail != "unknown user" {
		t.Fatalf("reasons: %q %q", fails[0].Detail, fails[1].Detail)
	}
}

func TestLoginTOTP(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	u := mkUser(t, s, "ivy", RoleInvestigator)
	secret, uri, err := s.EnrollTOTP(ctx, "test", u.ID)
	if err != nil || !strings.HasPrefix(uri, "otpauth://totp/Kinline:ivy?") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("enrol: %q %v", uri, err)
	}
	key, err := totp.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, u.ID); !got.TOTP {
		t.Fatal("not enrolled")
	}
	// Password alone is not enough any more.
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no code: %v", err)
	}
	// A code from two steps ago is refused; one from the previous step is
	// accepted (skew ±1) and reports the second factor.
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now().Add(-60*time.Second))); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("stale code: %v", err)
	}
	_, mfa, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now().Add(-30*time.Second)))
	if err != nil || !mfa {
		t.Fatalf("previous-step code: %v %v", err, mfa)
	}
	// The next step's code works too, once; replaying it fails, and so does
	// an older step than the last used.
	next := totp.Code(key, clk.Now().Add(30*time.Second))
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", next); err != nil {
		t.Fatalf("next-step code: %v", err)
	}
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", next); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("replayed code: %v", err)
	}
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now())); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("older step after newer: %v", err)
	}
	clk.Advance(60 * time.Second)
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now())); err != nil {
		t.Fatalf("fresh code: %v", err)
	}
	// Resetting TOTP makes the password alone enough again, without MFA.
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{ResetTOTP: true}); err != nil {
		t.Fatal(err)
	}
	if _, mfa, err := s.Login(ctx, "ivy", "correct horse battery", ""); err != nil || mfa {
		t.Fatalf("after reset: %v %v", err, mfa)
	}
}

func TestSessionExpiry(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	u := mkUser(t, s, "bo", RoleBlockOfficer, "A")
	id, se, err := s.StartSession(ctx, NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: 8 * time.Hour, Idle: 30 * time.Minute})
	if err != nil || len(se.CSRF) != 64 || se.MFA || len(se.Blocks) != 1 {
		t.Fatalf("start: %+v %v", se, err)
	}
	// Activity keeps it alive past the idle timeout...
	for range 4 {
		clk.Advance(29 * time.Minute)
		got, err := s.SessionByID(ctx, id)
		if err != nil || got.Role != RoleBlockOfficer || got.CSRF != se.CSRF || got.Blocks[0] != "A" {
			t.Fatalf("active session: %+v %v", got, err)
		}
	}
	// ...but 30 idle minutes end it.
	clk.Advance(30 * time.Minute)
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("idle session: %v", err)
	}
	// The absolute lifetime ends a busy session.
	id, _, err = s.StartSession(ctx, NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: time.Hour, Idle: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clk.Advance(20 * time.Minute)
		if _, err := s.SessionByID(ctx, id); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
	}
	clk.Advance(20 * time.Minute)
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, ErrUnauthorized) {
		t.Fatal("session alive past its absolute expiry")
	}
	// A role change applies to live sessions; disabling ends them.
	id, _, _ = s.StartSession(ctx, NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: time.Hour, Idle: 30 * time.Minute})
	role := RoleReadOnly
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{Role: &role}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionByID(ctx, id); err != nil || got.Role != RoleReadOnly || len(got.Blocks) != 0 {
		t.Fatalf("after role change: %+v %v", got, err)
	}
	dis := true
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{Disabled: &dis}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, ErrUnauthorized) {
		t.Fatal("disabled user's session alive")
	}
}

// rawDB opens the store's database directly, behind the store's back.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	return rawSQL(t, filepath.Join(dir, "central.db"))
}

func TestAuditChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"update detail", `UPDATE audit_log SET detail = 'nothing to see' WHERE id = 3`, "row 3 was changed"},
		{"update actor and rehash", `UPDATE audit_log SET actor = 'someone', hash = 'ab' WHERE id = 2`, "row 2 was changed"},
		{"delete middle", `DELETE FROM audit_log WHERE id = 2`, "row 3 follows row 1"},
		{"delete newest", `DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)`, "rows removed from the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk, dir := openTest(t)
			for i := range 5 {
				clk.Advance(time.Second)
				if err := s.Audit(ctx, "user:ann", "calls.search", "calls", strings.Repeat("x", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.VerifyAudit(ctx); err != nil {
				t.Fatalf("intact log: %v", err)
			}
			// The database refuses it (TestAuditLogAppendOnlyInDatabase)
			// unless its owner drops the guard first.
			dropAuditGuard(t, s)
			if _, err := rawDB(t, dir).Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			err := s.VerifyAudit(ctx)
			if !errors.Is(err, ErrAuditTampered) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAuditChainLinksAndLegacyRows(t *testing.T) {
	s, _, dir := openTest(t)
	ctx := context.Background()
	for range 3 {
		if err := s.Audit(ctx, "a", "b", "c", "d"); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := s.AuditLog(ctx, AuditFilter{})
	if len(log) != 3 || log[2].PrevHash != "" || log[1].PrevHash != log[2].Hash || log[0].PrevHash != log[1].Hash || len(log[0].Hash) != 64 {
		t.Fatalf("chain %+v", log)
	}
	// Rows from before the chain (no hash) are chained when the store opens
	// (with the guard in place: TestAuditGuardLetsLegacyRowsChain).
	dropAuditGuard(t, s)
	if _, err := rawDB(t, dir).Exec(`UPDATE audit_log SET hash = '', prev_hash = ''`); err != nil {
		t.Fatal(err)
	}
	s2, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), s.clk)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := s2.AuditLog(ctx, AuditFilter{})
	if again[0].Hash != log[0].Hash {
		t.Fatal("re-chained hashes differ")
	}
}

func TestExportAuditCSVIsAudited(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	s.Audit(ctx, "user:ann", "calls.search", "calls", "=HYPERLINK(\"x\")")
	s.Audit(ctx, "user:bob", "recording.play", "c1", "sha256=ab")
	var buf bytes.Buffer
	if err := s.ExportAuditCSV(ctx, "user:root", AuditFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || strings.Join(recs[0], ",") != "id,time,actor,action,target,detail,prev_hash,hash" {
		t.Fatalf("csv %q", recs)
	}
	if recs[1][5] != "'=HYPERLINK(\"x\")" {
		t.Fatalf("formula not neutralised: %q", recs[1][5])
	}
	last := recs[3]
	if last[2] != "user:root" || last[3] != "audit.export" || len(last[7]) != 64 || last[6] != recs[2][7] {
		t.Fatalf("export not audited in the export: %q", last)
	}
	// Filtered export.
	buf.Reset()
	if err := s.ExportAuditCSV(ctx, "user:root", AuditFilter{Action: "recording.play"}, &buf); err != nil {
		t.Fatal(err)
	}
	recs, _ = csv.NewReader(&buf).ReadAll()
	if len(recs) != 2 || recs[1][4] != "c1" {
		t.Fatalf("filtered %q", recs)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
