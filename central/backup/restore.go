package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/sqldb"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
)

// ErrWrongKey: the backup's recordings were sealed with another key than
// the one central is configured with.
var ErrWrongKey = errors.New("backup: the recordings were sealed with another key than central's recordings_key")

// RestoreOptions are a restore's.
type RestoreOptions struct {
	// Force restores over an existing database and recordings.
	Force bool
	// Key is central's recordings key: every sealed recording of the
	// backup must open with it. The zero Key skips the check.
	Key recstore.Key
	// BackupDir is the store's pre-migration backup directory, used when
	// the restored database is of an older schema ("" beside it).
	BackupDir string
	Clock     clock.Clock  // nil: the wall clock
	Log       *slog.Logger // nil: discard
}

// Report says what a restore did.
type Report struct {
	Manifest   *Manifest
	Recordings int
	// DatabaseRestored is false for a PostgreSQL backup without a dump
	// (the operator restores it with pg_restore).
	DatabaseRestored bool
	// AuditVerified: the restored database's audit chain verified.
	AuditVerified bool
}

// ReadManifest reads and checks dir's manifest and verifies every file it
// lists: present, of its size and SHA-256. A backup without a manifest was
// interrupted (ErrIncomplete); a file that differs is ErrDamaged.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s (the backup was interrupted, or this is not a backup)", ErrIncomplete, dir, ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, ManifestName, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%w: manifest format %d, this program reads %d", ErrDamaged, m.Format, Format)
	}
	if m.Driver == sqldb.DriverSQLite && m.Database != SQLiteName {
		return nil, fmt.Errorf("%w: a SQLite backup without %s", ErrIncomplete, SQLiteName)
	}
	for _, f := range m.Files {
		if !validRel(filepath.FromSlash(f.Path)) {
			return nil, fmt.Errorf("%w: manifest names %q, outside the backup", ErrDamaged, f.Path)
		}
		n, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrIncomplete, f.Path, err)
		}
		if n != f.Bytes || sum != f.SHA256 {
			return nil, fmt.Errorf("%w: %s is %d bytes with sha256 %s; the manifest says %d bytes, %s", ErrDamaged, f.Path, n, sum, f.Bytes, f.SHA256)
		}
	}
	return &m, nil
}

// Restore verifies the backup in dir and restores it onto dst: the
// database, then the recordings; then it opens the restored store (which
// migrates it if the backup is older than this program) and verifies the
// audit chain. It refuses a dst that holds a database or recordings
// unless opt.Force, and a backup whose recordings do not open with
// opt.Key, before writing anything.
func Restore(ctx context.Context, dir string, dst Source, opt RestoreOptions) (*Report, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if (m.Driver == sqldb.DriverPostgres) != dst.postgres() {
		return nil, fmt.Errorf("backup: a %s backup cannot be restored onto a %s database", m.Driver, driverName(dst))
	}
	if err := checkKey(dir, m, opt.Key); err != nil {
		return nil, err
	}
	if !opt.Force {
		if err := checkEmpty(ctx, dst, opt.Log); err != nil {
			return nil, err
		}
	}
	rep := &Report{Manifest: m}
	if dst.postgres() {
		rep.DatabaseRestored, err = restorePostgres(ctx, dir, m, dst.DSN)
	} else {
		rep.DatabaseRestored, err = true, restoreSQLite(dir, dst.Path)
	}
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		rel, ok := strings.CutPrefix(f.Path, RecordingsDir+"/")
		if !ok {
			continue
		}
		if _, _, err := copyFile(filepath.Join(dir, filepath.FromSlash(f.Path)), filepath.Join(dst.RecordingsDir, filepath.FromSlash(rel))); err != nil {
			return nil, fmt.Errorf("backup: restore %s: %w", f.Path, err)
		}
		rep.Recordings++
	}
	if !rep.DatabaseRestored {
		return rep, nil
	}
	if err := verifyAudit(ctx, dst, opt); err != nil {
		return rep, err
	}
	rep.AuditVerified = true
	opt.Log.Info("backup: restored", "dir", dir, "schema_version", m.SchemaVersion, "recordings", rep.Recordings, "audit", "verified")
	return rep, nil
}

func driverName(s Source) string {
	if s.postgres() {
		return sqldb.DriverPostgres
	}
	return sqldb.DriverSQLite
}

// checkKey opens every sealed recording of the backup with key.
func checkKey(dir string, m *Manifest, key recstore.Key) error {
	if key.IsZero() {
		return nil
	}
	for _, f := range m.Files {
		if !strings.HasPrefix(f.Path, RecordingsDir+"/") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		fh, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		sealed := recstore.Sealed(fh, f.Bytes)
		fh.Close()
		if !sealed {
			continue
		}
		r, err := recstore.Open(p, key)
		if errors.Is(err, recstore.ErrWrongKey) {
			return fmt.Errorf("%w (%s)", ErrWrongKey, f.Path)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrDamaged, f.Path, err)
		}
		r.Close()
	}
	return nil
}

// checkEmpty refuses a destination that holds a database or recordings.
func checkEmpty(ctx context.Context, dst Source, log *slog.Logger) error {
	if ents, err := os.ReadDir(dst.RecordingsDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%w: %s holds recordings (restore -force replaces what is there)", ErrNotEmpty, dst.RecordingsDir)
	}
	if !dst.postgres() {
		if st, err := os.Stat(dst.Path); err == nil && st.Size() > 0 {
			return fmt.Errorf("%w: database %s exists (restore -force replaces it)", ErrNotEmpty, dst.Path)
		}
		return nil
	}
	c, err := sqldb.OpenPostgres(ctx, dst.DSN, log)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer c.Close()
	var n int
	if err := c.R.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = current_schema()`).Scan(&n); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: the PostgreSQL database already holds central's tables (restore -force replaces them)", ErrNotEmpty)
	}
	return nil
}

// restoreSQLite puts the backup's database in place of path (through a
// synced temporary file; the old database's WAL and shared-memory files
// go, or SQLite would replay them onto the restored file).
func restoreSQLite(dir, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := path + ".restore"
	if _, _, err := copyFile(filepath.Join(dir, SQLiteName), tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: restore database: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// restorePostgres runs pg_restore on the backup's dump; without a dump
// the operator restores the database and false says so.
func restorePostgres(ctx context.Context, dir string, m *Manifest, dsn string) (bool, error) {
	if m.Database == "" {
		return false, nil
	}
	bin, err := exec.LookPath("pg_restore")
	if err != nil {
		return false, fmt.Errorf("backup: pg_restore is not on PATH; install the PostgreSQL client or run pg_restore --clean --if-exists --no-owner -d DSN %s", filepath.Join(dir, m.Database))
	}
	out, err := exec.CommandContext(ctx, bin, "--clean", "--if-exists", "--no-owner", "--dbname="+dsn, filepath.Join(dir, m.Database)).CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("backup: pg_restore: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return true, nil
}

// verifyAudit opens the restored store and verifies its audit chain.
func verifyAudit(ctx context.Context, dst Source, opt RestoreOptions) error {
	db := store.Database{Driver: dst.Driver, Path: dst.Path, DSN: dst.DSN, RecordingKey: opt.Key, BackupDir: opt.BackupDir}
	st, err := store.OpenDatabase(ctx, db, dst.RecordingsDir, opt.Log, opt.Clock)
	if err != nil {
		return fmt.Errorf("backup: open the restored database: %w", err)
	}
	defer st.Close()
	if err := st.VerifyAudit(ctx); err != nil {
		return fmt.Errorf("backup: the restored audit log does not verify: %w", err)
	}
	return nil
}
