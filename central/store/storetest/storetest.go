// Package storetest opens central stores for the tests of packages built
// on central/store (the API, the console), on the database of the run:
// SQLite normally, and PostgreSQL when the package's TestPostgres
// (pgtest.Suite) reruns its tests there.
package storetest

import (
	"context"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/shared/clock"
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
