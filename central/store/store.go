// Package store is central's durable state: appliances and their blocks,
// the people housed in them with their cards, PIN hashes and approved
// contacts, the appliances' event streams and what they project into (calls,
// card taps, alarms, status), recordings on disk, API tokens, console users
// (roles, block scopes, argon2id passwords, TOTP, lockout) and their
// sessions, and the append-only, hash-chained audit log.
//
// It uses SQLite through database/sql with the pure-Go driver
// modernc.org/sqlite, in WAL mode with synchronous=FULL so that a committed
// transaction (and so an acknowledgement to an appliance) survives a power
// loss. The schema is created and migrated by numbered migrations kept in
// code (see schema.go). The SQL is kept portable (plain types, $N
// placeholders, ON CONFLICT, RETURNING) so a PostgreSQL backend can share it.
//
// Events are acknowledged once stored; their projections (calls, card taps,
// alarms, status) follow in a separate transaction with a persisted cursor,
// inline for small batches and by a background projector for bursts (see
// project.go and WaitProjected).
//
// Writes go through a single connection (SQLite allows one writer at a time)
// whose transactions begin IMMEDIATE; reads use a small pool of their own
// connections and see WAL snapshots, so the console never blocks ingest.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/kinline/kinline/shared/clock"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors of the store layer. Callers test them with errors.Is.
var (
	ErrNotFound          = errors.New("store: not found")
	ErrConflict          = errors.New("store: already exists")
	ErrInvalid           = errors.New("store: invalid input")
	ErrUnknownBlock      = errors.New("store: unknown block")
	ErrNoBlock           = errors.New("store: appliance has no block assigned")
	ErrNoRecording       = errors.New("store: recording not uploaded")
	ErrRecordingMismatch = errors.New("store: recording does not match its sha256")
	ErrRecordingConflict = errors.New("store: a different recording is already stored for this call")
	ErrUnauthorized      = errors.New("store: unknown or expired credential")
	ErrClosed            = errors.New("store: closed")
	ErrLocked            = errors.New("store: account locked after failed sign-ins")
	ErrTOTPRequired      = errors.New("store: one-time code required")
)

// Store is central's database plus the recordings directory. It is safe for
// concurrent use.
type Store struct {
	w      *sql.DB // one connection, BEGIN IMMEDIATE
	r      *sql.DB // readers
	recDir string
	log    *slog.Logger
	clk    clock.Clock
	ev     eventStmts
	proj   projector
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and makes sure recordingsDir exists. It uses the wall clock.
func Open(ctx context.Context, path string, recordingsDir string, log *slog.Logger) (*Store, error) {
	return OpenWithClock(ctx, path, recordingsDir, log, clock.Real{})
}

// OpenWithClock is Open with an injected clock (tests pass a *clock.Fake).
// The clock stamps audit entries, sessions, policy IssuedAt and receipt times.
func OpenWithClock(ctx context.Context, path string, recordingsDir string, log *slog.Logger, clk clock.Clock) (*Store, error) {
	if path == "" || recordingsDir == "" {
		return nil, fmt.Errorf("%w: database path and recordings directory are required", ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if err := os.MkdirAll(recordingsDir, 0o750); err != nil {
		return nil, fmt.Errorf("store: recordings directory: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: database directory: %w", err)
		}
	}
	pragmas := url.Values{}
	pragmas.Add("_pragma", "busy_timeout(10000)")
	pragmas.Add("_pragma", "journal_mode(WAL)")
	pragmas.Add("_pragma", "synchronous(FULL)")
	pragmas.Add("_pragma", "foreign_keys(1)")
	pragmas.Add("_pragma", "temp_store(MEMORY)")
	readDSN := "file:" + path + "?" + pragmas.Encode()
	pragmas.Set("_txlock", "immediate")
	// The writer gets a 32 MiB page cache (default 2 MiB) so the calls
	// indexes stay in memory while a burst is projected.
	pragmas.Add("_pragma", "cache_size(-32768)")
	writeDSN := "file:" + path + "?" + pragmas.Encode()

	w, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, recDir: recordingsDir, log: log, clk: clk}
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.chainLegacyAudit(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open readers %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s.r = r
	if err := s.prepareEventStmts(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startProjector(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the projector and closes the database. Pending writes have
// either committed or not; events stored but not yet projected are projected
// when the database is next opened.
func (s *Store) Close() error {
	s.stopProjector()
	s.ev.close()
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// SchemaVersion reports the applied schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.w.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var cur int
	err := s.w.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("store: migrate: %w", err)
	}
	if cur > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this program (%d)", cur, len(migrations))
	}
	for i := cur; i < len(migrations); i++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate to %d: %w", i+1, err)
		}
		for _, stmt := range migrations[i] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: migrate to %d: %q: %w", i+1, stmt, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = $1`, i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate to %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate to %d: %w", i+1, err)
		}
		s.log.Info("store: schema migrated", "version", i+1)
	}
	return nil
}

// inTx runs f in a write transaction and commits it.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// nextCounter increments the named counter and returns its new value.
func nextCounter(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: counter %s: %w", name, err)
	}
	return v, nil
}

func newID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

func ns(t time.Time) int64 { return t.UnixNano() }

func fromNS(v int64) time.Time { return time.Unix(0, v).UTC() }

func nullNS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromNS(v.Int64)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
