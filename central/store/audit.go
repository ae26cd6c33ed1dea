package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Token roles accepted as aliases: an admin token is a RoleSystemAdmin and a
// viewer token a RoleReadOnly (see UserRole; tokens are users.Token).
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
