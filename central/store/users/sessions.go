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

// Session is a signed-in console user (or an API token signed in to the
// console). Role is a user role (see UserRole) for sessions made by
// StartSession; sessions of a user follow the user's current role, blocks
// and disabled flag.
type Session struct {
	Actor   string
	Role    string
	Expires time.Time // absolute expiry
	// UserID is empty for a token's session.
	UserID string
	// TokenID is the token a token's session was signed in with: the
	// session ends when the token stops working (AuthenticateToken).
	TokenID string
	// Owner and TokenExpires are the token's owner and expiry (nil:
	// never), for a token's session.
	Owner        string
	TokenExpires *time.Time
	// Blocks scopes a block officer.
	Blocks []string
	// MFA is true when a second factor was verified at sign-in (or, for
	// a token's session, its owner has one).
	MFA bool
	// CSRF is the session's anti-forgery token, required on every
	// state-changing form post.
	CSRF string
	// Idle ends the session after this long without a request (0: never).
	Idle     time.Duration
	LastSeen time.Time
}

// NewSession describes a session for StartSession. TTL is the absolute
// lifetime (required); Idle the idle timeout (0: none).
type NewSession struct {
	Actor   string
	Role    string
	UserID  string
	TokenID string
	MFA     bool
	TTL     time.Duration
	Idle    time.Duration
}

// StartSession stores a new console session, audits the sign-in ("login")
// and returns the session id (only its hash is stored) and the session.
func (s *Store) StartSession(ctx context.Context, in NewSession) (string, *Session, error) {
	if in.TTL <= 0 || in.Actor == "" {
		return "", nil, fmt.Errorf("%w: a session needs an actor and a lifetime", store.ErrInvalid)
	}
	id := store.NewSecret()
	now := s.core.Clock().Now()
	se := &Session{Actor: in.Actor, Role: in.Role, Expires: now.Add(in.TTL), UserID: in.UserID, TokenID: in.TokenID, MFA: in.MFA,
		CSRF: store.NewSecret(), Idle: in.Idle, LastSeen: now}
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_ns <= $1`, store.NS(now)); err != nil {
			return fmt.Errorf("store: expire sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (sha256, actor, role, expires_ns, user_id, mfa, csrf, idle_ns, last_seen_ns, token_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			store.TokenHash(id), in.Actor, in.Role, store.NS(se.Expires), in.UserID, store.BoolInt(in.MFA), se.CSRF, int64(in.Idle), store.NS(now), in.TokenID); err != nil {
			return fmt.Errorf("store: insert session: %w", err)
		}
		detail := fmt.Sprintf("role=%s mfa=%v", in.Role, in.MFA)
		return s.core.AuditTx(ctx, tx, in.Actor, "login", "console", detail)
	})
	if err != nil {
		return "", nil, err
	}
	if se.Blocks, err = s.userBlocks(ctx, in.UserID); err != nil {
		return "", nil, err
	}
	return id, se, nil
}

func (s *Store) userBlocks(ctx context.Context, userID string) ([]string, error) {
	if userID == "" {
		return []string{}, nil
	}
	u, err := s.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	return u.Blocks, nil
}

// touchEvery bounds how often a session's last-seen time is written.
const touchEvery = 30 * time.Second

// SessionByID returns a live session, store.ErrUnauthorized when unknown, past its
// absolute expiry, idle too long or its user disabled or removed. It
// records the request as activity.
func (s *Store) SessionByID(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, store.ErrUnauthorized
	}
	var se Session
	var exp, idle, seen int64
	var mfa, disabled int
	var blocks string
	var userRole sql.NullString
	err := s.core.Reader().QueryRowContext(ctx, `SELECT s.actor, s.role, s.expires_ns, s.user_id, s.token_id, s.mfa, s.csrf, s.idle_ns, s.last_seen_ns,
			u.role, COALESCE(u.blocks, '[]'), COALESCE(u.disabled, 0)
		FROM sessions s LEFT JOIN users u ON u.id = s.user_id AND s.user_id <> ''
		WHERE s.sha256 = $1`, store.TokenHash(id)).Scan(&se.Actor, &se.Role, &exp, &se.UserID, &se.TokenID, &mfa, &se.CSRF, &idle, &seen, &userRole, &blocks, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", err)
	}
	se.Expires, se.MFA, se.Idle, se.LastSeen = store.FromNS(exp), mfa != 0, time.Duration(idle), store.FromNS(seen)
	now := s.core.Clock().Now()
	if !now.Before(se.Expires) || se.Idle > 0 && !now.Before(se.LastSeen.Add(se.Idle)) {
		return nil, store.ErrUnauthorized
	}
	if se.UserID != "" {
		if !userRole.Valid || disabled != 0 {
			return nil, store.ErrUnauthorized
		}
		se.Role = userRole.String
	}
	if err := json.Unmarshal([]byte(blocks), &se.Blocks); err != nil {
		return nil, fmt.Errorf("store: session blocks: %w", err)
	}
	if se.TokenID != "" {
		if err := s.tokenSession(ctx, &se); err != nil {
			return nil, err
		}
	}
	if se.Idle > 0 && now.Sub(se.LastSeen) >= min(touchEvery, se.Idle/4) {
		if _, err := s.core.ExecUnserialized(ctx, `UPDATE sessions SET last_seen_ns = $1 WHERE sha256 = $2 AND last_seen_ns < $1`, store.NS(now), store.TokenHash(id)); err != nil {
			return nil, fmt.Errorf("store: touch session: %w", err)
		}
		se.LastSeen = now
	}
	return &se, nil
}

// DeleteSession ends a session (logout).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		var actor string
		err := tx.QueryRowContext(ctx, `DELETE FROM sessions WHERE sha256 = $1 RETURNING actor`, store.TokenHash(id)).Scan(&actor)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: delete session: %w", err)
		}
		return s.core.AuditTx(ctx, tx, actor, "logout", "console", "")
	})
}

// tokenSession applies to a token's session its token's state now: it
// ends (store.ErrUnauthorized) when the token no longer works, and follows
// the token's owner's blocks and second factor.
func (s *Store) tokenSession(ctx context.Context, se *Session) error {
	var secretHash string
	err := s.core.Reader().QueryRowContext(ctx, `SELECT sha256 FROM tokens WHERE id = $1`, se.TokenID).Scan(&secretHash)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("store: session token: %w", err)
	}
	t, err := s.tokenByHash(ctx, secretHash)
	if err != nil {
		return err
	}
	se.Role, se.Blocks, se.MFA, se.Owner, se.TokenExpires = t.Role, t.Blocks, t.OwnerTOTP, t.Owner, t.Expires
	return nil
}
