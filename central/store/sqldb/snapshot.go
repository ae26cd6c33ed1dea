package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// Snapshot copies the SQLite database at dbPath into the new file dst
// with VACUUM INTO, one read transaction: a consistent copy taken while
// the database is written. It returns the copy's schema version.
func Snapshot(ctx context.Context, dbPath, dst string) (int, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return 0, fmt.Errorf("store: database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", dbPath, err)
	}
	defer db.Close()
	tmp := dst + ".part"
	os.Remove(tmp)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("store: copy database %s: %w", dbPath, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("store: sync snapshot: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	c, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("store: open copy: %w", err)
	}
	defer c.Close()
	var v int
	if err := c.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version of the copy: %w", err)
	}
	return v, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
