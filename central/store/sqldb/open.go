package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrInvalid is the core's store.ErrInvalid (the core exports this very
// value): a database configuration that cannot be opened.
var ErrInvalid = errors.New("store: invalid input")

// Conns are a database's writer (one connection) and reader pool.
type Conns struct {
	W, R *sql.DB
	D    *Dialect
	Name string // for errors: the SQLite file or the PostgreSQL host/database
}

// Close closes both pools.
func (c Conns) Close() {
	c.W.Close()
	c.R.Close()
}

// OpenSQLite opens the SQLite database file at path (created if needed)
// in WAL mode with synchronous=FULL.
func OpenSQLite(path string) (Conns, error) {
	if path == "" {
		return Conns{}, fmt.Errorf("%w: database path is required", ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return Conns{}, fmt.Errorf("store: database directory: %w", err)
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
		return Conns{}, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return Conns{}, fmt.Errorf("store: open readers %s: %w", path, err)
	}
	singleWriter(w)
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return Conns{W: w, R: r, D: &SQLite, Name: path}, nil
}

// singleWriter makes w one long-lived connection.
func singleWriter(w *sql.DB) {
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
}

// postgresReaders is the size of the PostgreSQL reader pool.
const postgresReaders = 8

// OpenPostgres opens the PostgreSQL database of dsn; it warns on log when
// the database does not use the C locale.
func OpenPostgres(ctx context.Context, dsn string, log *slog.Logger) (Conns, error) {
	if dsn == "" {
		return Conns{}, fmt.Errorf("%w: database.dsn is required for PostgreSQL", ErrInvalid)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors leave out the password.
		return Conns{}, fmt.Errorf("%w: PostgreSQL DSN: %w", ErrInvalid, err)
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "kinline-central"
	}
	name := fmt.Sprintf("postgres %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	rcfg := cfg.Copy()
	// An acknowledged event must survive a crash of the server, whatever
	// the server's default.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	// Readers see one snapshot per transaction, as SQLite's WAL readers
	// do, and cannot write.
	rcfg.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	w := stdlib.OpenDB(*cfg)
	r := stdlib.OpenDB(*rcfg)
	singleWriter(w)
	r.SetMaxOpenConns(postgresReaders)
	r.SetMaxIdleConns(postgresReaders)
	c := Conns{W: w, R: r, D: &Postgres, Name: name}
	var collate, ctype string
	err = w.QueryRowContext(ctx, `SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()`).Scan(&collate, &ctype)
	if err != nil {
		c.Close()
		return Conns{}, fmt.Errorf("store: open %s: %w", name, err)
	}
	if !cLocale(collate) || !cLocale(ctype) {
		log.Warn("store: the PostgreSQL database does not use the C locale: text sorts and case-folds by its locale, not byte by byte as on SQLite",
			"lc_collate", collate, "lc_ctype", ctype)
	}
	return c, nil
}

func cLocale(l string) bool {
	switch l {
	case "C", "POSIX", "C.UTF-8", "C.utf8":
		return true
	}
	return false
}

// PingRetryBusy opens the first connection. Two processes opening one new
// SQLite file at once can make one connection's journal_mode(WAL) pragma
// fail with SQLITE_BUSY at once, without the busy timeout (SQLite does not
// wait on that lock); it is tried again for up to 10 s.
func PingRetryBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
