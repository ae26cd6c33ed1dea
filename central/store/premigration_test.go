package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/shared/clock"
)

// schema1DB writes a SQLite database at schema 1 holding one block.
func schema1DB(t *testing.T, path string) {
	t.Helper()
	db := rawSQL(t, path)
	defer db.Close()
	q := append([]string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version VALUES (1)`}, schema.Migrations[0]...)
	q = append(append(q, schema.After(testDialect().Name, 1)...), `INSERT INTO blocks VALUES ('A', 1, 0)`)
	for _, s := range q {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func schemaOf(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrationBacksUpFirst: opening a database of an older schema copies
// it to the backup directory before migrating; a copy that cannot be made
// stops the migration with the database untouched.
func TestMigrationBacksUpFirst(t *testing.T) {
	if onPostgres() {
		t.Skip("SQLite only: PostgreSQL is backed up with pg_dump before an upgrade")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	schema1DB(t, path)

	// The backup directory cannot be made (a file is in the way).
	blocked := filepath.Join(dir, "blocked")
	os.WriteFile(blocked, nil, 0o600)
	_, err := OpenDatabase(ctx, Database{Path: path, BackupDir: filepath.Join(blocked, "backups")}, filepath.Join(dir, "rec"), nil, clock.NewFake(t0))
	if err == nil || !strings.Contains(err.Error(), "backup before migrating schema 1") {
		t.Fatalf("open with an unusable backup directory: %v", err)
	}
	if v := schemaOf(t, path); v != 1 {
		t.Fatalf("schema %d after a failed backup, want 1 (untouched)", v)
	}

	backups := filepath.Join(dir, "backups")
	s, err := OpenDatabase(ctx, Database{Path: path, BackupDir: backups}, filepath.Join(dir, "rec"), nil, clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.SchemaVersion(ctx); v != len(schema.Migrations) {
		t.Fatalf("schema %d after migrating", v)
	}
	ents, _ := os.ReadDir(backups)
	want := fmt.Sprintf("pre-migration-1-%d-", len(schema.Migrations)) + t0.Format("20060102T150405Z") + ".db"
	if len(ents) != 1 || ents[0].Name() != want {
		t.Fatalf("backups: %v, want %s", ents, want)
	}
	if v := schemaOf(t, filepath.Join(backups, want)); v != 1 {
		t.Fatalf("backup at schema %d, want 1", v)
	}
	// Opening the current database again makes no backup.
	s.Close()
	s2, err := OpenDatabase(ctx, Database{Path: path, BackupDir: backups}, filepath.Join(dir, "rec"), nil, clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if ents, _ := os.ReadDir(backups); len(ents) != 1 {
		t.Fatalf("backups after a second open: %v", ents)
	}
}
