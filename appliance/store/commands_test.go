package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func TestCommandsRememberedAndLockdownPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{ApplianceID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if a, err := s.CommandAnswer("c1"); err != nil || a != nil {
		t.Fatalf("unknown command: %v %v", a, err)
	}
	err = s.Update(func(tx *Tx) error {
		if err := tx.RememberCommand("c1", t0.Add(time.Minute), wire.CommandAnswer{ID: "c1", OK: true}, t0); err != nil {
			return err
		}
		return tx.SetLockdown(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{ApplianceID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if on, err := s.Lockdown(); err != nil || !on {
		t.Fatalf("lockdown after reopen = %v, %v", on, err)
	}
	if a, err := s.CommandAnswer("c1"); err != nil || a == nil || !a.OK {
		t.Fatalf("remembered answer = %+v, %v", a, err)
	}
	// A later command prunes c1 once it is long expired.
	err = s.Update(func(tx *Tx) error {
		if err := tx.SetLockdown(false); err != nil {
			return err
		}
		return tx.RememberCommand("c2", t0.Add(time.Hour), wire.CommandAnswer{ID: "c2"}, t0.Add(2*time.Minute))
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := s.CommandAnswer("c1"); a != nil {
		t.Fatal("expired command not pruned")
	}
	if on, _ := s.Lockdown(); on {
		t.Fatal("lockdown not lifted")
	}
}
