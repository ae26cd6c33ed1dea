package reports

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// TestMain removes the statistics benchmark's cached database after the
// run.
func TestMain(m *testing.M) {
	code := m.Run()
	storetest.RemoveBenchDB()
	os.Exit(code)
}

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// coreStore and peopleStore name the core and the people's store in
// testStores (their embedded fields).
type (
	coreStore   = store.Store
	peopleStore = people.Store
)

// testStores is the reports' store with the core and the people's store
// under it: a test calls them through one value.
type testStores struct {
	*Store
	*coreStore
	*peopleStore
}

// openTest opens a core store in a temp dir (on this run's database) and
// the reports on it.
func openTest(t testing.TB) (*testStores, *clock.Fake, string) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	core, err := storetest.Open(context.Background(), t, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := core.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testStores{Store: New(core), coreStore: core, peopleStore: people.New(core)}, clk, dir
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// debit is an appliance's call debit as its EventLedger payload.
func debit(id, app, account string, amount int64, call string, at time.Time) wire.LedgerEntry {
	return wire.LedgerEntry{ID: id, Account: account, Kind: wire.LedgerCallDebit, Amount: amount, Currency: "EUR",
		Ref: call, At: at, Origin: app}
}

func count(t *testing.T, s *testStores, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Reader().QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
