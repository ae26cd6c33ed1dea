// Package backup makes and restores central's backups: the database (a
// SQLite snapshot taken with VACUUM INTO while central runs, or a
// PostgreSQL pg_dump) and every recording the database references, with a
// manifest (manifest.json, written last) that lists each file with its
// size and SHA-256 so that a restore can tell a complete backup from a
// truncated or damaged one. The recordings key is never in a backup
// (docs/decisions/0030-backups-and-recordings-at-rest.md).
package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store/sqldb"
	"github.com/kinline/kinline/shared/clock"
)

// Names inside a backup directory.
const (
	ManifestName  = "manifest.json"
	SQLiteName    = "central.db"
	PostgresName  = "central.pgdump"
	RecordingsDir = "recordings"
	// Format is the manifest format written.
	Format = 1
)

// Errors of the package.
var (
	ErrNotEmpty   = errors.New("backup: directory is not empty")
	ErrIncomplete = errors.New("backup: not a complete backup")
	ErrDamaged    = errors.New("backup: backup is damaged")
)

// Manifest describes a backup. Files lists every file of the backup but
// the manifest itself, with paths relative to the backup directory.
type Manifest struct {
	Format        int       `json:"format"`
	Program       string    `json:"program"`
	Version       string    `json:"version"`
	Created       time.Time `json:"created"`
	Driver        string    `json:"driver"`
	SchemaVersion int       `json:"schema_version"`
	// Database is the database file in the backup: central.db (SQLite),
	// central.pgdump (PostgreSQL, pg_dump -Fc), or "" when pg_dump was not
	// on PATH and the operator dumps the database separately.
	Database   string `json:"database"`
	Recordings int    `json:"recordings"`
	Files      []File `json:"files"`
}

// File is one file of a backup.
type File struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Source is what is backed up or restored onto: central's database and
// recordings directory, as central's configuration names them.
type Source struct {
	Driver        string // sqldb.DriverSQLite ("" too) or sqldb.DriverPostgres
	Path          string // the SQLite file
	DSN           string // the PostgreSQL connection string
	RecordingsDir string
}

func (s Source) postgres() bool { return s.Driver == sqldb.DriverPostgres }

// Options are a backup's.
type Options struct {
	Version string       // the program's version, for the manifest
	Clock   clock.Clock  // nil: the wall clock
	Log     *slog.Logger // nil: discard
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Backup writes a backup of src into dir, which must not exist or be
// empty. The database is copied first, as one snapshot, and then every
// recording that snapshot references: a recording's file is written and
// synced before the row that references it commits, and files are never
// rewritten (they are named by their SHA-256), so the copy is consistent
// while central runs and ingests. The manifest is written last; a backup
// without one is incomplete.
func Backup(ctx context.Context, src Source, dir string, opt Options) (*Manifest, error) {
	opt.defaults()
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, Program: "kinline-central", Version: opt.Version, Created: opt.Clock.Now().UTC(), Driver: sqldb.DriverSQLite}
	var paths []string
	var err error
	if src.postgres() {
		m.Driver = sqldb.DriverPostgres
		paths, err = dumpPostgres(ctx, src.DSN, dir, m, opt.Log)
	} else {
		paths, err = snapshotSQLite(ctx, src.Path, dir, m)
	}
	if err != nil {
		return nil, err
	}
	if m.Database != "" {
		f, err := describe(dir, m.Database)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}
	for _, p := range paths {
		f, err := copyRecording(src.RecordingsDir, dir, p)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}
	m.Recordings = len(paths)
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	opt.Log.Info("backup: written", "dir", dir, "driver", m.Driver, "schema_version", m.SchemaVersion, "recordings", m.Recordings)
	return m, nil
}

// emptyDir makes dir, or checks that it is empty.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The backup holds what the database holds (hashes of PINs,
		// passwords and tokens): for central's user only.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("%w: %s", ErrNotEmpty, dir)
	}
	return nil
}

// snapshotSQLite copies the database into dir and returns the recordings
// the copy references.
func snapshotSQLite(ctx context.Context, dbPath, dir string, m *Manifest) ([]string, error) {
	dst := filepath.Join(dir, SQLiteName)
	v, err := sqldb.Snapshot(ctx, dbPath, dst)
	if err != nil {
		return nil, err
	}
	m.SchemaVersion, m.Database = v, SQLiteName
	db, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	if err != nil {
		return nil, fmt.Errorf("backup: open copy: %w", err)
	}
	defer db.Close()
	return recordingPaths(ctx, db)
}

// recordingPaths lists the recordings' files (relative to the recordings
// directory) that db references.
func recordingPaths(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT path FROM recordings ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("backup: list recordings: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("backup: list recordings: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backup: list recordings: %w", err)
	}
	return out, nil
}

// dumpPostgres runs pg_dump (custom format) when it is on PATH, and lists
// the recordings the database references after the dump: a superset of
// those the dump references, since recordings are only ever added.
func dumpPostgres(ctx context.Context, dsn, dir string, m *Manifest, log *slog.Logger) ([]string, error) {
	c, err := sqldb.OpenPostgres(ctx, dsn, log)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer c.Close()
	if bin, err := exec.LookPath("pg_dump"); err == nil {
		out, err := exec.CommandContext(ctx, bin, "--format=custom", "--file="+filepath.Join(dir, PostgresName), "--dbname="+dsn).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("backup: pg_dump: %w: %s", err, strings.TrimSpace(string(out)))
		}
		m.Database = PostgresName
	} else {
		log.Warn("backup: pg_dump is not on PATH: the recordings are backed up, the database is not; run pg_dump -Fc yourself (docs/decisions/0030)")
	}
	if err := c.R.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&m.SchemaVersion); err != nil {
		return nil, fmt.Errorf("backup: schema version: %w", err)
	}
	return recordingPaths(ctx, c.R)
}

// copyRecording copies the recording rel from the recordings directory
// into the backup.
func copyRecording(recDir, dir, rel string) (File, error) {
	if !validRel(rel) {
		return File{}, fmt.Errorf("backup: recording path %q is not inside the recordings directory", rel)
	}
	name := filepath.ToSlash(filepath.Join(RecordingsDir, rel))
	n, sum, err := copyFile(filepath.Join(recDir, rel), filepath.Join(dir, name))
	if err != nil {
		return File{}, fmt.Errorf("backup: recording %s: %w", rel, err)
	}
	return File{Path: name, Bytes: n, SHA256: sum}, nil
}

// validRel reports whether p is a clean relative path that stays inside
// its directory.
func validRel(p string) bool {
	return p != "" && filepath.IsLocal(p) && filepath.Clean(p) == p
}

// describe hashes the file name of dir.
func describe(dir, name string) (File, error) {
	n, sum, err := hashFile(filepath.Join(dir, name))
	if err != nil {
		return File{}, err
	}
	return File{Path: name, Bytes: n, SHA256: sum}, nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("backup: read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// copyFile copies src to dst (created, synced, mode 0640) and returns the
// size and SHA-256 of what it wrote.
func copyFile(src, dst string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return 0, "", err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", path, err)
	}
	return nil
}

// writeManifest writes m as dir/manifest.json through a synced temporary
// file: its presence marks a complete backup.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	tmp := filepath.Join(dir, ManifestName+".part")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, ManifestName)); err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer d.Close()
	return d.Sync()
}
