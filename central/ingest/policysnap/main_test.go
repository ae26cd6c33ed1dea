package policysnap

import (
	"context"
	"database/sql"
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

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

type (
	coreStore   = store.Store
	peopleStore = people.Store
)

// testStore is what the tests drive: the core, the people's store on it
// and the builder.
type testStore struct {
	*coreStore
	*peopleStore
	policy *Builder
}

// PolicyFor builds the appliance's policy.
func (s *testStore) PolicyFor(ctx context.Context, applianceID string) (*wire.Policy, error) {
	return s.policy.PolicyFor(ctx, applianceID)
}

// exec runs a statement on the core's write connection.
func (s *testStore) exec(q string, args ...any) (sql.Result, error) {
	return s.ExecUnserialized(context.Background(), q, args...)
}

// openAt opens a core store at path (on this run's database) and the
// people's store and builder on it.
func openAt(t testing.TB, ctx context.Context, path, rec string, clk clock.Clock) (*testStore, error) {
	t.Helper()
	core, err := storetest.Open(ctx, t, path, rec, clk)
	if err != nil {
		return nil, err
	}
	return &testStore{coreStore: core, peopleStore: people.New(core), policy: New(core)}, nil
}

// openTest opens a store in a temp dir and closes it when the test ends.
func openTest(t testing.TB) (*testStore, *clock.Fake, string) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	s, err := openAt(t, context.Background(), filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, clk, dir
}

func policyVersion(t *testing.T, s *testStore, app string) uint64 {
	t.Helper()
	p, err := s.PolicyFor(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	return p.Version
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
