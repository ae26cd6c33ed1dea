package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

// TestBatchConcurrentAppends: many call records ending at once through
// Batch are all committed, once each, chained in sequence; a failing
// function loses only its own changes.
func TestBatchConcurrentAppends(t *testing.T) {
	s := openTest(t, "")
	const n = 200
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Batch(func(tx *Tx) error {
				if _, err := tx.AppendCall(wire.CallRecord{CallID: fmt.Sprintf("call-%d", i), Terminal: "t1", Disposition: wire.DispRefused}); err != nil {
					return err
				}
				if i%50 == 7 {
					return errBoom
				}
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		switch {
		case errors.Is(err, errBoom):
			failed++
		case err != nil:
			t.Fatal(err)
		}
	}
	evs, err := s.Pending(0, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 4 || len(evs) != n-failed {
		t.Fatalf("%d failed, %d events; want 4 and %d", failed, len(evs), n-failed)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
}
