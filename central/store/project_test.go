package store

import (
	"context"
	"errors"
	"fmt"
	"github.com/kinline/kinline/internal/testkit"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store/eventlog"
	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// mixedEvent makes calls, card taps, officer actions and alarms in turn.
func mixedEvent(seq uint64) (wire.EventType, any) {
	switch seq % 4 {
	case 0:
		return callEvent(seq)
	case 1:
		return wire.EventCardTap, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04a1b2c3", Known: true}
	case 2:
		return wire.EventOfficer, wire.OfficerAction{Action: "confirm", OfficerID: "o1", CallID: fmt.Sprintf("call-%d", seq), Terminal: "t1"}
	default:
		return wire.EventAlarm, wire.Alarm{Code: "reader_down", Source: fmt.Sprintf("r%d", seq), Message: "no answer"}
	}
}

// projLogTriggers records every row offered to a projection table. BEFORE
// INSERT triggers fire for rows that ON CONFLICT DO NOTHING then drops, so a
// key logged twice means the event was projected twice.
func projLogTriggers() []string {
	if onPostgres() {
		return []string{
			`CREATE TABLE proj_log (kind TEXT NOT NULL, k TEXT NOT NULL)`,
			`CREATE FUNCTION proj_log_row() RETURNS trigger LANGUAGE plpgsql AS $f$
				BEGIN INSERT INTO proj_log VALUES (TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[1]); RETURN NEW; END $f$`,
			`CREATE TRIGGER log_calls BEFORE INSERT ON calls FOR EACH ROW EXECUTE FUNCTION proj_log_row('call', 'call_id')`,
			`CREATE TRIGGER log_taps BEFORE INSERT ON card_taps FOR EACH ROW EXECUTE FUNCTION proj_log_row('tap', 'seq')`,
			`CREATE TRIGGER log_officer BEFORE INSERT ON officer_actions FOR EACH ROW EXECUTE FUNCTION proj_log_row('officer', 'seq')`,
			`CREATE TRIGGER log_alarms BEFORE INSERT ON alarms FOR EACH ROW EXECUTE FUNCTION proj_log_row('alarm', 'id')`,
		}
	}
	return []string{
		`CREATE TABLE proj_log (kind TEXT NOT NULL, k TEXT NOT NULL)`,
		`CREATE TRIGGER log_calls BEFORE INSERT ON calls BEGIN INSERT INTO proj_log VALUES ('call', NEW.call_id); END`,
		`CREATE TRIGGER log_taps BEFORE INSERT ON card_taps BEGIN INSERT INTO proj_log VALUES ('tap', NEW.seq); END`,
		`CREATE TRIGGER log_officer BEFORE INSERT ON officer_actions BEGIN INSERT INTO proj_log VALUES ('officer', NEW.seq); END`,
		`CREATE TRIGGER log_alarms BEFORE INSERT ON alarms BEGIN INSERT INTO proj_log VALUES ('alarm', NEW.id); END`,
	}
}

// checkProjectedOnce checks that events 1..n of app (made by mixedEvent)
// are each projected exactly `times` times, and that both cursors are at the
// newest event.
func checkProjectedOnce(t *testing.T, s *Store, app string, n uint64, times int) {
	t.Helper()
	want := map[string]int{}
	for seq := uint64(1); seq <= n; seq++ {
		want[[]string{"call", "tap", "officer", "alarm"}[seq%4]]++
	}
	for kind, w := range want {
		if got := count(t, s, `SELECT COUNT(*) FROM proj_log WHERE kind = $1`, kind); got != w*times {
			t.Errorf("%s: %d projection rows offered, want %d", kind, got, w*times)
		}
		if got := count(t, s, `SELECT COUNT(*) FROM (SELECT k FROM proj_log WHERE kind = $1 GROUP BY k HAVING COUNT(*) <> $2) x`, kind, times); got != 0 {
			t.Errorf("%s: %d keys not projected exactly %d times", kind, got, times)
		}
	}
	tables := map[string]string{"call": "calls", "tap": "card_taps", "officer": "officer_actions", "alarm": "alarms"}
	for kind, table := range tables {
		if got := count(t, s, `SELECT COUNT(*) FROM `+table+` WHERE appliance_id = $1`, app); got != want[kind] {
			t.Errorf("%s: %d rows, want %d", table, got, want[kind])
		}
	}
	maxRowid := count(t, s, `SELECT MAX(rowid) FROM events`)
	if got := count(t, s, `SELECT value FROM counters WHERE name = 'projected_rowid'`); got != maxRowid {
		t.Errorf("global cursor %d, want %d", got, maxRowid)
	}
	if got := count(t, s, `SELECT projected_rowid FROM appliances WHERE id = $1`, app); got != maxRowid {
		t.Errorf("appliance cursor %d, want %d", got, maxRowid)
	}
	if got := count(t, s, `SELECT projected_seq FROM appliances WHERE id = $1`, app); got != int(n) {
		t.Errorf("projected_seq %d, want %d", got, n)
	}
}

// TestProjectionCrashCatchUp stops the store between storing events and
// projecting them, and in the middle of a projection (a projection
// transaction that fails before its commit, as a crash would leave it), and
// shows that the acknowledged events are all projected exactly once after
// reopening.
func TestProjectionCrashCatchUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, rec := filepath.Join(dir, "central.db"), filepath.Join(dir, "rec")
	clk := clock.NewFake(t0)
	s, err := openAt(t, ctx, path, rec, clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	for _, q := range projLogTriggers() {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	const n = 4510
	evs := chain("app1", 1, n, "", mixedEvent)

	// Two projection transactions commit, every later one fails.
	var commits atomic.Int32
	failed := make(chan struct{})
	var once sync.Once
	hook := func() error {
		if commits.Add(1) <= 2 {
			return nil
		}
		once.Do(func() { close(failed) })
		return errors.New("simulated crash before commit")
	}
	s.ev.SetHook(&hook)

	// A small batch is projected before StoreEvents returns (commit 1).
	if ack, err := s.StoreEvents(ctx, "app1", evs[:10]); err != nil || ack != 10 {
		t.Fatalf("ack %d %v", ack, err)
	}
	if got := count(t, s, `SELECT COUNT(*) FROM calls`); got != 2 {
		t.Fatalf("%d calls after the small batch, want 2 (seq 4 and 8)", got)
	}
	// A burst is acknowledged without waiting for its projection.
	if ack, err := s.StoreEvents(ctx, "app1", evs[10:4500]); err != nil || ack != 4500 {
		t.Fatalf("ack %d %v", ack, err)
	}
	if got := count(t, s, `SELECT value FROM counters WHERE name = 'projected_rowid'`); got != 10 {
		t.Fatalf("burst projected before StoreEvents returned: cursor %d", got)
	}
	// A waiter makes the projector start at once: one chunk commits
	// (commit 2), the next fails.
	waitErr := make(chan error, 1)
	go func() { waitErr <- s.WaitProjected(ctx, "app1", 4500) }()
	select {
	case <-failed:
	case <-time.After(60 * time.Second):
		t.Fatal("projector never reached its third transaction")
	}
	if got := count(t, s, `SELECT value FROM counters WHERE name = 'projected_rowid'`); got != 10+eventlog.ProjectChunk {
		t.Fatalf("cursor %d after a crashed chunk, want %d", got, 10+eventlog.ProjectChunk)
	}
	if got, want := count(t, s, `SELECT COUNT(*) FROM calls`), (10+eventlog.ProjectChunk)/4; got != want {
		t.Fatalf("%d calls projected, want %d", got, want)
	}
	// More events are still acknowledged while projection is failing.
	if ack, err := s.StoreEvents(ctx, "app1", evs[4500:]); err != nil || ack != n {
		t.Fatalf("ack %d %v", ack, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waitErr:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitProjected across Close: %v, want ErrClosed", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("WaitProjected still blocked after Close")
	}

	// Reopening catches up before Open returns.
	s2, err := openAt(t, ctx, path, rec, clk)
	if err != nil {
		t.Fatal(err)
	}
	checkProjectedOnce(t, s2, "app1", n, 1)
	if err := s2.WaitProjected(ctx, "app1", n); err != nil {
		t.Fatalf("WaitProjected after catch-up: %v", err)
	}
	if _, err := s2.Call(ctx, fmt.Sprintf("call-%d", n-2)); err != nil {
		t.Fatalf("last call after catch-up: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// Control: with both cursors rewound, the check above sees every event
	// projected twice, so it would catch a doubled projection.
	db := rawSQL(t, path)
	for _, q := range []string{`UPDATE counters SET value = 0 WHERE name = 'projected_rowid'`, `UPDATE appliances SET projected_rowid = 0`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s3, err := openAt(t, ctx, path, rec, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	checkProjectedOnce(t, s3, "app1", n, 2)
}

// TestProjectorAsync: a burst is projected by the projector goroutine
// without anyone waiting once ingest pauses, and WaitProjected reports
// unknown events.
func TestProjectorAsync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 3 * eventlog.SyncProjectMax
	if ack, err := s.StoreEvents(ctx, "app1", chain("app1", 1, n, "", callEvent)); err != nil || ack != n {
		t.Fatalf("ack %d %v", ack, err)
	}
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("the projector to project all %d calls", n), func() bool {
		return count(t, s, `SELECT COUNT(*) FROM calls`) == n
	})
	if err := s.WaitProjected(ctx, "app1", n); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitProjected(ctx, "app1", n+1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("WaitProjected for an event not stored: %v", err)
	}
	// Events beyond a gap are projected too (arrival order, not seq order).
	more := chain("app1", n+1, n+3, "", callEvent)
	if ack, err := s.StoreEvents(ctx, "app1", more[1:]); err != nil || ack != n {
		t.Fatalf("ack %d %v", ack, err)
	}
	if _, err := s.Call(ctx, fmt.Sprintf("call-%d", n+3)); err != nil {
		t.Fatalf("call beyond the gap not projected: %v", err)
	}
}

// TestMigration3Cursors: a database from schema 2 had every event projected
// already; migrating sets both cursors to the newest event so nothing is
// projected again.
func TestMigration3Cursors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	db := rawSQL(t, path)
	stmts := []string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version VALUES (2)`}
	stmts = append(stmts, schema.Migrations[0]...)
	stmts = append(stmts, schema.After(testDialect().Name, 1)...)
	stmts = append(stmts, schema.Migrations[1]...)
	stmts = append(stmts,
		`INSERT INTO appliances (id, created_ns) VALUES ('app1', 0)`,
		`INSERT INTO events VALUES ('app1', 1, 'call', 0, '{"call_id":"old","disposition":"completed"}', 'h1', '', 0)`,
		`INSERT INTO events VALUES ('app1', 2, 'call', 0, '{"call_id":"old2","disposition":"completed"}', 'h2', 'h1', 0)`,
		`INSERT INTO calls (call_id, appliance_id, seq, start_ns, end_ns, disposition) VALUES ('old', 'app1', 1, 0, 0, 'completed')`,
	)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := openAt(t, ctx, path, filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// "old2" has no call row in the old database: had the migration left
	// the cursors at 0, Open's catch-up would have projected it.
	if got := count(t, s, `SELECT COUNT(*) FROM calls`); got != 1 {
		t.Fatalf("%d calls after migration, want 1 (nothing projected again)", got)
	}
	if got := count(t, s, `SELECT projected_seq FROM appliances WHERE id = 'app1'`); got != 2 {
		t.Fatalf("projected_seq %d", got)
	}
	if err := s.WaitProjected(ctx, "app1", 2); err != nil {
		t.Fatal(err)
	}
}
