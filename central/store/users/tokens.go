package users

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/central/store"
)

// API tokens (decision 0033). A token belongs to a console user, its
// owner: the user who created it, or the bootstrap administrator for the
// admin token written at first start. It has a role no stronger than its
// creator's and its owner's, expires (DefaultTokenTTL unless asked, at most
// MaxTokenTTL; the bootstrap token never does) and can be revoked. Only
// its SHA-256 is stored. A token stops working when it is revoked, when it
// expires, when its owner is disabled or removed, and when its owner's role
// no longer covers the token's.

// Token lifetimes.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
	// tokenTouchEvery bounds how often a token's last use is written.
	tokenTouchEvery = time.Minute
)

// The bootstrap administrator: the console user that owns the admin token
// written to admin_token_file. It has a password nobody knows, so it
// cannot sign in with one; disabling it stops its tokens.
const (
	BootstrapUserID   = "u_bootstrap"
	BootstrapUsername = "bootstrap-admin"
)

// ErrTooStrong: a token asked for a role or a lifetime beyond what its
// creator (or its owner) holds.
var ErrTooStrong = errors.New("store: a token may not be stronger or live longer than who creates it")

// Token is an API token's record (never the secret). Expires is nil for a
// token that never expires (the bootstrap token).
type Token struct {
	ID        string
	Name      string
	Role      string // a user role
	Owner     string // the owner's user id
	OwnerName string // the owner's username
	Bootstrap bool
	Created   time.Time
	Expires   *time.Time
	LastUsed  *time.Time
	Revoked   *time.Time
	RevokedBy string
	// Set by AuthenticateToken: the owner's blocks (a block officer's
	// token is scoped to them) and whether the owner has a second factor.
	Blocks    []string
	OwnerTOTP bool
}

// Creator is who asks for a token: its role (the caller's, a user role),
// its user (the new token's owner) and, for a token creating a token, when
// that token expires (the new one may not outlive it; zero: no bound).
type Creator struct {
	Actor    string
	Role     string
	UserID   string
	NotAfter time.Time
}

// NewToken is the input of CreateToken. Role is a user role or "admin" /
// "viewer"; TTL 0 is DefaultTokenTTL.
type NewToken struct {
	Name string
	Role string
	TTL  time.Duration
}

// RoleWithin reports whether a token of role may be held under ceiling (a
// user role): a system administrator may hold any, anyone else their own
// role or read_only.
func RoleWithin(ceiling, role string) bool {
	return ceiling == store.RoleSystemAdmin || role == ceiling || role == store.RoleReadOnly && store.UserRole(ceiling) != ""
}

// CreateToken makes a token for by.UserID and returns its secret (the one
// time it can be read) and its record. The role must be within by's role
// and the owner's (a block officer's role only for a block officer, whose
// blocks scope it), the lifetime at most MaxTokenTTL and not beyond
// by.NotAfter: ErrTooStrong otherwise.
func (s *Store) CreateToken(ctx context.Context, by Creator, in NewToken) (string, *Token, error) {
	role := store.UserRole(in.Role)
	ttl := in.TTL
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	switch {
	case role == "":
		return "", nil, fmt.Errorf("%w: role must be one of %v (or admin, viewer)", store.ErrInvalid, store.UserRoles)
	case ttl < time.Minute || ttl > MaxTokenTTL:
		return "", nil, fmt.Errorf("%w: a token lives from a minute to %d days", store.ErrInvalid, int(MaxTokenTTL.Hours()/24))
	case by.UserID == "":
		return "", nil, fmt.Errorf("%w: a token belongs to a user: sign in as one", store.ErrInvalid)
	case !RoleWithin(by.Role, role):
		return "", nil, fmt.Errorf("%w: role %s is stronger than %s", ErrTooStrong, role, by.Role)
	}
	if err := store.ValidText("name", in.Name, 64, true); err != nil {
		return "", nil, err
	}
	now := s.core.Clock().Now()
	exp := now.Add(ttl)
	if !by.NotAfter.IsZero() && exp.After(by.NotAfter) {
		return "", nil, fmt.Errorf("%w: it would outlive the token creating it (until %s)", ErrTooStrong, by.NotAfter.Format(time.RFC3339))
	}
	secret, id := store.NewSecret(), store.NewID("t_")
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		var ownerRole string
		err := tx.QueryRowContext(ctx, `SELECT role FROM users WHERE id = $1 AND disabled = 0`, by.UserID).Scan(&ownerRole)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s", store.ErrNotFound, by.UserID)
		}
		if err != nil {
			return fmt.Errorf("store: token owner: %w", err)
		}
		if !RoleWithin(ownerRole, role) || role == store.RoleBlockOfficer && ownerRole != role {
			return fmt.Errorf("%w: role %s is stronger than its owner's (%s)", ErrTooStrong, role, ownerRole)
		}
		return s.insertToken(ctx, tx, by.Actor, tokenRow{id: id, secret: secret, name: in.Name, role: role, owner: by.UserID, expires: store.NS(exp)})
	})
	if err != nil {
		return "", nil, err
	}
	t, err := s.Token(ctx, id)
	return secret, t, err
}

// tokenRow is a token to insert.
type tokenRow struct {
	id, secret, name, role, owner string
	bootstrap                     bool
	expires                       int64 // 0: never
}

// insertToken stores r inside tx and audits it; a name the owner already
// uses on a token not revoked gives store.ErrConflict.
func (s *Store) insertToken(ctx context.Context, tx *sql.Tx, actor string, r tokenRow) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, sha256, name, role, owner, bootstrap, created_ns, expires_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		r.id, store.TokenHash(r.secret), r.name, r.role, r.owner, store.BoolInt(r.bootstrap), store.NS(s.core.Clock().Now()), r.expires)
	if err != nil {
		return fmt.Errorf("store: insert token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: token name %s", store.ErrConflict, r.name)
	}
	exp := "never"
	if r.expires != 0 {
		exp = store.FromNS(r.expires).Format(time.RFC3339)
	}
	return s.core.AuditTx(ctx, tx, actor, "token.create", r.id, fmt.Sprintf("name=%s role=%s owner=%s expires=%s", r.name, r.role, r.owner, exp))
}

const tokenCols = `t.id, t.name, t.role, t.owner, COALESCE(u.username, ''), t.bootstrap, t.created_ns, t.expires_ns, t.last_used_ns, t.revoked_ns, t.revoked_by`

func scanToken(sc interface{ Scan(...any) error }, more ...any) (*Token, error) {
	var t Token
	var boot int
	var created, exp, used, revoked int64
	dst := append([]any{&t.ID, &t.Name, &t.Role, &t.Owner, &t.OwnerName, &boot, &created, &exp, &used, &revoked, &t.RevokedBy}, more...)
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	t.Bootstrap, t.Created = boot != 0, store.FromNS(created)
	t.Expires, t.LastUsed, t.Revoked = optTime(exp), optTime(used), optTime(revoked)
	return &t, nil
}

func optTime(v int64) *time.Time {
	if v == 0 {
		return nil
	}
	t := store.FromNS(v)
	return &t
}

// Token returns one token by id.
func (s *Store) Token(ctx context.Context, id string) (*Token, error) {
	t, err := scanToken(s.core.Reader().QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens t LEFT JOIN users u ON u.id = t.owner WHERE t.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: token %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: token: %w", err)
	}
	return t, nil
}

// Tokens lists the tokens of owner (every token when owner is ""),
// newest first, revoked and expired ones included.
func (s *Store) Tokens(ctx context.Context, owner string) ([]Token, error) {
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens t LEFT JOIN users u ON u.id = t.owner
		WHERE $1 = '' OR t.owner = $1 ORDER BY t.created_ns DESC, t.id`, owner)
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes token id for actor and ends the console sessions
// signed in with it. With owner set, only that user's token can be revoked
// (another's answers store.ErrNotFound); "" is an administrator, who may
// revoke any. Revoking a revoked token changes nothing.
func (s *Store) RevokeToken(ctx context.Context, actor, owner, id string) (*Token, error) {
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		var name string
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT name, revoked_ns FROM tokens WHERE id = $1 AND ($2 = '' OR owner = $2)`, id, owner).Scan(&name, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: token %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: token: %w", err)
		}
		if revoked != 0 {
			return nil
		}
		return s.revokeTx(ctx, tx, actor, id, "name="+name)
	})
	if err != nil {
		return nil, err
	}
	return s.Token(ctx, id)
}

// revokeTx revokes token id inside tx, ends its sessions and audits it.
func (s *Store) revokeTx(ctx context.Context, tx *sql.Tx, actor, id, detail string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_ns = $1, revoked_by = $2 WHERE id = $3 AND revoked_ns = 0`,
		store.NS(s.core.Clock().Now()), actor, id); err != nil {
		return fmt.Errorf("store: revoke token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_id = $1`, id); err != nil {
		return fmt.Errorf("store: end token sessions: %w", err)
	}
	return s.core.AuditTx(ctx, tx, actor, "token.revoke", id, detail)
}

// AuthenticateToken returns the live token whose secret is secret, with
// its owner's blocks and second factor; store.ErrUnauthorized when it is
// unknown, revoked, expired, its owner disabled or removed, or its role
// beyond its owner's current one. The lookup is by the secret's SHA-256
// (an index): its timing tells nothing about a 256-bit secret.
func (s *Store) AuthenticateToken(ctx context.Context, secret string) (*Token, error) {
	if len(secret) < 16 {
		return nil, store.ErrUnauthorized
	}
	t, err := s.tokenByHash(ctx, store.TokenHash(secret))
	if err != nil {
		return nil, err
	}
	if now := s.core.Clock().Now(); t.LastUsed == nil || now.Sub(*t.LastUsed) >= tokenTouchEvery {
		if _, err := s.core.ExecUnserialized(ctx, `UPDATE tokens SET last_used_ns = $1 WHERE id = $2`, store.NS(now), t.ID); err != nil {
			return nil, fmt.Errorf("store: token last use: %w", err)
		}
		t.LastUsed = &now
	}
	return t, nil
}

// tokenByHash is the live token stored under hash (see AuthenticateToken).
func (s *Store) tokenByHash(ctx context.Context, hash string) (*Token, error) {
	var ownerRole, blocks string
	var disabled int
	var totp bool
	t, err := scanToken(s.core.Reader().QueryRowContext(ctx, `SELECT `+tokenCols+`, u.role, u.blocks, u.disabled, u.totp_secret <> ''
		FROM tokens t JOIN users u ON u.id = t.owner WHERE t.sha256 = $1`, hash), &ownerRole, &blocks, &disabled, &totp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("store: authenticate token: %w", err)
	}
	now := s.core.Clock().Now()
	if t.Revoked != nil || t.Expires != nil && !now.Before(*t.Expires) || disabled != 0 || !RoleWithin(ownerRole, t.Role) {
		return nil, store.ErrUnauthorized
	}
	t.OwnerTOTP = totp
	t.Blocks = []string{}
	if t.Role == store.RoleBlockOfficer {
		if err := json.Unmarshal([]byte(blocks), &t.Blocks); err != nil {
			return nil, fmt.Errorf("store: token owner blocks: %w", err)
		}
	}
	return t, nil
}
