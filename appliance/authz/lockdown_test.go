package authz

import (
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
)

func TestLockdownRefusesAndLiftAllows(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	a := New(clk, 30*time.Second)
	a.SetPolicy(blockPolicy())
	a.SetLockdown(true)
	if !a.Lockdown() {
		t.Fatal("Lockdown() false after SetLockdown(true)")
	}
	a.Tap("t1", "04A1B2C3")
	r := a.Authorize("t1", "5550100")
	if r.Allowed || !errors.Is(r.Err, policy.ErrLockdown) || r.Reason != "block in lockdown" {
		t.Fatalf("in lockdown: %+v", r)
	}
	if r.PersonID != "p1" || r.CardUID != "04A1B2C3" {
		t.Fatalf("lockdown refusal does not name the caller: %+v", r)
	}
	// Without a tap the lockdown is still the reason.
	if r := a.Authorize("t2", "5550100"); !errors.Is(r.Err, policy.ErrLockdown) {
		t.Fatalf("no tap in lockdown: %+v", r)
	}
	// The refusal used the tap up; after the lift a new tap calls.
	a.SetLockdown(false)
	if r := a.Authorize("t1", "5550100"); !errors.Is(r.Err, policy.ErrNoTap) {
		t.Fatalf("after lift, on the tap the lockdown refused: %+v", r)
	}
	a.Tap("t1", "04A1B2C3")
	if r := a.Authorize("t1", "5550100"); !r.Allowed {
		t.Fatalf("after lift: %+v", r)
	}
}
