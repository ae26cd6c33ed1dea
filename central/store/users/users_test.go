package users

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/central/store/totp"
	"github.com/kinline/kinline/shared/clock"
)

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// openTest opens a core store in a temp dir (on this run's database) and
// the users' store on it.
func openTest(t testing.TB) (*Store, *store.Store, *clock.Fake) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	core, err := storetest.Open(context.Background(), t, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := core.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return New(core), core, clk
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkUser(t *testing.T, s *Store, core *store.Store, username, role string, blocks ...string) *User {
	t.Helper()
	for _, b := range blocks {
		if err := core.EnsureBlock(context.Background(), "test", b); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.CreateUser(context.Background(), "test", NewUser{Username: username, DisplayName: strings.ToUpper(username), Role: role, Blocks: blocks, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}
func TestUserValidation(t *testing.T) {
	s, core, _ := openTest(t)
	ctx := context.Background()
	mkUser(t, s, core, "ann", store.RoleBlockOfficer, "A")
	for _, in := range []NewUser{
		{Username: "ann", DisplayName: "Dup", Role: store.RoleReadOnly, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: store.RoleBlockOfficer, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: store.RoleBlockOfficer, Blocks: []string{"Z"}, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: store.RoleReadOnly, Blocks: []string{"A"}, Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: "root", Password: "correct horse battery"},
		{Username: "bob", DisplayName: "Bob", Role: store.RoleReadOnly, Password: "short"},
		{Username: "Bob Smith", DisplayName: "Bob", Role: store.RoleReadOnly, Password: "correct horse battery"},
	} {
		_, err := s.CreateUser(ctx, "test", in)
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrUnknownBlock) {
			t.Errorf("%+v accepted or wrong error: %v", in, err)
		}
	}
	us, err := s.Users(ctx)
	if err != nil || len(us) != 1 || us[0].Blocks[0] != "A" || us[0].TOTP {
		t.Fatalf("users %+v %v", us, err)
	}
}

// TestLoginNeverLocksOut (issue 14, defect 6): failures are counted and
// audited but never lock the account, which would let anyone lock anyone
// out (the console's sign-in throttles instead): after a hundred wrong
// passwords the right one signs in at once and resets the count.
func TestLoginNeverLocksOut(t *testing.T) {
	s, core, _ := openTest(t)
	ctx := context.Background()
	u := mkUser(t, s, core, "ann", store.RoleReadOnly)
	const failures = 100
	for i := 1; i <= failures; i++ {
		if _, _, err := s.Login(ctx, "ann", "wrong password!!", ""); !errors.Is(err, store.ErrUnauthorized) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	got, _ := s.User(ctx, u.ID)
	if got.FailedLogins != failures || got.LockedUntil != nil {
		t.Fatalf("after failures: %+v", got)
	}
	lu, mfa, err := s.Login(ctx, "ann", "correct horse battery", "")
	if err != nil || lu.ID != u.ID || mfa {
		t.Fatalf("right password after %d failures: %v %v", failures, err, mfa)
	}
	got, _ = s.User(ctx, u.ID)
	if got.FailedLogins != 0 || got.LockedUntil != nil {
		t.Fatalf("not reset: %+v", got)
	}
	// Unknown users and disabled accounts fail the same way, audited.
	if _, _, err := s.Login(ctx, "nobody", "correct horse battery", ""); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatal(err)
	}
	dis := true
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{Disabled: &dis}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Login(ctx, "ann", "correct horse battery", ""); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("disabled: %v", err)
	}
	fails, _ := core.AuditLog(ctx, store.AuditFilter{Action: "login.failed", Limit: 1000})
	if len(fails) != failures+2 {
		t.Fatalf("audit: %d failed", len(fails))
	}
	if !strings.Contains(fails[0].Detail, "account disabled") || fails[1].Detail != "unknown user" {
		t.Fatalf("reasons: %q %q", fails[0].Detail, fails[1].Detail)
	}
}

func TestLoginTOTP(t *testing.T) {
	s, core, clk := openTest(t)
	ctx := context.Background()
	u := mkUser(t, s, core, "ivy", store.RoleInvestigator)
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
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", ""); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("no code: %v", err)
	}
	// A code from two steps ago is refused; one from the previous step is
	// accepted (skew ±1) and reports the second factor.
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now().Add(-60*time.Second))); !errors.Is(err, store.ErrUnauthorized) {
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
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", next); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("replayed code: %v", err)
	}
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now())); !errors.Is(err, store.ErrUnauthorized) {
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
	s, core, clk := openTest(t)
	ctx := context.Background()
	u := mkUser(t, s, core, "bo", store.RoleBlockOfficer, "A")
	id, se, err := s.StartSession(ctx, NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: 8 * time.Hour, Idle: 30 * time.Minute})
	if err != nil || len(se.CSRF) != 64 || se.MFA || len(se.Blocks) != 1 {
		t.Fatalf("start: %+v %v", se, err)
	}
	// Activity keeps it alive past the idle timeout...
	for range 4 {
		clk.Advance(29 * time.Minute)
		got, err := s.SessionByID(ctx, id)
		if err != nil || got.Role != store.RoleBlockOfficer || got.CSRF != se.CSRF || got.Blocks[0] != "A" {
			t.Fatalf("active session: %+v %v", got, err)
		}
	}
	// ...but 30 idle minutes end it.
	clk.Advance(30 * time.Minute)
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, store.ErrUnauthorized) {
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
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatal("session alive past its absolute expiry")
	}
	// A role change applies to live sessions; disabling ends them.
	id, _, _ = s.StartSession(ctx, NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: time.Hour, Idle: 30 * time.Minute})
	role := store.RoleReadOnly
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{Role: &role}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionByID(ctx, id); err != nil || got.Role != store.RoleReadOnly || len(got.Blocks) != 0 {
		t.Fatalf("after role change: %+v %v", got, err)
	}
	dis := true
	if _, err := s.UpdateUser(ctx, "test", u.ID, UserUpdate{Disabled: &dis}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, id); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatal("disabled user's session alive")
	}
}

func TestTOTPSelfEnrolment(t *testing.T) {
	s, core, clk := openTest(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "admin", NewUser{Username: "ivy", DisplayName: "Ivy", Role: store.RoleInvestigator, Password: "correct horse battery"})
	mustT(t, err)
	sid, se, err := s.StartSession(ctx, NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, TTL: time.Hour})
	mustT(t, err)
	if se.MFA {
		t.Fatal("password session verified")
	}
	if err := s.ConfirmTOTPEnrolment(ctx, u.Actor(), u.ID, sid, "123456"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("confirm before begin: %v", err)
	}
	secret, uri, err := s.BeginTOTPEnrolment(ctx, u.Actor(), u.ID)
	mustT(t, err)
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, secret) {
		t.Fatalf("uri %q", uri)
	}
	// Pending: sign-in still needs no code, the user is not enrolled.
	if got, _ := s.User(ctx, u.ID); got.TOTP {
		t.Fatal("pending secret counts as enrolled")
	}
	key, err := totp.DecodeSecret(secret)
	mustT(t, err)
	wrong := "000000"
	if totp.Code(key, clk.Now()) == wrong {
		wrong = "111111"
	}
	if err := s.ConfirmTOTPEnrolment(ctx, u.Actor(), u.ID, sid, wrong); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("wrong code: %v", err)
	}
	if se, _ := s.SessionByID(ctx, sid); se.MFA {
		t.Fatal("wrong code verified the session")
	}
	code := totp.Code(key, clk.Now())
	mustT(t, s.ConfirmTOTPEnrolment(ctx, u.Actor(), u.ID, sid, code))
	if se, _ := s.SessionByID(ctx, sid); !se.MFA {
		t.Fatal("session not verified after enrolment")
	}
	if got, _ := s.User(ctx, u.ID); !got.TOTP {
		t.Fatal("not enrolled")
	}
	// The code used to enrol is spent; sign-in needs a code now.
	if _, _, err := s.Login(ctx, "ivy", "correct horse battery", code); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("enrolment code reused at sign-in: %v", err)
	}
	clk.Advance(30 * time.Second)
	if _, mfa, err := s.Login(ctx, "ivy", "correct horse battery", totp.Code(key, clk.Now())); err != nil || !mfa {
		t.Fatalf("sign-in with the new factor: %v %v", mfa, err)
	}
	// An enrolled factor cannot be replaced by self-enrolment.
	if _, _, err := s.BeginTOTPEnrolment(ctx, u.Actor(), u.ID); !errors.Is(err, ErrTOTPEnrolled) {
		t.Fatalf("re-enrol: %v", err)
	}
	for _, a := range []string{"user.totp_begin", "user.totp_failed", "user.totp_enrol"} {
		if l, _ := core.AuditLog(ctx, store.AuditFilter{Action: a}); len(l) != 1 || l[0].Target != u.ID {
			t.Fatalf("%s audit %+v", a, l)
		}
	}
	// An administrator's reset clears it, pending secret included.
	_, _, err = s.BeginTOTPEnrolment(ctx, u.Actor(), u.ID)
	if !errors.Is(err, ErrTOTPEnrolled) {
		t.Fatal(err)
	}
	_, err = s.UpdateUser(ctx, "admin", u.ID, UserUpdate{ResetTOTP: true})
	mustT(t, err)
	if got, _ := s.User(ctx, u.ID); got.TOTP {
		t.Fatal("reset kept the factor")
	}
}
