package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/central/store/sqldb"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite and testDatabase).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

// onPostgres reports whether this is the PostgreSQL run.
func onPostgres() bool { return pgtest.Enabled() }

// testDialect is the dialect of this run's database.
func testDialect() *sqldb.Dialect {
	if onPostgres() {
		return &sqldb.Postgres
	}
	return &sqldb.SQLite
}

// testDatabase is the database a test keeps at path (a SQLite file in the
// test's directory): that file on SQLite, and in the PostgreSQL run a
// database of its own, the same one again whenever the test opens path
// again.
func testDatabase(t testing.TB, path string) Database {
	t.Helper()
	if onPostgres() {
		return Database{Driver: DriverPostgres, DSN: pgtest.DSNFor(t, path)}
	}
	return Database{Driver: DriverSQLite, Path: path}
}

// openAt opens the store on the test database at path.
func openAt(t testing.TB, ctx context.Context, path, rec string, clk clock.Clock) (*Store, error) {
	t.Helper()
	return OpenDatabase(ctx, testDatabase(t, path), rec, nil, clk)
}

// rawSQL opens the test database at path directly, behind the store's
// back (to build old schemas or tamper with rows).
func rawSQL(t testing.TB, path string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if d := testDatabase(t, path); d.Driver == DriverPostgres {
		db, err = sql.Open("pgx", d.DSN)
	} else {
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDialectIsolation checks what the store relies on from each database
// beyond the SQL: readers cannot write and see one snapshot per
// transaction, and writers are serialized.
func TestDialectIsolation(t *testing.T) {
	s, _, dir := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	// A reader transaction keeps its snapshot while a writer commits.
	rtx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	var before int
	if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM appliances`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAppliance(ctx, "app2", "A"); err != nil {
		t.Fatal(err)
	}
	var during int
	if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM appliances`).Scan(&during); err != nil {
		t.Fatal(err)
	}
	if before != 1 || during != 1 {
		t.Fatalf("reader saw %d then %d appliances, want 1 and 1 (one snapshot per transaction)", before, during)
	}
	rtx.Rollback()
	if n := count(t, s, `SELECT COUNT(*) FROM appliances`); n != 2 {
		t.Fatalf("%d appliances after the reader's transaction, want 2", n)
	}
	if onPostgres() {
		// Readers are read-only, so nothing can write outside the
		// serialized writer.
		if _, err := s.r.ExecContext(ctx, `UPDATE appliances SET software = 'x'`); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("write through a reader connection: %v, want a read-only refusal", err)
		}
		// A second writer (another central process) waits for the
		// first one's transaction.
		other := rawSQL(t, filepath.Join(dir, "central.db"))
		locked := make(chan error, 1)
		held := make(chan struct{})
		release := make(chan struct{})
		go func() {
			locked <- s.inTx(ctx, func(tx *sql.Tx) error {
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		otx, err := other.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer otx.Rollback()
		var got bool
		if err := otx.QueryRowContext(ctx, strings.Replace(s.d.LockWrites, "pg_advisory_xact_lock", "pg_try_advisory_xact_lock", 1)).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got {
			t.Fatal("a second writer got the write lock while a write transaction was open")
		}
		close(release)
		if err := <-locked; err != nil {
			t.Fatal(err)
		}
		if _, err := otx.ExecContext(ctx, s.d.LockWrites); err != nil {
			t.Fatalf("write lock after the first writer committed: %v", err)
		}
	}
}

// TestOpenDatabaseErrors: a bad driver or a missing DSN is a clear error.
func TestOpenDatabaseErrors(t *testing.T) {
	ctx := context.Background()
	rec := filepath.Join(t.TempDir(), "rec")
	for _, db := range []Database{{Driver: "mysql"}, {Driver: DriverPostgres}, {Driver: DriverSQLite}, {Driver: DriverPostgres, DSN: "host=/nonexistent port=1 connect_timeout=1"}} {
		if s, err := OpenDatabase(ctx, db, rec, nil, nil); err == nil {
			s.Close()
			t.Fatalf("%+v opened", db)
		} else if db.DSN == "" && !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", db, err)
		}
	}
}

// TestConcurrentOpenMigratesOnce: two stores (two central processes)
// opening one new database at once migrate it once, and both then write
// through the serialized writers without losing a row.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	db := testDatabase(t, path)
	stores := make([]*Store, 2)
	errs := make(chan error, 2)
	for i := range stores {
		go func() {
			var err error
			stores[i], err = OpenDatabase(ctx, db, filepath.Join(dir, "rec"), nil, nil)
			errs <- err
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, s := range stores {
			s.Close()
		}
	}()
	for _, s := range stores {
		if v, err := s.SchemaVersion(ctx); err != nil || v != len(schema.Migrations) {
			t.Fatalf("schema version %d %v", v, err)
		}
	}
	if n := count(t, stores[0], `SELECT COUNT(*) FROM schema_version`); n != 1 {
		t.Fatalf("%d schema_version rows, want 1", n)
	}
	// Both write audit entries at once: one unbroken chain.
	for i, s := range stores {
		go func() {
			for j := range 20 {
				if err := s.Audit(ctx, "test", "write", fmt.Sprintf("s%d", i), fmt.Sprint(j)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := stores[1].VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, stores[0], `SELECT COUNT(*) FROM audit_log WHERE action = 'write'`); n != 40 {
		t.Fatalf("%d audit rows, want 40", n)
	}
}

// TestTwoWritersProjectEverything: two stores on one database (two central
// replicas sharing the ingest) store events of two appliances at once;
// every event is projected exactly once, because the rowids the projection
// cursor walks become visible in commit order (serialized writers).
func TestTwoWritersProjectEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := testDatabase(t, filepath.Join(dir, "central.db"))
	var stores [2]*Store
	for i := range stores {
		s, err := OpenDatabase(ctx, db, filepath.Join(dir, "rec"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	const batches, per = 40, 15
	errs := make(chan error, 2)
	for i, s := range stores {
		app := fmt.Sprintf("app%d", i+1)
		evs := chain(app, 1, batches*per, "", func(seq uint64) (wire.EventType, any) {
			typ, c := callEvent(seq)
			rec := c.(wire.CallRecord)
			rec.CallID = fmt.Sprintf("%s-%d", app, seq)
			return typ, rec
		})
		go func() {
			for b := range batches {
				if ack, err := s.StoreEvents(ctx, app, evs[b*per:(b+1)*per]); err != nil || ack != uint64((b+1)*per) {
					errs <- fmt.Errorf("%s batch %d: ack %d %v", app, b, ack, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range stores {
		if err := s.WaitProjected(ctx, fmt.Sprintf("app%d", i+1), batches*per); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, stores[0], `SELECT COUNT(*) FROM calls`); n != 2*batches*per {
		t.Fatalf("%d calls projected, want %d", n, 2*batches*per)
	}
	if got, want := count(t, stores[1], `SELECT value FROM counters WHERE name = 'projected_rowid'`), count(t, stores[1], `SELECT MAX(rowid) FROM events`); got != want {
		t.Fatalf("projection cursor %d, newest event %d", got, want)
	}
}
