package authz

import (
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// TestChargingOnRefusesUnratedNumbers: with the prison's charging on
// (a money part that says so), a number no rate matches is refused with
// ErrNoRate, also when central has no rate at all; a free number is
// still allowed, free. A privileged number is treated as today: it needs
// a rate like any other unless it is also free.
func TestChargingOnRefusesUnratedNumbers(t *testing.T) {
	p := moneyPolicy()
	p.People[0].Numbers = append(p.People[0].Numbers,
		wire.ApprovedNumber{Number: "+15550001"}, wire.ApprovedNumber{Number: "+15550002", Privileged: true})
	p.Money.Charging = wire.ChargingOn
	h := newHarness(t, p)

	r := h.call(t, "+15550001", time.Minute)
	if r.Allowed || !errors.Is(r.Err, policy.ErrNoRate) || r.Reason != policy.ErrNoRate.Error()+": +15550001" {
		t.Fatalf("unrated number with charging on: %+v, want refused with %q", r, policy.ErrNoRate)
	}
	if r := h.call(t, "+15550002", time.Minute); r.Allowed || !errors.Is(r.Err, policy.ErrNoRate) {
		t.Fatalf("unrated privileged number with charging on: %+v, want refused like today", r)
	}
	if r := h.call(t, "+441110001", time.Minute); !r.Allowed || !r.Rated || r.Rate.PerMinute != 10 {
		t.Fatalf("rated number: %+v", r)
	}

	// Charging on and no rate at all (a fresh prison that turned it on
	// before entering rates): every call that is not free is refused.
	p = moneyPolicy()
	p.Money.Rates, p.Money.Charging = []wire.Rate{}, wire.ChargingOn
	h = newHarness(t, p)
	if r := h.call(t, "+441110001", time.Minute); r.Allowed || !errors.Is(r.Err, policy.ErrNoRate) {
		t.Fatalf("charging on with no rates: %+v, want refused with ErrNoRate", r)
	}
	if r := h.call(t, "+441110002", time.Minute); !r.Allowed || !r.Free || !r.Rate.Free {
		t.Fatalf("free number with charging on and no rates: %+v, want allowed free", r)
	}
}

// TestChargingOffAllowsFree: with charging off central sends no money
// part, and every approved call is allowed, unrated, whatever the
// balance, unlimited by money (the rule's quota still counts).
func TestChargingOffAllowsFree(t *testing.T) {
	p := moneyPolicy()
	p.Money = nil
	p.People[0].Numbers = append(p.People[0].Numbers, wire.ApprovedNumber{Number: "+15550001"})
	h := newHarness(t, p)
	r := h.call(t, "+15550001", 90*time.Minute)
	if !r.Allowed || r.Rated || r.LimitedBy == wire.LimitBalance {
		t.Fatalf("charging off: %+v, want allowed and not rated", r)
	}
	if r := h.call(t, "+441110001", 90*time.Minute); !r.Allowed || r.Rated {
		t.Fatalf("charging off, second call: %+v", r)
	}
	if r := h.call(t, "+441110001", time.Minute); r.Allowed || !errors.Is(r.Err, policy.ErrQuotaExceeded) {
		t.Fatalf("charging off, third call of a rule of 2 a day: %+v, want the quota", r)
	}
}
