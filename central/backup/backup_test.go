package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/backup"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const app = "block-a-1"

// site is a central data directory with a running store.
type site struct {
	dir string
	src backup.Source
	key recstore.Key
	st  *store.Store
}

func newKey(t *testing.T) recstore.Key {
	t.Helper()
	raw := make([]byte, recstore.KeySize)
	rand.Read(raw)
	k, err := recstore.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSite(t *testing.T, key recstore.Key) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{dir: dir, key: key, src: backup.Source{Driver: store.DriverSQLite, Path: filepath.Join(dir, "central.db"), RecordingsDir: filepath.Join(dir, "recordings")}}
	return s
}

func (s *site) open(t *testing.T) *store.Store {
	t.Helper()
	db := store.Database{Driver: s.src.Driver, Path: s.src.Path, RecordingKey: s.key}
	st, err := store.OpenDatabase(context.Background(), db, s.src.RecordingsDir, nil, clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s.st = st
	return st
}

// audio is call n's recording: 40 KiB, more than two sealed segments.
func audio(n int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("call %d audio ", n)), 40<<10/12)
	return append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), b...)
}

// ingest stores call n's record and then its recording, and audits, as
// central does while appliances sync.
func ingest(ctx context.Context, st *store.Store, n int, prev string) (string, error) {
	data := audio(n)
	sum := sha256.Sum256(data)
	ref := wire.RecordingRef{ID: fmt.Sprintf("r%d", n), SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Format: "wav/pcmu-stereo"}
	start := t0.Add(time.Duration(n) * time.Minute)
	ans := start.Add(5 * time.Second)
	rec := wire.CallRecord{CallID: fmt.Sprintf("call-%d", n), Terminal: "t1", Number: "+44 20 7946 0000", Start: start, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Recording: &ref}
	evs := storetest.Events(app, uint64(n), prev, t0, rec)
	if _, err := st.StoreEvents(ctx, app, evs); err != nil {
		return "", err
	}
	if err := st.StoreRecording(ctx, app, &wire.RecordingUpload{V: 1, ApplianceID: app, CallID: rec.CallID, Ref: ref, Data: data}); err != nil {
		return "", err
	}
	if err := st.Audit(ctx, "ingest-test", "test.ingest", rec.CallID, ""); err != nil {
		return "", err
	}
	return evs[0].Hash, nil
}

// play plays call's recording through central/recordings, with an
// optional Range, and returns the status and body.
func play(t *testing.T, st *store.Store, call, rng string) (int, []byte) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := recordings.Play(w, r, st, authz.Caller{Actor: "admin", Role: store.RoleSystemAdmin, MFA: true}, call); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestBackupWhileIngesting takes a backup while calls and recordings are
// being ingested, restores it into an empty data directory, and checks
// the audit chain and that every call the backup holds plays back
// byte-identical, Range requests included.
func TestBackupWhileIngesting(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	a := newSite(t, key)
	st := a.open(t)
	if err := st.UpsertAppliance(ctx, app, "A"); err != nil {
		t.Fatal(err)
	}
	prev := ""
	var err error
	for n := 1; n <= 3; n++ {
		if prev, err = ingest(ctx, st, n, prev); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ingestErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 4; n < 400; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if prev, ingestErr = ingest(ctx, st, n, prev); ingestErr != nil {
				return
			}
		}
	}()
	bdir := filepath.Join(t.TempDir(), "backup")
	time.Sleep(20 * time.Millisecond)
	m, err := backup.Backup(ctx, a.src, bdir, backup.Options{Version: "test"})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ingestErr != nil {
		t.Fatal(ingestErr)
	}
	t.Logf("backup taken after %d recordings", m.Recordings)
	if m.Recordings < 3 || m.SchemaVersion == 0 {
		t.Fatalf("manifest: %d recordings, schema %d", m.Recordings, m.SchemaVersion)
	}
	b := newSite(t, key)
	rep, err := backup.Restore(ctx, bdir, b.src, backup.RestoreOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.AuditVerified || rep.Recordings != m.Recordings {
		t.Fatalf("report: %+v", rep)
	}
	rst := b.open(t)
	for n := 1; n <= m.Recordings; n++ {
		call := fmt.Sprintf("call-%d", n)
		code, body := play(t, rst, call, "")
		if code != http.StatusOK || !bytes.Equal(body, audio(n)) {
			t.Fatalf("%s: status %d, %d bytes, want the %d uploaded", call, code, len(body), len(audio(n)))
		}
	}
	code, body := play(t, rst, "call-2", "bytes=20000-20099")
	if code != http.StatusPartialContent || !bytes.Equal(body, audio(2)[20000:20100]) {
		t.Fatalf("range: status %d, %q", code, body)
	}
	if err := rst.VerifyAudit(ctx); err != nil {
		t.Fatalf("after playback: %v", err)
	}
}

// backupOf makes a site with two recorded calls and backs it up.
func backupOf(t *testing.T, key recstore.Key) (*site, string) {
	t.Helper()
	ctx := context.Background()
	a := newSite(t, key)
	st := a.open(t)
	if err := st.UpsertAppliance(ctx, app, "A"); err != nil {
		t.Fatal(err)
	}
	prev := ""
	var err error
	for n := 1; n <= 2; n++ {
		if prev, err = ingest(ctx, st, n, prev); err != nil {
			t.Fatal(err)
		}
	}
	bdir := filepath.Join(t.TempDir(), "backup")
	if _, err := backup.Backup(ctx, a.src, bdir, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	return a, bdir
}

func TestBackupRefusesNonEmptyDirectory(t *testing.T) {
	a, bdir := backupOf(t, newKey(t))
	if st, err := os.Stat(bdir); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o700 {
		t.Fatalf("backup directory mode %v, want 0700", st.Mode().Perm())
	}
	if _, err := backup.Backup(context.Background(), a.src, bdir, backup.Options{}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("backup into a used directory: %v", err)
	}
}

func TestRestoreRefusesNonEmptyDataDir(t *testing.T) {
	ctx := context.Background()
	a, bdir := backupOf(t, newKey(t))
	// Onto the live site itself: a database and recordings are there.
	if _, err := backup.Restore(ctx, bdir, a.src, backup.RestoreOptions{}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore onto a used data directory: %v", err)
	}
	// Recordings but no database is not empty either.
	b := newSite(t, a.key)
	os.MkdirAll(filepath.Join(b.src.RecordingsDir, "ab"), 0o750)
	if _, err := backup.Restore(ctx, bdir, b.src, backup.RestoreOptions{}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore onto recordings: %v", err)
	}
	// -force replaces the database, leftover WAL included.
	a.st.Close()
	os.WriteFile(a.src.Path+"-wal", []byte("stale wal"), 0o600)
	rep, err := backup.Restore(ctx, bdir, a.src, backup.RestoreOptions{Force: true, Key: a.key})
	if err != nil || !rep.AuditVerified {
		t.Fatalf("forced restore: %+v %v", rep, err)
	}
}

func TestRestoreRefusesDamagedBackups(t *testing.T) {
	ctx := context.Background()
	_, bdir := backupOf(t, newKey(t))
	m, err := backup.ReadManifest(bdir)
	if err != nil {
		t.Fatal(err)
	}
	var rec string
	for _, f := range m.Files {
		if f.Path != backup.SQLiteName {
			rec = f.Path
		}
	}
	cases := []struct {
		name string
		harm func(dir string)
		want error
	}{
		{"truncated recording", func(d string) { os.Truncate(filepath.Join(d, rec), 100) }, backup.ErrDamaged},
		{"truncated database", func(d string) { os.Truncate(filepath.Join(d, backup.SQLiteName), 4096) }, backup.ErrDamaged},
		{"missing recording", func(d string) { os.Remove(filepath.Join(d, rec)) }, backup.ErrIncomplete},
		{"no manifest (interrupted)", func(d string) { os.Remove(filepath.Join(d, backup.ManifestName)) }, backup.ErrIncomplete},
		{"manifest escaping the backup", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, backup.ManifestName))
			os.WriteFile(filepath.Join(d, backup.ManifestName), bytes.Replace(b, []byte(rec), []byte("../../etc/passwd"), 1), 0o600)
		}, backup.ErrDamaged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "copy")
			copyTree(t, bdir, d)
			c.harm(d)
			b := newSite(t, recstore.Key{})
			_, err := backup.Restore(ctx, d, b.src, backup.RestoreOptions{})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if _, serr := os.Stat(b.src.Path); serr == nil {
				t.Fatal("a refused restore wrote the database")
			}
		})
	}
}

func TestRestoreRefusesWrongKey(t *testing.T) {
	_, bdir := backupOf(t, newKey(t))
	b := newSite(t, newKey(t))
	_, err := backup.Restore(context.Background(), bdir, b.src, backup.RestoreOptions{Key: b.key})
	if !errors.Is(err, backup.ErrWrongKey) {
		t.Fatalf("restore with another key: %v", err)
	}
	if _, serr := os.Stat(b.src.Path); serr == nil {
		t.Fatal("a refused restore wrote the database")
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPostgresBackupRestore: with PostgreSQL, backup runs pg_dump and
// restore -force runs pg_restore over the database: what was added after
// the backup is gone, the audit chain verifies, the recording plays.
func TestPostgresBackupRestore(t *testing.T) {
	if testing.Short() || pgtest.Enabled() {
		t.Skip("starts its own PostgreSQL server; not in -short")
	}
	pgtest.Need(t)
	testkit.NeedPeer(t, "pg_dump", "postgresql")
	testkit.NeedPeer(t, "pg_restore", "postgresql")
	ctx := context.Background()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	key := newKey(t)
	dir := t.TempDir()
	a := &site{dir: dir, key: key, src: backup.Source{Driver: store.DriverPostgres, DSN: srv.DSN(), RecordingsDir: filepath.Join(dir, "recordings")}}
	openPG := func(s *site) *store.Store {
		st, err := store.OpenDatabase(ctx, store.Database{Driver: store.DriverPostgres, DSN: s.src.DSN, RecordingKey: key}, s.src.RecordingsDir, nil, clock.NewFake(t0))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := openPG(a)
	if err := st.UpsertAppliance(ctx, app, "A"); err != nil {
		t.Fatal(err)
	}
	prev := ""
	for n := 1; n <= 2; n++ {
		if prev, err = ingest(ctx, st, n, prev); err != nil {
			t.Fatal(err)
		}
	}
	bdir := filepath.Join(t.TempDir(), "backup")
	m, err := backup.Backup(ctx, a.src, bdir, backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Database != backup.PostgresName || m.Recordings != 2 {
		t.Fatalf("manifest: %+v", m)
	}
	if _, err := ingest(ctx, st, 3, prev); err != nil {
		t.Fatal(err)
	}
	st.Close()
	b := &site{key: key, src: backup.Source{Driver: store.DriverPostgres, DSN: srv.DSN(), RecordingsDir: filepath.Join(t.TempDir(), "recordings")}}
	if _, err := backup.Restore(ctx, bdir, b.src, backup.RestoreOptions{Key: key}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore over central's tables: %v", err)
	}
	rep, err := backup.Restore(ctx, bdir, b.src, backup.RestoreOptions{Key: key, Force: true})
	if err != nil || !rep.DatabaseRestored || !rep.AuditVerified {
		t.Fatalf("forced restore: %+v %v", rep, err)
	}
	rst := openPG(b)
	defer rst.Close()
	if _, err := rst.Call(ctx, "call-3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("call-3, stored after the backup: %v", err)
	}
	if code, body := play(t, rst, "call-1", ""); code != http.StatusOK || !bytes.Equal(body, audio(1)) {
		t.Fatalf("call-1: %d, %d bytes", code, len(body))
	}
}

// TestRestoreThenAppliancesGoOn: events central acknowledged after the
// backup are not in the restored database, and appliances do not resend
// what was acknowledged; the next batch shows the hole as an event_gap
// alarm, so the loss is visible, not silent.
func TestRestoreThenAppliancesGoOn(t *testing.T) {
	ctx := context.Background()
	a := newSite(t, newKey(t))
	st := a.open(t)
	if err := st.UpsertAppliance(ctx, app, "A"); err != nil {
		t.Fatal(err)
	}
	prev := ""
	var err error
	for n := 1; n <= 2; n++ {
		if prev, err = ingest(ctx, st, n, prev); err != nil {
			t.Fatal(err)
		}
	}
	bdir := filepath.Join(t.TempDir(), "backup")
	if _, err := backup.Backup(ctx, a.src, bdir, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	if prev, err = ingest(ctx, st, 3, prev); err != nil {
		t.Fatal(err)
	}
	st.Close()
	b := newSite(t, a.key)
	if _, err := backup.Restore(ctx, bdir, b.src, backup.RestoreOptions{Key: a.key}); err != nil {
		t.Fatal(err)
	}
	rst := b.open(t)
	ans := t0.Add(time.Hour)
	evs := storetest.Events(app, 4, prev, t0, wire.CallRecord{CallID: "call-4", Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted})
	if _, err := rst.StoreEvents(ctx, app, evs); err != nil {
		t.Fatal(err)
	}
	alarms, err := rst.Alarms(ctx, app, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range alarms {
		if al.Code == store.AlarmEventGap {
			return
		}
	}
	t.Fatalf("no %s alarm after the restore: %+v", store.AlarmEventGap, alarms)
}
