package people

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

type coreStore = store.Store

// testStore is what the tests drive: the core and the people's store on
// it.
type testStore struct {
	*coreStore
	*Store
}

// openTest opens a core store in a temp dir (on this run's database) and
// the people's store on it, closed when the test ends.
func openTest(t testing.TB) (*testStore, *clock.Fake, string) {
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
	return &testStore{coreStore: core, Store: New(core)}, clk, dir
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s *testStore, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Reader().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openAlarms(t *testing.T, s *testStore, app, code string) int {
	return count(t, s, `SELECT COUNT(*) FROM alarms WHERE appliance_id = $1 AND code = $2 AND cleared_ns IS NULL`, app, code)
}

// chain builds sealed, linked events seq from..to for app, with payloads
// from mk.
func chain(app string, from, to uint64, prev string, mk func(seq uint64) (wire.EventType, any)) []wire.Event {
	var out []wire.Event
	for seq := from; seq <= to; seq++ {
		typ, payload := mk(seq)
		b, _ := json.Marshal(payload)
		ev := wire.Event{ApplianceID: app, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Type: typ, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		out = append(out, ev)
	}
	return out
}
