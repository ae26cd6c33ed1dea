// Package store is central's durable state: appliances and their blocks
// (with the blocks' policy versions), the appliances' event streams and
// what they project into (calls, card taps, alarms, status, the people's
// block history), recordings on disk, the roles console users hold, and
// the append-only, hash-chained audit log. It is the core the domain
// packages are built on (domain.go), on the core's schema, transactions
// and audit chain: console users, their passwords, TOTP, sessions and API
// tokens are package users (central/store/users), the people housed in
// the blocks with their cards, PIN hashes, contacts, rules and the
// prison's settings package people, the CSV and XLSX import and exports
// package tables, statistics, billing reports and the review of calls
// package reports. The policy an appliance receives is built from them by
// central/ingest/policysnap.
//
// It runs on SQLite by default, through database/sql with the pure-Go
// driver modernc.org/sqlite, in WAL mode with synchronous=FULL so that a
// committed transaction (and so an acknowledgement to an appliance)
// survives a power loss; or on PostgreSQL (Database.Driver "postgres",
// through github.com/jackc/pgx/v5/stdlib) for large sites, with the same
// schema and behaviour. The schema is created and migrated by numbered
// migrations kept in code (central/store/schema). The SQL is written once
// in the subset both databases share; the few fragments that differ are in
// central/store/sqldb (dialect.go), which also says how the two are kept
// behaving alike.
//
// Events are acknowledged once stored; their projections (calls, card taps,
// alarms, status) follow in a separate transaction with a persisted cursor,
// inline for small batches and by a background projector for bursts (see
// central/store/eventlog and WaitProjected).
//
// Writes go through a single connection whose transactions are serialized
// (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock, see sqldb);
// reads use a small pool of their own connections and see snapshots (WAL;
// REPEATABLE READ on PostgreSQL), so the console never blocks ingest.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kinline/kinline/central/store/eventlog"
	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/central/store/sqldb"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
)

// Database drivers Open accepts (Database.Driver).
const (
	DriverSQLite   = sqldb.DriverSQLite
	DriverPostgres = sqldb.DriverPostgres
)

// Errors of the store layer. Callers test them with errors.Is.
var (
	ErrNotFound          = errors.New("store: not found")
	ErrConflict          = errors.New("store: already exists")
	ErrInvalid           = sqldb.ErrInvalid // "store: invalid input"
	ErrUnknownBlock      = errors.New("store: unknown block")
	ErrNoBlock           = errors.New("store: appliance has no block assigned")
	ErrNoRecording       = errors.New("store: recording not uploaded")
	ErrRecordingMismatch = errors.New("store: recording does not match its sha256")
	ErrRecordingConflict = errors.New("store: a different recording is already stored for this call")
	// ErrPrivilegedRecording: audio arrived for a call central knows is
	// privileged (never recorded); nothing is kept and an alarm is raised.
	ErrPrivilegedRecording = errors.New("store: recording refused: the call is privileged")
	ErrUnauthorized        = errors.New("store: unknown or expired credential")
	ErrClosed              = errors.New("store: closed")
	ErrTOTPRequired        = errors.New("store: one-time code required")
)

// Store is central's database plus the recordings directory. It is safe for
// concurrent use.
type Store struct {
	w      *sql.DB // one connection, serialized write transactions
	r      *sql.DB // readers
	d      *sqldb.Dialect
	recDir string
	recKey recstore.Key
	log    *slog.Logger
	clk    clock.Clock
	ev     *eventlog.Log
}

// Database says which database the store uses.
type Database struct {
	// Driver is DriverSQLite ("" is the same) or DriverPostgres.
	Driver string
	// Path is the SQLite database file, created if needed.
	Path string
	// DSN is the PostgreSQL connection string, a URL
	// (postgres://user@host:5432/kinline?sslmode=verify-full) or
	// key=value pairs; the database must exist, its tables are created
	// in the first schema of the search path.
	DSN string
	// RecordingKey seals the recordings stored from now on
	// (shared/recstore); recordings are read sealed or plaintext alike.
	// The zero Key stores them in plaintext (tests and development).
	RecordingKey recstore.Key
	// BackupDir is where a SQLite database is copied before its schema
	// is migrated (pre-migration-<from>-<to>-<time>.db); "" is a backups
	// directory beside the database file.
	BackupDir string
}

// Open opens (creating if needed) the SQLite database at path, applies
// pending migrations and makes sure recordingsDir exists. It uses the wall
// clock.
func Open(ctx context.Context, path string, recordingsDir string, log *slog.Logger) (*Store, error) {
	return OpenWithClock(ctx, path, recordingsDir, log, clock.Real{})
}

// OpenWithClock is Open with an injected clock (tests pass a *clock.Fake).
// The clock stamps audit entries, sessions, policy IssuedAt and receipt times.
func OpenWithClock(ctx context.Context, path string, recordingsDir string, log *slog.Logger, clk clock.Clock) (*Store, error) {
	return OpenDatabase(ctx, Database{Driver: DriverSQLite, Path: path}, recordingsDir, log, clk)
}

// OpenDatabase opens the store on db (SQLite or PostgreSQL), applies
// pending migrations and makes sure recordingsDir exists. clk nil is the
// wall clock.
func OpenDatabase(ctx context.Context, db Database, recordingsDir string, log *slog.Logger, clk clock.Clock) (*Store, error) {
	if recordingsDir == "" {
		return nil, fmt.Errorf("%w: recordings directory is required", ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	var c sqldb.Conns
	var err error
	switch db.Driver {
	case "", DriverSQLite:
		c, err = sqldb.OpenSQLite(db.Path)
	case DriverPostgres:
		c, err = sqldb.OpenPostgres(ctx, db.DSN, log)
	default:
		return nil, fmt.Errorf("%w: database driver %q (want %s or %s)", ErrInvalid, db.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(recordingsDir, 0o750); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: recordings directory: %w", err)
	}
	s := &Store{w: c.W, d: c.D, recDir: recordingsDir, recKey: db.RecordingKey, log: log, clk: clk}
	if err := sqldb.PingRetryBusy(ctx, c.W); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: open %s: %w", c.Name, err)
	}
	if err := s.backupBeforeMigrating(ctx, db); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.chainLegacyAudit(ctx); err != nil {
		c.Close()
		return nil, err
	}
	s.r = c.R
	if err := s.openEventLog(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the projector and closes the database. Pending writes have
// either committed or not; events stored but not yet projected are projected
// when the database is next opened.
func (s *Store) Close() error {
	if s.ev != nil {
		s.ev.Close()
	}
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

// migrate applies the pending migrations (central/store/schema).
func (s *Store) migrate(ctx context.Context) error {
	return schema.Migrate(ctx, s.d.Name, s.log, s.inTx)
}

// backupBeforeMigrating copies a SQLite database whose schema is older
// than this program's to db.BackupDir (default: backups/ beside the
// database) as pre-migration-<from>-<to>-<UTC time>.db before anything
// is migrated, so that an upgrade can be undone by putting the copy back
// with the older program. A new database (no schema yet) and PostgreSQL
// (pg_dump before upgrading: docs/decisions/0030) are not copied. A
// failed copy stops the migration: the error says so, and nothing has
// been changed.
func (s *Store) backupBeforeMigrating(ctx context.Context, db Database) error {
	if s.d.Name != DriverSQLite {
		return nil
	}
	var from int
	err := s.w.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&from)
	if err != nil || from == 0 || from >= len(schema.Migrations) {
		return nil // new database (no table, no row), current, or newer: migrate says
	}
	to := len(schema.Migrations)
	dir := db.BackupDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(db.Path), "backups")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: backup before migrating schema %d to %d failed, nothing migrated: %w", from, to, err)
	}
	dst := filepath.Join(dir, fmt.Sprintf("pre-migration-%d-%d-%s.db", from, to, s.clk.Now().UTC().Format("20060102T150405Z")))
	if _, err := sqldb.Snapshot(ctx, db.Path, dst); err != nil {
		return fmt.Errorf("store: backup before migrating schema %d to %d failed, nothing migrated: %w", from, to, err)
	}
	s.log.Info("store: database backed up before migrating its schema", "from", from, "to", to, "backup", dst)
	return nil
}

// inTx runs f in a write transaction and commits it. Write transactions
// are serial (see central/store/sqldb).
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if s.d.LockWrites != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockWrites); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: lock for writing: %w", err)
		}
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
