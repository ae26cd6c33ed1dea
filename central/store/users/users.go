// Package users keeps central's console users and their sign-in: roles and
// block scopes, argon2id passwords, lockout after failed sign-ins, TOTP
// (enrolled by an administrator or by the user, confirmed with a code),
// console sessions (absolute and idle expiry, CSRF token, second factor),
// and API tokens, which belong to a user (tokens.go; the bootstrap admin
// token and its rotation: bootstrap.go).
// It is built on the core store (central/store): its tables are in the
// core's schema, its writes in the core's serialized transactions, every
// change in the core's audit chain, and its errors are the core's sentinel
// errors (ErrInvalid, ErrNotFound, ErrConflict, ErrUnauthorized, ...) plus
// ErrLocked, ErrTOTPEnrolled and ErrTooStrong.
package users

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/totp"
	"github.com/kinline/kinline/shared/pin"
)

// Store is the users' part of central's store. It is safe for concurrent
// use.
type Store struct {
	core *store.Store
}

// New returns the users' store on core.
func New(core *store.Store) *Store { return &Store{core: core} }

// Password hashing: argon2id with OWASP's recommended minimum (19 MiB, 2
// passes, 1 lane), stronger than the PIN hash, in the same PHC format so
// pin.Verify checks it.
const (
	passwordMemory  = 19 * 1024
	passwordTime    = 2
	passwordThreads = 1
)

// No account is ever locked after failed sign-ins: anyone could lock
// anyone out. The console's sign-in throttles failures by address and
// account instead (central/web/signin, decision 36); failures are counted
// (User.FailedLogins) and audited.
const (
	// TOTPSkew is how many 30-second steps either side of now a code may be.
	TOTPSkew = 1
	// TOTPIssuer names the account in authenticator apps.
	TOTPIssuer = "Kinline"
)

// HashPassword returns the argon2id PHC string of password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("store: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, passwordTime, passwordMemory, passwordThreads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, passwordMemory, passwordTime, passwordThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var b64 = base64.RawStdEncoding

// dummyHash is verified against when the user does not exist, so an unknown
// username costs the same time as a wrong password.
var dummyHash, _ = HashPassword("kinline-no-such-user")

// User is a console user (never the password hash or TOTP secret).
type User struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	DisplayName  string     `json:"display_name"`
	Role         string     `json:"role"`
	Blocks       []string   `json:"blocks"`
	TOTP         bool       `json:"totp_enrolled"`
	Disabled     bool       `json:"disabled"`
	FailedLogins int        `json:"failed_logins"`
	LockedUntil  *time.Time `json:"locked_until,omitempty"`
	Created      time.Time  `json:"created"`
	Updated      time.Time  `json:"updated"`
}

// Actor is the user's name in the audit log.
func (u *User) Actor() string { return "user:" + u.Username }

// NewUser is the input of CreateUser.
type NewUser struct {
	Username    string
	DisplayName string
	Role        string
	Blocks      []string // required for block_officer, refused otherwise
	Password    string
}

// UserUpdate changes the set fields of a user. A new Password also clears
// the lockout and ends the user's sessions; ResetTOTP removes the second
// factor (the user must enrol again).
type UserUpdate struct {
	DisplayName *string
	Role        *string
	Blocks      *[]string
	Disabled    *bool
	Password    *string
	ResetTOTP   bool
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

func validPassword(p string) error {
	if n := utf8.RuneCountInString(p); n < 12 || len(p) > 256 || !utf8.ValidString(p) {
		return fmt.Errorf("%w: password must be 12 to 256 characters", store.ErrInvalid)
	}
	return nil
}

// validScope checks role and blocks together; blocks must exist.
func (s *Store) validScope(ctx context.Context, tx *sql.Tx, role string, blocks []string) error {
	if !slices.Contains(store.UserRoles, role) {
		return fmt.Errorf("%w: role must be one of %v", store.ErrInvalid, store.UserRoles)
	}
	if role != store.RoleBlockOfficer {
		if len(blocks) > 0 {
			return fmt.Errorf("%w: only block officers have blocks", store.ErrInvalid)
		}
		return nil
	}
	if len(blocks) == 0 {
		return fmt.Errorf("%w: a block officer needs at least one block", store.ErrInvalid)
	}
	for _, b := range blocks {
		if err := s.core.BlockExists(ctx, tx, b); err != nil {
			return err
		}
	}
	return nil
}

const userCols = `id, username, display_name, role, blocks, totp_secret <> '', disabled, failed_logins, locked_until_ns, created_ns, updated_ns`

func scanUser(sc interface{ Scan(...any) error }) (*User, error) {
	var u User
	var blocks string
	var disabled int
	var locked, created, updated int64
	if err := sc.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &blocks, &u.TOTP, &disabled, &u.FailedLogins, &locked, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(blocks), &u.Blocks); err != nil {
		return nil, fmt.Errorf("store: user %s blocks: %w", u.ID, err)
	}
	if u.Blocks == nil {
		u.Blocks = []string{}
	}
	u.Disabled = disabled != 0
	if locked > 0 {
		t := store.FromNS(locked)
		u.LockedUntil = &t
	}
	u.Created, u.Updated = store.FromNS(created), store.FromNS(updated)
	return &u, nil
}

func blocksJSON(b []string) string {
	if b == nil {
		b = []string{}
	}
	b = slices.Clone(b)
	slices.Sort(b)
	b = slices.Compact(b)
	js, _ := json.Marshal(b)
	return string(js)
}

// CreateUser adds a console user; a taken username gives store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, actor string, in NewUser) (*User, error) {
	if !usernameRE.MatchString(in.Username) {
		return nil, fmt.Errorf("%w: username must be 2 to 64 of a-z 0-9 . _ -", store.ErrInvalid)
	}
	if err := errors.Join(store.ValidText("display_name", in.DisplayName, 128, true), validPassword(in.Password)); err != nil {
		return nil, err
	}
	h, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	id := store.NewID("u_")
	now := store.NS(s.core.Clock().Now())
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.validScope(ctx, tx, in.Role, in.Blocks); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, display_name, role, blocks, password_hash, created_ns, updated_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (username) DO NOTHING`,
			id, in.Username, in.DisplayName, in.Role, blocksJSON(in.Blocks), h, now)
		if err != nil {
			return fmt.Errorf("store: insert user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: username %s", store.ErrConflict, in.Username)
		}
		return s.core.AuditTx(ctx, tx, actor, "user.create", id, fmt.Sprintf("username=%s role=%s blocks=%s", in.Username, in.Role, blocksJSON(in.Blocks)))
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

// User returns one user by id.
func (s *Store) User(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.core.Reader().QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: user %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: user: %w", err)
	}
	return u, nil
}

// Users lists every user ordered by username.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

// UpdateUser applies up to user id and audits what changed (never the
// password). Changing the role, blocks or disabled flag takes effect on the
// user's live sessions at once; a new password ends them.
func (s *Store) UpdateUser(ctx context.Context, actor, id string, up UserUpdate) (*User, error) {
	var newHash string
	if up.Password != nil {
		if err := validPassword(*up.Password); err != nil {
			return nil, err
		}
		h, err := HashPassword(*up.Password)
		if err != nil {
			return nil, err
		}
		newHash = h
	}
	if up.DisplayName != nil {
		if err := store.ValidText("display_name", *up.DisplayName, 128, true); err != nil {
			return nil, err
		}
	}
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: user: %w", err)
		}
		var changes []string
		if up.DisplayName != nil && *up.DisplayName != u.DisplayName {
			u.DisplayName = *up.DisplayName
			changes = append(changes, "display_name")
		}
		if up.Role != nil && *up.Role != u.Role {
			u.Role = *up.Role
			changes = append(changes, "role="+u.Role)
			if up.Blocks == nil && u.Role != store.RoleBlockOfficer {
				u.Blocks = nil
			}
		}
		if up.Blocks != nil {
			u.Blocks = *up.Blocks
			changes = append(changes, "blocks="+blocksJSON(u.Blocks))
		}
		if err := s.validScope(ctx, tx, u.Role, u.Blocks); err != nil {
			return err
		}
		if up.Disabled != nil && *up.Disabled != u.Disabled {
			u.Disabled = *up.Disabled
			changes = append(changes, fmt.Sprintf("disabled=%v", u.Disabled))
		}
		now := store.NS(s.core.Clock().Now())
		if _, err := tx.ExecContext(ctx, `UPDATE users SET display_name = $1, role = $2, blocks = $3, disabled = $4, updated_ns = $5 WHERE id = $6`,
			u.DisplayName, u.Role, blocksJSON(u.Blocks), store.BoolInt(u.Disabled), now, id); err != nil {
			return fmt.Errorf("store: update user: %w", err)
		}
		if newHash != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, failed_logins = 0, locked_until_ns = 0 WHERE id = $2`, newHash, id); err != nil {
				return fmt.Errorf("store: update user: %w", err)
			}
			changes = append(changes, "password reset")
		}
		if up.ResetTOTP {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = '', totp_pending = '', totp_last_step = 0 WHERE id = $1`, id); err != nil {
				return fmt.Errorf("store: update user: %w", err)
			}
			changes = append(changes, "totp reset")
		}
		if newHash != "" || up.ResetTOTP || u.Disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
				return fmt.Errorf("store: end sessions: %w", err)
			}
		}
		return s.core.AuditTx(ctx, tx, actor, "user.update", id, fmt.Sprintf("username=%s %v", u.Username, changes))
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

// EnrollTOTP gives user id a new TOTP secret (replacing any previous one)
// and returns it base32-encoded with its otpauth:// URI; only here can it be
// read. From then on the user's sign-in needs a current code.
func (s *Store) EnrollTOTP(ctx context.Context, actor, id string) (secret, uri string, err error) {
	secret = totp.NewSecret()
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		var username string
		err := tx.QueryRowContext(ctx, `UPDATE users SET totp_secret = $1, totp_pending = '', totp_last_step = 0, updated_ns = $2 WHERE id = $3 RETURNING username`,
			secret, store.NS(s.core.Clock().Now()), id).Scan(&username)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: enrol totp: %w", err)
		}
		uri = totp.URI(TOTPIssuer, username, secret)
		return s.core.AuditTx(ctx, tx, actor, "user.totp_enrol", id, "username="+username)
	})
	if err != nil {
		return "", "", err
	}
	return secret, uri, nil
}

// Login checks a console sign-in: username, password and, when the user has
// enrolled TOTP, a current code (±TOTPSkew steps, each step usable once).
// It returns the user and whether a second factor was verified. Every
// failure is audited ("login.failed" with the reason) and answers
// store.ErrUnauthorized without saying which part was wrong, alike for a
// user that does not exist (whose sign-in costs a password hash too).
// Failures are counted per user; a success resets the count. Nothing here
// locks an account: central/web/signin throttles.
func (s *Store) Login(ctx context.Context, username, password, code string) (*User, bool, error) {
	u, cred, err := s.loginUser(ctx, username)
	if errors.Is(err, sql.ErrNoRows) {
		pin.Verify(dummyHash, password)
		if err := s.core.Audit(ctx, "anonymous", "login.failed", "user:"+trimForAudit(username), "unknown user"); err != nil {
			return nil, false, err
		}
		return nil, false, store.ErrUnauthorized
	}
	if err != nil {
		return nil, false, err
	}
	now := s.core.Clock().Now()
	reason, step, err := cred.check(u.ID, password, code, now)
	if err != nil {
		return nil, false, err
	}
	if reason != "" {
		if err := s.loginFailed(ctx, u, reason); err != nil {
			return nil, false, err
		}
		return nil, false, store.ErrUnauthorized
	}
	if err := s.loginSucceeded(ctx, u.ID, cred.secret != "", step); err != nil {
		return nil, false, err
	}
	u.FailedLogins, u.LockedUntil = 0, nil
	u.Created, u.Updated = store.FromNS(cred.created), store.FromNS(cred.updated)
	return u, cred.secret != "", nil
}

// credentials are what Login checks of a user's row.
type credentials struct {
	hash, secret     string
	lastStep         int64
	disabled         bool
	locked           int64 // locked until (NS)
	created, updated int64
}

// loginUser reads username's user and credentials: sql.ErrNoRows when
// there is no such user.
func (s *Store) loginUser(ctx context.Context, username string) (*User, credentials, error) {
	var c credentials
	var u User
	var blocks string
	var disabled int
	row := s.core.Reader().QueryRowContext(ctx, `SELECT `+userCols+`, password_hash, totp_secret, totp_last_step FROM users WHERE username = $1`, username)
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &blocks, &u.TOTP, &disabled, &u.FailedLogins, &c.locked, &c.created, &c.updated, &c.hash, &c.secret, &c.lastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, c, err
	}
	if err != nil {
		return nil, c, fmt.Errorf("store: login: %w", err)
	}
	if err := json.Unmarshal([]byte(blocks), &u.Blocks); err != nil {
		return nil, c, fmt.Errorf("store: user blocks: %w", err)
	}
	c.disabled = disabled != 0
	return &u, c, nil
}

// check checks the password and, with TOTP enrolled, the one-time code at
// now: reason says why a sign-in fails ("" when it succeeds), step is the
// code's TOTP step.
func (c credentials) check(userID, password, code string, now time.Time) (reason string, step int64, err error) {
	ok, verr := pin.Verify(c.hash, password)
	switch {
	case verr != nil:
		return "", 0, fmt.Errorf("store: user %s password hash: %w", userID, verr)
	case !ok:
		return "wrong password", 0, nil
	case c.disabled:
		return "account disabled", 0, nil
	case c.secret == "":
		return "", 0, nil
	}
	key, err := totp.DecodeSecret(c.secret)
	if err != nil {
		return "", 0, fmt.Errorf("store: user %s: %w", userID, err)
	}
	st, valid := totp.Validate(key, code, now, TOTPSkew)
	switch {
	case code == "":
		reason = "one-time code missing"
	case !valid:
		reason = "wrong one-time code"
	case st <= c.lastStep:
		reason = "one-time code reused"
	}
	return reason, st, nil
}

// loginFailed counts a failed sign-in of u and audits it with reason.
func (s *Store) loginFailed(ctx context.Context, u *User, reason string) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins`, u.ID).Scan(&n); err != nil {
			return fmt.Errorf("store: failed login: %w", err)
		}
		detail := fmt.Sprintf("%s (failure %d)", reason, n)
		return s.core.AuditTx(ctx, tx, u.Actor(), "login.failed", u.ID, detail)
	})
}

// loginSucceeded resets the user's failures and lockout and, with TOTP,
// records the code's step: only forward, so that a concurrent sign-in
// with the same code loses (store.ErrUnauthorized).
func (s *Store) loginSucceeded(ctx context.Context, userID string, withTOTP bool, step int64) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		if withTOTP {
			res, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until_ns = 0, totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, userID, step)
			if err != nil {
				return fmt.Errorf("store: login: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return store.ErrUnauthorized
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until_ns = 0 WHERE id = $1`, userID); err != nil {
			return fmt.Errorf("store: login: %w", err)
		}
		return nil
	})
}

func trimForAudit(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	if !utf8.ValidString(s) {
		return "(invalid)"
	}
	return s
}
