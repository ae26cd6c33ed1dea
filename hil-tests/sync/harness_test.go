package sync_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

const (
	appID    = "blk-a"
	appPW    = "pw-a"
	patience = 60 * time.Second // generous: a loaded 2-core machine
)

func testLog() *slog.Logger {
	if os.Getenv("KINLINE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// harness is one broker (embedded, or any broker URL), a fake central store,
// a fake clock and the appliance's store file.
type harness struct {
	t        testing.TB
	url      string
	user     string // central's credentials
	pass     string
	fake     *ingesttest.Store
	clk      *clock.Fake
	dbPath   string
	chunkDir string // central's ChunkDir, kept across restarts of ingest
	mu       sync.Mutex
	policies []uint64 // versions passed to OnPolicy, in order
	polCh    chan uint64

	// centralTLS, when set, is central's TLS configuration (its
	// certificate) for ingest and centralClient; ingestMod adjusts
	// ingest's config (signing keys).
	centralTLS *tls.Config
	ingestMod  func(*ingest.Config)
	// central, when set, is the store ingest writes to instead of fake
	// (central's real SQLite store in the drain measurement).
	central ingest.Store
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	user, pass := b.InternalCredentials()
	return newHarnessURL(t, "tcp://"+b.Addr(), user, pass)
}

func newHarnessURL(t testing.TB, url, user, pass string) *harness {
	return &harness{
		t: t, url: url, user: user, pass: pass,
		fake:     ingesttest.New(),
		clk:      clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		dbPath:   filepath.Join(t.TempDir(), "appliance.db"),
		chunkDir: t.TempDir(),
		polCh:    make(chan uint64, 100),
	}
}

// startIngest runs central's ingest until the returned stop is called (or
// the test ends); it returns once ingest has subscribed.
func (h *harness) startIngest() (stop func()) {
	h.t.Helper()
	cfg := ingest.Config{Broker: h.url, Username: h.user, Password: h.pass, ClientID: "central-test", TLS: h.centralTLS, ChunkDir: h.chunkDir}
	if h.ingestMod != nil {
		h.ingestMod(&cfg)
	}
	var cs ingest.Store = h.fake
	if h.central != nil {
		cs = h.central
	}
	svc, err := ingest.New(cfg, cs, testLog())
	if err != nil {
		h.t.Fatal(err)
	}
	stop = h.run(func(ctx context.Context) error { return svc.Run(ctx) })
	select {
	case <-svc.Ready():
	case <-time.After(patience):
		h.t.Fatal("ingest did not connect")
	}
	return stop
}

// run runs fn in a goroutine until stop (idempotent, also at cleanup).
func (h *harness) run(fn func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					h.t.Errorf("run: %v", err)
				}
			case <-time.After(patience):
				h.t.Error("run did not return after cancel")
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// openStore opens the appliance's store; closeStore checks and closes it.
func (h *harness) openStore() *store.Store {
	h.t.Helper()
	st, err := store.Open(h.dbPath, store.Options{ApplianceID: appID, Clock: h.clk})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

func (h *harness) closeStore(st *store.Store) {
	h.t.Helper()
	if err := st.Check(); err != nil {
		h.t.Errorf("store check: %v", err)
	}
	if err := st.Close(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) config() syncclient.Config {
	return syncclient.Config{
		Broker: h.url, ApplianceID: appID, Password: appPW,
		BatchSize: 50, MaxInFlight: 4,
		AckTimeout:   time.Hour, // fake clock: fires only when a test advances it
		RetryBackoff: time.Second, MaxRetryBackoff: 4 * time.Second,
		Software: "test",
	}
}

// startClient runs the appliance's sync client until stop.
func (h *harness) startClient(st *store.Store, cfg syncclient.Config) (stop func()) {
	h.t.Helper()
	c, err := syncclient.New(cfg, syncclient.Deps{Store: st, Clock: h.clk, Log: testLog(), OnPolicy: func(p *wire.Policy) {
		h.mu.Lock()
		h.policies = append(h.policies, p.Version)
		h.mu.Unlock()
		h.polCh <- p.Version
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.run(c.Run)
}

// tick advances the fake clock by step every few milliseconds of real time
// until stop, so that ack timeouts and backoffs happen in simulated time.
func (h *harness) tick(step time.Duration) (stop func()) {
	return h.run(func(ctx context.Context) error {
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tk.C:
				h.clk.Advance(step)
			}
		}
	})
}

func appendN(t testing.TB, st *store.Store, n int) {
	t.Helper()
	err := st.Update(func(tx *store.Tx) error {
		for i := 0; i < n; i++ {
			if _, err := tx.Append(wire.EventCardTap, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04AB12", Known: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitDelivered waits until central holds events 1..n contiguously and the
// appliance's outbox is empty (acked up to n).
func (h *harness) waitDelivered(st *store.Store, n int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if !h.fake.WaitFor(ctx, func() bool { return h.fake.Contiguous(appID) >= uint64(n) }) {
		h.t.Fatalf("central has %d contiguous events, want %d", h.fake.Contiguous(appID), n)
	}
	h.waitAcked(st, n)
}

func (h *harness) waitAcked(st *store.Store, n int) {
	h.t.Helper()
	testkit.EventuallyNil(h.t, patience, fmt.Sprintf("the appliance to have %d events acked", n), func() error {
		acked, err := st.Acked()
		if err != nil {
			h.t.Fatal(err)
		}
		pending, err := st.Pending(0, 1)
		if err != nil {
			h.t.Fatal(err)
		}
		if acked != uint64(n) || len(pending) != 0 {
			return fmt.Errorf("acked %d, pending %v", acked, pending)
		}
		return nil
	})
}

// checkCentral asserts central holds exactly events 1..n, chained.
func (h *harness) checkCentral(n int) {
	h.t.Helper()
	evs := h.fake.Events(appID)
	if len(evs) != n {
		h.t.Fatalf("central holds %d events, want %d", len(evs), n)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			h.t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if err := ev.Verify(); err != nil {
			h.t.Fatal(err)
		}
		if i > 0 && ev.PrevHash != evs[i-1].Hash {
			h.t.Fatalf("chain broken at seq %d", ev.Seq)
		}
	}
	if _, conflicts := h.fake.Duplicates(appID); conflicts != 0 {
		h.t.Fatalf("%d redelivered events differ from the stored ones", conflicts)
	}
}
