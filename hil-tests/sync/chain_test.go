package sync_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/central/ingest/policysnap"
	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// appendCalls appends n call records with ids prefix-1.. in one transaction.
func appendCalls(t *testing.T, st *store.Store, prefix string, n int) {
	t.Helper()
	err := st.Update(func(tx *store.Tx) error {
		for i := 1; i <= n; i++ {
			start := time.Date(2026, 3, 1, 12, 0, i, 0, time.UTC)
			if _, err := tx.AppendCall(wire.CallRecord{CallID: fmt.Sprintf("%s-%d", prefix, i), Terminal: "t1", Number: "+441234",
				Start: start, End: start.Add(time.Minute), Disposition: wire.DispRefused}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitCentral waits until central's store has want calls and the
// appliance's outbox is empty.
func waitCentral(t *testing.T, cs *centralstore.Store, st *store.Store, want int) []centralstore.Call {
	t.Helper()
	var calls []centralstore.Call
	testkit.EventuallyNil(t, patience, fmt.Sprintf("central to have %d calls and the outbox to be empty", want), func() error {
		var err error
		calls, err = reports.New(cs).Calls(context.Background(), reports.CallFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		pending, err := st.Pending(0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != want || len(pending) != 0 {
			return fmt.Errorf("central has %d calls, the outbox holds %v", len(calls), pending)
		}
		return nil
	})
	return calls
}

// TestRestoredDataDirectoryLosesNothing: an appliance's data directory is
// put back from a backup taken while three call records were not yet
// acknowledged; central meanwhile holds five. The restored box writes
// three new records under seqs central holds other events for. Central
// refuses those (the ack's conflict), the box starts a new chain with its
// outbox, and in the end central holds all eight calls once, the box's
// outbox is empty, and central raised the chain-restarted alarm once.
func TestRestoredDataDirectoryLosesNothing(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	cs, err := centralstore.Open(context.Background(), filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	h.central = policysnap.NewIngestStore(cs, people.New(cs))
	h.startIngest()

	st := h.openStore()
	appendCalls(t, st, "orig", 3)
	h.closeStore(st)
	backup := filepath.Join(dir, "backup.db")
	copyFile(t, h.dbPath, backup)

	st = h.openStore()
	appendCalls(t, st, "late", 2)
	stop := h.startClient(st, h.config())
	waitCentral(t, cs, st, 5)
	stop()
	h.closeStore(st)

	copyFile(t, backup, h.dbPath) // the backup put back
	st = h.openStore()
	appendCalls(t, st, "after-restore", 3)
	h.startClient(st, h.config())
	calls := waitCentral(t, cs, st, 8)
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c.ID] = true
	}
	for _, id := range []string{"orig-1", "orig-2", "orig-3", "late-1", "late-2", "after-restore-1", "after-restore-2", "after-restore-3"} {
		if !seen[id] {
			t.Errorf("central lacks call %s", id)
		}
	}
	al, err := cs.Alarms(context.Background(), appID, true)
	if err != nil {
		t.Fatal(err)
	}
	restarted := 0
	for _, a := range al {
		if a.Code == centralstore.AlarmChainRestarted {
			restarted++
		}
	}
	if restarted != 1 {
		t.Fatalf("%d chain-restarted alarms, want 1 (alarms %+v)", restarted, al)
	}
	chains, err := cs.EventChains(context.Background(), appID)
	if err != nil || len(chains) != 2 {
		t.Fatalf("chains %+v, %v", chains, err)
	}
}

// holdingStore is the fake central store with event acknowledgements held
// back while hold is set (the events are not stored): a record central
// has not kept.
type holdingStore struct {
	*ingesttest.Store
	hold atomic.Bool
}

func (s *holdingStore) StoreEvents(ctx context.Context, id string, evs []wire.Event) (uint64, error) {
	if s.hold.Load() {
		return 0, nil
	}
	return s.Store.StoreEvents(ctx, id, evs)
}

// TestRecordingKeptUntilRecordAcked: central verifies a recording whose
// call record it has not acknowledged: the local copy stays (and is not
// uploaded again) until the record's acknowledgement, then goes.
func TestRecordingKeptUntilRecordAcked(t *testing.T) {
	h := newHarness(t)
	hs := &holdingStore{Store: h.fake}
	hs.hold.Store(true)
	h.central = hs
	h.startIngest()
	st := h.openStore()
	plain := bytes.Repeat([]byte("kinline "), 512)
	path := filepath.Join(t.TempDir(), "c1.wav")
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plain)
	ref := wire.RecordingRef{ID: "c1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(plain)), Format: "wav/pcmu-stereo"}
	err := st.Update(func(tx *store.Tx) error {
		start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		if _, err := tx.AppendCall(wire.CallRecord{CallID: "c1", Terminal: "t1", Number: "+441234", Start: start, End: start.Add(time.Minute),
			Disposition: wire.DispCompleted, Recording: &ref}); err != nil {
			return err
		}
		return tx.AddRecording(ref, path)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.startClient(st, h.config())
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if !h.fake.WaitFor(ctx, func() bool { return h.fake.Recording(appID, "c1") != nil }) {
		t.Fatal("central never verified the recording")
	}
	// Verified, its record not acknowledged: the copy waits.
	testkit.Eventually(t, patience, "the recording marked uploaded and kept", func() bool {
		recs, err := st.PendingRecordings()
		if err != nil {
			t.Fatal(err)
		}
		return len(recs) == 1 && recs[0].Uploaded
	})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("local copy deleted before its call record was acknowledged: %v", err)
	}
	hs.hold.Store(false)
	h.clk.Advance(2 * time.Hour) // the ack timeout: the record is sent again
	h.waitAcked(st, 1)
	testkit.Eventually(t, patience, "the local copy deleted after its call record was acknowledged", func() bool {
		_, err := os.Stat(path)
		return os.IsNotExist(err)
	})
	if recs, _ := st.PendingRecordings(); len(recs) != 0 {
		t.Fatalf("still pending %+v", recs)
	}
}
