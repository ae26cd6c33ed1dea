// Package storetest opens central stores for the tests of packages built
// on central/store (the domain packages, the API, the console), on the
// database of the run: SQLite normally, and PostgreSQL when the package's
// TestPostgres (pgtest.Suite) reruns its tests there. It also seals and
// stores appliances' events for them (Events, MustStore), and keeps the
// 1,000,000-call data set of the search and statistics benchmarks
// (BenchStore).
package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Database is the database a test keeps at sqlitePath: that SQLite file,
// or in the PostgreSQL run a fresh database of its own (the same one for
// the same path within the run).
func Database(t testing.TB, sqlitePath string) store.Database {
	t.Helper()
	if pgtest.Enabled() {
		return store.Database{Driver: store.DriverPostgres, DSN: pgtest.DSNFor(t, sqlitePath)}
	}
	return store.Database{Driver: store.DriverSQLite, Path: sqlitePath}
}

// Open opens a store on Database(t, sqlitePath) with recordings in
// recordingsDir and the clock clk (nil: the wall clock).
func Open(ctx context.Context, t testing.TB, sqlitePath, recordingsDir string, clk clock.Clock) (*store.Store, error) {
	t.Helper()
	return store.OpenDatabase(ctx, Database(t, sqlitePath), recordingsDir, nil, clk)
}

// Events seals payloads as app's events from seq from on, chained to prev,
// the event of seq n stamped base + n seconds. A payload's type says the
// event's: wire.LedgerEntry, wire.NumberBlocked, wire.CallStarted,
// wire.CallsCleared, and anything else a call record (wire.EventCall).
func Events(app string, from uint64, prev string, base time.Time, payloads ...any) []wire.Event {
	var out []wire.Event
	for i, p := range payloads {
		seq := from + uint64(i)
		typ := wire.EventCall
		switch p.(type) {
		case wire.LedgerEntry:
			typ = wire.EventLedger
		case wire.NumberBlocked:
			typ = wire.EventNumberBlocked
		case wire.CallStarted:
			typ = wire.EventCallStarted
		case wire.CallsCleared:
			typ = wire.EventCallsCleared
		}
		b, _ := json.Marshal(p)
		ev := wire.Event{ApplianceID: app, Seq: seq, Time: base.Add(time.Duration(seq) * time.Second), Type: typ, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		out = append(out, ev)
	}
	return out
}

// MustStore stores evs as app's events, waits until they are projected and
// returns the acknowledged seq; any error fails t.
func MustStore(t testing.TB, core *store.Store, app string, evs []wire.Event) uint64 {
	t.Helper()
	ctx := context.Background()
	ack, err := core.StoreEvents(ctx, app, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) > 0 {
		if err := core.WaitProjected(ctx, app, evs[len(evs)-1].Seq); err != nil {
			t.Fatal(err)
		}
	}
	return ack
}
