package money

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// coreStore and peopleStore name the core and the people's store in
// testStores (its embedded fields); the people's store makes the fixtures'
// people, as the console does.
type (
	coreStore   = store.Store
	peopleStore = people.Store
)

// testStores is the money store with the core under it: a test calls
// both through one value.
type testStores struct {
	*Store
	*coreStore
	*peopleStore
}

// openTest opens a core store in a temp dir (on this run's database) and
// the money store on it.
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

// moneyFixture: block A with appliances appA and appB, person ann in A,
// person bob in B, and one rate so policies carry money.
func moneyFixture(t *testing.T) (*testStores, string, string) {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		if err := s.UpsertAppliance(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	ann, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRates(ctx, "test", []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "EUR", Digits: 2, TimeZone: "UTC", Charging: store.ChargingOn}); err != nil {
		t.Fatal(err)
	}
	return s, ann.ID, bob.ID
}

// debit is an appliance's call debit as its EventLedger payload.
func debit(id, app, account string, amount int64, call string, at time.Time) wire.LedgerEntry {
	return wire.LedgerEntry{ID: id, Account: account, Kind: wire.LedgerCallDebit, Amount: amount, Currency: "EUR",
		Ref: call, At: at, Origin: app}
}

// ledgerEvents seals payloads as app's events from seq `from` on, chained
// to prev, the event of seq n stamped t0 + n seconds.
func ledgerEvents(app string, from uint64, prev string, payloads ...any) []wire.Event {
	return storetest.Events(app, from, prev, t0, payloads...)
}

func mustStore(t *testing.T, s *testStores, app string, evs []wire.Event) uint64 {
	t.Helper()
	return storetest.MustStore(t, s.coreStore, app, evs)
}

func balance(t *testing.T, s *testStores, account string) ledger.Money {
	t.Helper()
	b, err := s.Balance(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ledgerAlarms(t *testing.T, s *testStores, app, code string) []store.Alarm {
	t.Helper()
	al, err := s.Alarms(context.Background(), app, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Alarm
	for _, a := range al {
		if a.Code == code {
			out = append(out, a)
		}
	}
	return out
}

// atTimes gives evs the times ts (in order) and seals and chains them again.
func atTimes(evs []wire.Event, ts ...time.Time) []wire.Event {
	prev := ""
	for i := range evs {
		evs[i].Time, evs[i].PrevHash = ts[i], prev
		evs[i].Seal()
		prev = evs[i].Hash
	}
	return evs
}

// PolicyFor builds appA's policy as central publishes it
// (central/ingest/policysnap): the money tests check its money part.
func (s *testStores) PolicyFor(ctx context.Context, applianceID string) (*wire.Policy, error) {
	return policysnap.New(s.coreStore).PolicyFor(ctx, applianceID)
}
