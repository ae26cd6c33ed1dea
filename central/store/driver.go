package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// conns are a database's writer (one connection) and reader pool.
type conns struct {
	w, r *sql.DB
	d    *dialect
	name string // for errors: the SQLite file or the PostgreSQL host/database
}

func (c conns) close() {
	c.w.Close()
	c.r.Close()
}

func openSQLite(path string) (conns, error) {
	if path == "" {
		return conns{}, fmt.Errorf("%w: database path is required", ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return conns{}, fmt.Errorf("store: database directory: %w", err)
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
		return conns{}, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return conns{}, fmt.Errorf("store: open readers %s: %w", path, err)
	}
	singleWriter(w)
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return conns{w: w, r: r, d: &sqliteDialect, name: path}, nil
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

func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (conns, error) {
	if dsn == "" {
		return conns{}, fmt.Errorf("%w: database.dsn is required for PostgreSQL", ErrInvalid)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors leave out the password.
		return conns{}, fmt.Errorf("%w: PostgreSQL DSN: %w", ErrInvalid, err)
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
	c := conns{w: w, r: r, d: &postgresDialect, name: name}
	var collate, ctype string
	err = w.QueryRowContext(ctx, `SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()`).Scan(&collate, &ctype)
	if err != nil {
		c.close()
		return conns{}, fmt.Errorf("store: open %s: %w", name, err)
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
