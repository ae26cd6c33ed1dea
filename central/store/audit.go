package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Token roles. An admin token acts as RoleSystemAdmin and a viewer token as
// RoleReadOnly (see UserRole).
const (
	RoleAdmin  = "admin"  // everything
	RoleViewer = "viewer" // read-only
)

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
	// Hash is sha256(PrevHash || canonical row), hex; see VerifyAudit.
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`
}

func (s *Store) audit(ctx context.Context, tx *sql.Tx, actor, action, target, detail string) error {
	id, err := nextCounter(ctx, tx, "audit")
	if err != nil {
		return err
	}
	// Writes are serialized (one writer connection, BEGIN IMMEDIATE), so
	// the newest row read here is the one this row chains to.
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: audit chain: %w", err)
	}
	e := AuditEntry{ID: id, Time: fromNS(ns(s.clk.Now())), Actor: actor, Action: action, Target: target, Detail: detail}
	h := auditHash(prev, &e)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, time_ns, actor, action, target, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, ns(e.Time), actor, action, target, detail, prev, h); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// Audit appends an entry to the audit log (for actions that change nothing
// else: logins, searches, playbacks, exports). There is no way to change or
// delete an entry through the store.
func (s *Store) Audit(ctx context.Context, actor, action, target, detail string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.audit(ctx, tx, actor, action, target, detail) })
}

// AuditFilter selects audit entries; empty fields match everything.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	// From (inclusive) and To (exclusive) bound the entries' time; zero
	// means unbounded.
	From, To time.Time
	Limit    int // default 100, at most 1000
	Offset   int
}

// auditWhere is the WHERE clause of f (parameters $1 to $5).
const auditWhere = `($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND ($3 = '' OR target = $3)
		AND (CAST($4 AS BIGINT) = 0 OR time_ns >= $4) AND (CAST($5 AS BIGINT) = 0 OR time_ns < $5)`

// args are f's parameters for auditWhere.
func (f AuditFilter) args() []any {
	var from, to int64
	if !f.From.IsZero() {
		from = ns(f.From)
	}
	if !f.To.IsZero() {
		to = ns(f.To)
	}
	return []any{f.Actor, f.Action, f.Target, from, to}
}

// AuditLog lists audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, time_ns, actor, action, target, detail, hash, prev_hash FROM audit_log
		WHERE `+auditWhere+` ORDER BY id DESC LIMIT $6 OFFSET $7`, append(f.args(), f.Limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Hash, &e.PrevHash); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		e.Time = fromNS(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

// Token is an API token's identity (never the secret).
type Token struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenHash is the hex SHA-256 of a bearer token, as stored.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewSecret returns 32 random bytes as hex: tokens and session ids.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func validRole(role string) error {
	if role != RoleAdmin && role != RoleViewer {
		return fmt.Errorf("%w: role must be admin or viewer", ErrInvalid)
	}
	return nil
}

// RegisterToken stores a token's hash under name with role. Registering the
// same token again is a no-op; another token under a used name gives
// ErrConflict.
func (s *Store) RegisterToken(ctx context.Context, actor, token, name, role string) error {
	if len(token) < 16 {
		return fmt.Errorf("%w: token too short", ErrInvalid)
	}
	if err := errors.Join(validRole(role), validText("name", name, 64, true)); err != nil {
		return err
	}
	h := TokenHash(token)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var have string
		err := tx.QueryRowContext(ctx, `SELECT name FROM api_tokens WHERE sha256 = $1`, h).Scan(&have)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: read token: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (sha256, name, role, created_ns) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
			h, name, role, ns(s.clk.Now()))
		if err != nil {
			return fmt.Errorf("store: insert token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: token name %s", ErrConflict, name)
		}
		return s.audit(ctx, tx, actor, "token.create", name, "role="+role)
	})
}

// CreateToken generates a token, registers it and returns it; only its hash
// is kept, so this is the one time it can be shown.
func (s *Store) CreateToken(ctx context.Context, actor, name, role string) (string, error) {
	t := NewSecret()
	if err := s.RegisterToken(ctx, actor, t, name, role); err != nil {
		return "", err
	}
	return t, nil
}

// Authenticate returns the token's identity, comparing its SHA-256 with every
// stored hash in constant time. Unknown tokens give ErrUnauthorized.
func (s *Store) Authenticate(ctx context.Context, token string) (*Token, error) {
	h := sha256.Sum256([]byte(token))
	want := hex.EncodeToString(h[:])
	rows, err := s.r.QueryContext(ctx, `SELECT sha256, name, role FROM api_tokens`)
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	defer rows.Close()
	var found *Token
	for rows.Next() {
		var hv string
		var t Token
		if err := rows.Scan(&hv, &t.Name, &t.Role); err != nil {
			return nil, fmt.Errorf("store: tokens: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(hv), []byte(want)) == 1 {
			found = &t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	if found == nil || token == "" {
		return nil, ErrUnauthorized
	}
	return found, nil
}

// EnsureAdminToken bootstraps access: if the file at path does not exist it
// generates a random token, registers its hash as the admin token "admin"
// (or "admin-<hash prefix>" when that name is taken) and writes the token to
// the file with mode 0600; if the file exists, it makes sure the token in it
// is registered as an admin token.
func (s *Store) EnsureAdminToken(ctx context.Context, path string) error {
	register := func(tok string) error {
		err := s.RegisterToken(ctx, "bootstrap", tok, "admin", RoleAdmin)
		if errors.Is(err, ErrConflict) {
			err = s.RegisterToken(ctx, "bootstrap", tok, "admin-"+TokenHash(tok)[:8], RoleAdmin)
		}
		return err
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := register(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("store: register admin token from %s: %w", path, err)
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("store: read admin token: %w", err)
	}
	tok := NewSecret()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: admin token directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: create admin token file: %w", err)
	}
	_, err = f.WriteString(tok + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = register(tok)
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("store: admin token: %w", err)
	}
	s.log.Info("store: admin token written", "path", path)
	return nil
}
