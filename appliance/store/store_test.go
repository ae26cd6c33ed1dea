package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// openTest opens a store in a fresh temp dir and checks its consistency
// when the test ends (bbolt's test helper pattern).
func openTest(t *testing.T, path string) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "kinline.db")
	}
	s, err := Open(path, Options{ApplianceID: "blk-a", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
	})
	return s
}

func TestAppendChainsAndSurvivesJSON(t *testing.T) {
	s := openTest(t, "")
	var prev string
	for i := 1; i <= 5; i++ {
		ev, err := s.Append(wire.EventAlarm, wire.Alarm{Code: "reader_down", Message: "<&> tag"})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i) || ev.PrevHash != prev || ev.ApplianceID != "blk-a" || !ev.Time.Equal(t0) {
			t.Fatalf("event %d = %+v (prev %q)", i, ev, prev)
		}
		prev = ev.Hash
	}
	// A raw payload with spaces and HTML characters still verifies after a
	// JSON round trip of the whole event, as central receives it.
	ev, err := s.Append(wire.EventCall, json.RawMessage(`{ "number" : "<00441234>" }`))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(wire.Batch{V: wire.BatchVersion, ApplianceID: "blk-a", Events: []wire.Event{ev}})
	b, err := wire.Decode[wire.Batch](data, "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Events[0].Verify(); err != nil {
		t.Fatalf("after round trip: %v", err)
	}
	evs, err := s.Pending(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 6 {
		t.Fatalf("pending = %d, want 6", len(evs))
	}
	for i, e := range evs {
		if err := e.Verify(); err != nil {
			t.Fatal(err)
		}
		if i > 0 && e.PrevHash != evs[i-1].Hash {
			t.Fatalf("chain broken at seq %d", e.Seq)
		}
	}
	if evs, _ := s.Pending(4, 1); len(evs) != 1 || evs[0].Seq != 5 {
		t.Fatalf("Pending(4,1) = %+v", evs)
	}
	if _, err := s.Append("", 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty type: %v", err)
	}
}

func TestSeqNeverRepeatsAcrossAckAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kinline.db")
	s, err := Open(path, Options{ApplianceID: "blk-a", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	var last wire.Event
	for i := 0; i < 10; i++ {
		if last, err = s.Append(wire.EventStatus, wire.Status{PolicyVersion: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Ack(10); err != nil || n != 10 {
		t.Fatalf("Ack(10) = %d, %v", n, err)
	}
	if evs, _ := s.Pending(0, 100); len(evs) != 0 {
		t.Fatalf("outbox not empty after ack: %d", len(evs))
	}
	s.Close()

	s = openTest(t, path)
	ev, err := s.Append(wire.EventStatus, wire.Status{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 11 || ev.PrevHash != last.Hash {
		t.Fatalf("after restart seq %d prev %q, want 11 chained to %q", ev.Seq, ev.PrevHash, last.Hash)
	}
	if a, _ := s.Acked(); a != 10 {
		t.Fatalf("acked = %d", a)
	}
	if _, err := Open(path+".other", Options{ApplianceID: "a/b"}); err == nil {
		t.Fatal("invalid id accepted")
	}
}

func TestWrongApplianceRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kinline.db")
	s, err := Open(path, Options{ApplianceID: "blk-a"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{ApplianceID: "blk-b"}); !errors.Is(err, ErrWrongAppliance) {
		t.Fatalf("open as other appliance: %v", err)
	}
}

func TestAckOnlyMovesForward(t *testing.T) {
	s := openTest(t, "")
	for i := 0; i < 6; i++ {
		if _, err := s.Append(wire.EventCardTap, wire.CardTap{UID: "04AB"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Ack(3); n != 3 {
		t.Fatalf("Ack(3) removed %d", n)
	}
	if n, err := s.Ack(2); n != 0 || err != nil {
		t.Fatalf("Ack(2) after 3 = %d, %v", n, err)
	}
	if n, _ := s.Ack(3); n != 0 {
		t.Fatalf("repeated Ack(3) removed %d", n)
	}
	if _, err := s.Ack(7); !errors.Is(err, ErrAckAhead) {
		t.Fatalf("Ack(7) of 6: %v", err)
	}
	evs, _ := s.Pending(0, 10)
	if len(evs) != 3 || evs[0].Seq != 4 {
		t.Fatalf("pending after ack = %+v", evs)
	}
	if a, _ := s.Acked(); a != 3 {
		t.Fatalf("acked = %d", a)
	}
}

func TestUpdateIsAtomicAndNotifies(t *testing.T) {
	s := openTest(t, "")
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.Append(wire.EventCall, wire.CallRecord{CallID: "c1"}); err != nil {
			return err
		}
		if err := tx.AddRecording(wire.RecordingRef{ID: "c1", SHA256: hex64}, "/x"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	select {
	case <-s.Notify():
		t.Fatal("notified for a rolled back transaction")
	default:
	}
	if evs, _ := s.Pending(0, 10); len(evs) != 0 {
		t.Fatal("rolled back event is visible")
	}
	if recs, _ := s.PendingRecordings(); len(recs) != 0 {
		t.Fatal("rolled back recording is visible")
	}
	err = s.Update(func(tx *Tx) error {
		if _, err := tx.Append(wire.EventCall, wire.CallRecord{CallID: "c1"}); err != nil {
			return err
		}
		return tx.AddRecording(wire.RecordingRef{ID: "c1", SHA256: hex64, Bytes: 3}, "/rec/c1.wav")
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Notify():
	default:
		t.Fatal("no notification after commit")
	}
	evs, _ := s.Pending(0, 10)
	if len(evs) != 1 || evs[0].Seq != 1 {
		t.Fatalf("seq consumed by rollback: %+v", evs)
	}
	recs, _ := s.PendingRecordings()
	if len(recs) != 1 || recs[0].CallID != "c1" || recs[0].Path != "/rec/c1.wav" || recs[0].Ref.Bytes != 3 {
		t.Fatalf("recordings = %+v", recs)
	}
	if err := s.RecordingVerified("c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordingVerified("c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second verify: %v", err)
	}
	if recs, _ := s.PendingRecordings(); len(recs) != 0 {
		t.Fatalf("recording still pending: %+v", recs)
	}
}

const hex64 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestPolicyVersions(t *testing.T) {
	s := openTest(t, "")
	if p, err := s.Policy(); p != nil || err != nil {
		t.Fatalf("empty store policy = %v, %v", p, err)
	}
	p := &wire.Policy{V: 1, ApplianceID: "blk-a", Block: "A", Version: 5}
	if err := s.SavePolicy(p); err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint64{5, 4} {
		if err := s.SavePolicy(&wire.Policy{V: 1, ApplianceID: "blk-a", Version: v}); !errors.Is(err, ErrStalePolicy) {
			t.Fatalf("version %d over 5: %v", v, err)
		}
	}
	if err := s.SavePolicy(&wire.Policy{V: 1, ApplianceID: "blk-b", Version: 9}); !errors.Is(err, ErrWrongAppliance) {
		t.Fatalf("other appliance's policy: %v", err)
	}
	if err := s.SavePolicy(&wire.Policy{V: 1, ApplianceID: "blk-a", Block: "A", Version: 6}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Policy()
	if err != nil || got.Version != 6 || got.Block != "A" {
		t.Fatalf("policy = %+v, %v", got, err)
	}
}

func BenchmarkAppendBatch100(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "k.db"), Options{ApplianceID: "blk-a"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := s.Update(func(tx *Tx) error {
			for j := 0; j < 100; j++ {
				if _, err := tx.Append(wire.EventCardTap, wire.CardTap{UID: "04AB"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
