package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func openChainTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{ApplianceID: "blk-a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *Store, n int) []wire.Event {
	t.Helper()
	var out []wire.Event
	for range n {
		ev, err := s.Append(wire.EventCardTap, wire.CardTap{Terminal: "t1", UID: "04AB"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// A new data directory writes its own chain: every store file gets its own
// epoch, carried (and hashed) by its events.
func TestNewStoreHasItsOwnEpoch(t *testing.T) {
	dir := t.TempDir()
	a := openChainTest(t, filepath.Join(dir, "a.db"))
	b := openChainTest(t, filepath.Join(dir, "b.db"))
	ea, _ := a.Epoch()
	eb, _ := b.Epoch()
	if ea == "" || eb == "" || ea == eb || wire.ValidEpoch(ea) != nil {
		t.Fatalf("epochs %q and %q", ea, eb)
	}
	ev := appendN(t, a, 1)[0]
	if ev.Epoch != ea || ev.Seq != 1 || ev.PrevHash != "" || ev.Verify() != nil {
		t.Fatalf("first event %+v", ev)
	}
}

func TestAckChainChecksCentralsChain(t *testing.T) {
	s := openChainTest(t, filepath.Join(t.TempDir(), "s.db"))
	epoch, _ := s.Epoch()
	evs := appendN(t, s, 5)
	// Central's hash of seq 3 is another: a data directory put back.
	if _, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: 3, Hash: strings.Repeat("0", 64)}); !errors.Is(err, ErrFork) {
		t.Fatalf("other hash: %v, want ErrFork", err)
	}
	// Central acknowledges more than was ever appended.
	if _, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: 9, Hash: evs[4].Hash}); !errors.Is(err, ErrFork) {
		t.Fatalf("ack ahead: %v, want ErrFork", err)
	}
	// Central refused seq 4 as not fitting its chain.
	if _, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: 2, Hash: evs[1].Hash, Conflict: 4}); !errors.Is(err, ErrFork) {
		t.Fatalf("conflict: %v, want ErrFork", err)
	}
	// Another chain's ack changes nothing.
	if n, err := s.AckChain(wire.Ack{Epoch: "other", UpTo: 5, Hash: evs[4].Hash}); err != nil || n != 0 {
		t.Fatalf("other chain's ack: %d, %v", n, err)
	}
	if acked, _ := s.Acked(); acked != 0 {
		t.Fatalf("acked %d after refused acks", acked)
	}
	if n, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: 3, Hash: evs[2].Hash}); err != nil || n != 3 {
		t.Fatalf("matching ack: %d, %v", n, err)
	}
	if pend, _ := s.Pending(0, 10); len(pend) != 2 || pend[0].Seq != 4 {
		t.Fatalf("pending %+v", pend)
	}
	// A stale conflict below what is acknowledged is no fork.
	if _, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: 3, Hash: evs[2].Hash, Conflict: 2}); err != nil {
		t.Fatalf("conflict on an acknowledged seq: %v", err)
	}
}

// Restart moves the outbox into a new chain under the same seqs, the
// first without prev_hash, and later events continue it.
func TestRestartResealsOutbox(t *testing.T) {
	s := openChainTest(t, filepath.Join(t.TempDir(), "s.db"))
	old, _ := s.Epoch()
	evs := appendN(t, s, 4)
	if _, err := s.AckChain(wire.Ack{Epoch: old, UpTo: 1, Hash: evs[0].Hash}); err != nil {
		t.Fatal(err)
	}
	epoch, moved, err := s.Restart()
	if err != nil || moved != 3 || epoch == old {
		t.Fatalf("restart: %q %d %v", epoch, moved, err)
	}
	more := appendN(t, s, 1)[0]
	pend, _ := s.Pending(0, 10)
	if len(pend) != 4 || more.Seq != 5 {
		t.Fatalf("pending %d, next seq %d", len(pend), more.Seq)
	}
	prev := ""
	for i, ev := range pend {
		if ev.Epoch != epoch || ev.Seq != uint64(i+2) || ev.PrevHash != prev || ev.Verify() != nil {
			t.Fatalf("event %d after restart: %+v", i, ev)
		}
		if i < 3 && ev.Payload == nil {
			t.Fatal("payload lost")
		}
		prev = ev.Hash
	}
	// The new chain's ack applies; the old chain's does not.
	if n, _ := s.AckChain(wire.Ack{Epoch: old, UpTo: 3, Hash: evs[2].Hash}); n != 0 {
		t.Fatalf("old chain's ack removed %d", n)
	}
	if n, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: 5, Hash: pend[3].Hash}); err != nil || n != 4 {
		t.Fatalf("new chain's ack: %d, %v", n, err)
	}
	// With an empty outbox the next event starts a chain of its own.
	e3, _, err := s.Restart()
	if err != nil {
		t.Fatal(err)
	}
	if ev := appendN(t, s, 1)[0]; ev.Epoch != e3 || ev.PrevHash != "" || ev.Seq != 6 {
		t.Fatalf("first event of an empty restarted chain %+v", ev)
	}
}

// A recording's local copy is given up only when central has verified it
// and acknowledged its call record.
func TestRecordingReleasedAfterItsRecord(t *testing.T) {
	s := openChainTest(t, filepath.Join(t.TempDir(), "s.db"))
	epoch, _ := s.Epoch()
	ref := wire.RecordingRef{ID: "c1", SHA256: strings.Repeat("a", 64), Bytes: 10, Format: "wav"}
	var rec wire.Event
	err := s.Update(func(tx *Tx) error {
		var err error
		if rec, err = tx.AppendCall(wire.CallRecord{CallID: "c1", Terminal: "t1", Disposition: wire.DispCompleted, Recording: &ref}); err != nil {
			return err
		}
		return tx.AddRecording(ref, "/tmp/c1.wav")
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := s.PendingRecordings()
	if len(recs) != 1 || recs[0].RecordSeq != rec.Seq {
		t.Fatalf("recordings %+v, want record seq %d", recs, rec.Seq)
	}
	if done, _ := s.RecordAcked(recs[0]); done {
		t.Fatal("record acknowledged before any ack")
	}
	if err := s.RecordingUploaded("c1"); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.ReleaseRecordings(); len(out) != 0 {
		t.Fatalf("released %+v before the record's ack", out)
	}
	if _, err := s.AckChain(wire.Ack{Epoch: epoch, UpTo: rec.Seq, Hash: rec.Hash}); err != nil {
		t.Fatal(err)
	}
	out, err := s.ReleaseRecordings()
	if err != nil || len(out) != 1 || out[0].Path != "/tmp/c1.wav" {
		t.Fatalf("released %+v, %v", out, err)
	}
	if recs, _ := s.PendingRecordings(); len(recs) != 0 {
		t.Fatalf("still pending %+v", recs)
	}
}

// A policy watermark beyond the store's last event is about another chain
// of the appliance (the old box's, before central has seen this one):
// nothing of this store's own ledger counts as included, nothing is pruned.
func TestWatermarkOfAnotherChainIgnored(t *testing.T) {
	s := openChainTest(t, filepath.Join(t.TempDir(), "s.db"))
	a := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recordCall(t, s, "c1", "p1", a, -100)
	recordCall(t, s, "c2", "p1", a.Add(time.Hour), -40)
	own, err := s.Own(30, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if d := own.Debits("p1"); d != -140 {
		t.Fatalf("own debits %d under another chain's watermark, want -140", d)
	}
	if n, err := s.PruneOwn(30); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) under another chain's watermark", n, err)
	}
	if own, _ := s.Own(2, "EUR"); own.Debits("p1") != -40 {
		t.Fatalf("own debits above seq 2: %d, want -40", own.Debits("p1"))
	}
}

// Debits of two data directories of the same appliance (a replacement, or
// a backup put back) under the same seq get different ids: central counts
// both.
func TestDebitIDsUniqueAcrossChains(t *testing.T) {
	dir := t.TempDir()
	a := openChainTest(t, filepath.Join(dir, "a.db"))
	b := openChainTest(t, filepath.Join(dir, "b.db"))
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	da, sa := recordCall(t, a, "c1", "p1", at, -100)
	db, sb := recordCall(t, b, "c2", "p1", at, -100)
	if sa != sb || da.ID == db.ID {
		t.Fatalf("debits %q (seq %d) and %q (seq %d)", da.ID, sa, db.ID, sb)
	}
}
