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

type testCheckpoint struct {
	Number string    `json:"number"`
	Alive  time.Time `json:"alive"`
}

// TestLiveCallCheckpointSurvivesReopen checks that a call's checkpoint
// is kept across a reopen (the appliance restarting after kill -9), is
// replaced by a newer one, and goes with the call's record in one
// transaction.
func TestLiveCallCheckpointSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kinline.db")
	s, err := Open(path, Options{ApplianceID: "blk-a", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	for i, alive := range []time.Time{t0, t0.Add(5 * time.Second)} {
		err := s.Update(func(tx *Tx) error {
			if err := tx.PutLiveCall("call-1", testCheckpoint{Number: "+4420", Alive: alive}); err != nil {
				return err
			}
			return tx.PutLiveCall("call-2", testCheckpoint{Number: "+34", Alive: alive})
		})
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
	}
	s.Close()

	s = openTest(t, path)
	lc, err := s.LiveCalls()
	if err != nil {
		t.Fatal(err)
	}
	if len(lc) != 2 || lc[0].CallID != "call-1" || lc[1].CallID != "call-2" {
		t.Fatalf("LiveCalls = %+v", lc)
	}
	var cp testCheckpoint
	if err := json.Unmarshal(lc[0].Data, &cp); err != nil || cp.Number != "+4420" || !cp.Alive.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("checkpoint = %+v, %v", cp, err)
	}

	// The record and the checkpoint's deletion commit together, or not at all.
	boom := errors.New("boom")
	err = s.Update(func(tx *Tx) error {
		if _, err := tx.AppendCall(wire.CallRecord{CallID: "call-1", Disposition: wire.DispCompleted}); err != nil {
			return err
		}
		if err := tx.DeleteLiveCall("call-1"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	if lc, _ := s.LiveCalls(); len(lc) != 2 {
		t.Fatalf("a failed transaction deleted a checkpoint: %+v", lc)
	}
	err = s.Update(func(tx *Tx) error {
		if tx.LiveCall("call-1") == nil || tx.LiveCall("nope") != nil {
			t.Error("LiveCall within the transaction")
		}
		if _, err := tx.AppendCall(wire.CallRecord{CallID: "call-1", Disposition: wire.DispCompleted}); err != nil {
			return err
		}
		return tx.DeleteLiveCall("call-1")
	})
	if err != nil {
		t.Fatal(err)
	}
	if lc, _ := s.LiveCalls(); len(lc) != 1 || lc[0].CallID != "call-2" {
		t.Fatalf("after the record: %+v", lc)
	}
	if n, _ := s.LastSeq(); n != 1 {
		t.Fatalf("last seq %d, want 1", n)
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutLiveCall("", 1) }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutLiveCall without id = %v", err)
	}
}
