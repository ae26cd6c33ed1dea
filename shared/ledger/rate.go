package ledger

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// Errors of the rating layer.
var (
	// ErrBadRate: a rate entry that cannot be used (negative price, zero
	// billing unit, unknown destination type or rounding, bad prefix).
	ErrBadRate = errors.New("ledger: bad rate")
	// ErrDuplicatePrefix: two entries of one table have the same prefix.
	ErrDuplicatePrefix = errors.New("ledger: duplicate rate prefix")
	// ErrNoRate: no entry of the table matches the number (and it is not
	// free): the call cannot be priced, so it is refused.
	ErrNoRate = errors.New("no rate for number")
	// ErrInsufficientBalance: the balance does not pay for the connection
	// fee and the first billing unit. Its text is the reason spoken and
	// sent in the refusal.
	ErrInsufficientBalance = errors.New("insufficient balance")
)

// DestinationType classifies a rate entry.
type DestinationType string

// Destination types.
const (
	Local         DestinationType = wire.DestLocal
	National      DestinationType = wire.DestNational
	Mobile        DestinationType = wire.DestMobile
	International DestinationType = wire.DestInternational
	Custom        DestinationType = wire.DestCustom
)

// Valid reports whether d is one of the destination types.
func (d DestinationType) Valid() bool {
	switch d {
	case Local, National, Mobile, International, Custom:
		return true
	}
	return false
}

// Rounding is how a call's duration becomes billed units.
type Rounding string

// RoundUp is the usual telecom rule and the only one: a started billing
// unit is billed in full. With a 60 s unit a call of 61 s bills 120 s; with
// a 1 s unit, 1.2 s bills 2 s. The empty Rounding means RoundUp.
const RoundUp Rounding = "up"

// Unlimited is what MaxDuration returns when a balance pays for any
// length of call (a free number, or a rate with no per-minute price whose
// connection fee is covered).
const Unlimited = time.Duration(math.MaxInt64)

// Rate prices calls to the numbers starting with Prefix.
//
// Cost of an answered call of duration d > 0:
//
//	units  = ceil(d / BillingUnit)                  (RoundUp)
//	billed = units * BillingUnit seconds
//	cost   = ConnectionFee + ceil(billed * PerMinute / 60)
//
// The price of the billed time is rounded up to a whole minor unit once
// per call, not per unit, so per-second billing of a 10-cent minute costs
// 10 cents for 60 s (not 60 x 1). An unanswered call (d <= 0) costs
// nothing, not even the connection fee.
type Rate struct {
	// Prefix is a normalized number prefix (policy.NormalizeNumber): "" matches
	// every number, "+" every international one.
	Prefix          string
	DestinationType DestinationType
	Name            string // label, e.g. of a custom destination
	PerMinute       Money
	BillingUnit     int // seconds, > 0
	ConnectionFee   Money
	Rounding        Rounding // "" or RoundUp
	// Free is set on the rate Table.Price returns for a free number: it
	// costs nothing, whatever the other fields say.
	Free bool
}

// Validate reports whether r can price calls.
func (r Rate) Validate() error {
	switch {
	case !validPrefix(r.Prefix):
		return fmt.Errorf("%w: prefix %q is not a normalized number prefix", ErrBadRate, r.Prefix)
	case !r.DestinationType.Valid():
		return fmt.Errorf("%w: prefix %q: destination type %q", ErrBadRate, r.Prefix, r.DestinationType)
	case r.PerMinute < 0:
		return fmt.Errorf("%w: prefix %q: negative per-minute price %d", ErrBadRate, r.Prefix, r.PerMinute)
	case r.ConnectionFee < 0:
		return fmt.Errorf("%w: prefix %q: negative connection fee %d", ErrBadRate, r.Prefix, r.ConnectionFee)
	case r.BillingUnit <= 0 || r.BillingUnit > 86400:
		return fmt.Errorf("%w: prefix %q: billing unit %d s (1..86400)", ErrBadRate, r.Prefix, r.BillingUnit)
	case r.Rounding != "" && r.Rounding != RoundUp:
		return fmt.Errorf("%w: prefix %q: rounding %q (only %q)", ErrBadRate, r.Prefix, r.Rounding, RoundUp)
	}
	return nil
}

// validPrefix: "" (every number), "+" (every international number) or an
// optional leading '+' then digits, at most 32 bytes (the longest
// normalized number), never starting "00" (normalized to '+').
func validPrefix(p string) bool {
	if len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !(p[i] >= '0' && p[i] <= '9' || p[i] == '+' && i == 0) {
			return false
		}
	}
	return len(p) < 2 || p[:2] != "00"
}

func (r Rate) unit() time.Duration { return time.Duration(r.BillingUnit) * time.Second }

// Units returns the billing units charged for an answered call of d: 0 for
// d <= 0, else d rounded up to whole units.
func (r Rate) Units(d time.Duration) int64 {
	if d <= 0 || r.BillingUnit <= 0 {
		return 0
	}
	u := r.unit()
	return int64((d-1)/u) + 1
}

// Cost returns what an answered call of duration d costs (see Rate):
// 0 when d <= 0 or the rate is Free. It saturates at MaxMoney and is never
// negative (a negative price or fee, which Validate refuses, counts as 0).
func (r Rate) Cost(d time.Duration) Money {
	if r.Free || d <= 0 || r.BillingUnit <= 0 {
		return 0
	}
	return addSat(max(r.ConnectionFee, 0), r.unitsCost(r.Units(d)))
}

// unitsCost is ceil(units * BillingUnit * PerMinute / 60), saturating.
func (r Rate) unitsCost(units int64) Money {
	if units <= 0 || r.PerMinute <= 0 {
		return 0
	}
	secs, ok := mul64(uint64(units), uint64(r.BillingUnit))
	if !ok {
		return MaxMoney
	}
	hi, lo := bits.Mul64(secs, uint64(r.PerMinute))
	lo, carry := bits.Add64(lo, 59, 0) // ceil: (x + 59) / 60
	hi += carry
	if hi >= 60 { // the quotient would not fit in 64 bits
		return MaxMoney
	}
	q, _ := bits.Div64(hi, lo, 60)
	if q > math.MaxInt64 {
		return MaxMoney
	}
	return Money(q)
}

func mul64(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}

// MaxDuration returns the longest call balance pays for under r: a whole
// number of billing units k, the largest with Cost(k units) <= balance.
// It is 0 when the balance does not cover the connection fee and the first
// unit, and Unlimited for a free rate or one with no per-minute price whose
// fee is covered. For b >= 0, Cost(MaxDuration(b)) <= b, and (unless
// Unlimited) one more unit would cost more than b. A rate that fails
// Validate allows nothing (0).
func (r Rate) MaxDuration(balance Money) time.Duration {
	if r.Free {
		return Unlimited
	}
	if r.BillingUnit <= 0 || r.PerMinute < 0 || r.ConnectionFee < 0 || balance < r.ConnectionFee {
		return 0 // nothing paid for, or a rate that fails Validate
	}
	if r.PerMinute == 0 {
		return Unlimited
	}
	// ceil(k*u*P/60) <= rest  <=>  k*u*P <= 60*rest (rest is whole), so
	// k = floor(60*rest / (u*P)).
	rest := uint64(balance - r.ConnectionFee)
	hi, lo := bits.Mul64(rest, 60)
	div, ok := mul64(uint64(r.BillingUnit), uint64(r.PerMinute))
	if !ok { // a single unit costs more than any Money
		return 0
	}
	if hi >= div {
		return Unlimited // more units than fit in a count
	}
	k, _ := bits.Div64(hi, lo, div)
	maxUnits := uint64(math.MaxInt64 / int64(r.unit()))
	if k > maxUnits {
		return Unlimited
	}
	return time.Duration(k) * r.unit()
}

// Allowance is the start-of-call check: the longest call usable pays for
// under r, or ErrInsufficientBalance (with the amounts) when it does not pay
// for the connection fee and the first unit.
func (r Rate) Allowance(usable Money) (time.Duration, error) {
	d := r.MaxDuration(usable)
	if d == 0 {
		return 0, fmt.Errorf("%w: balance %d, the first unit costs %d (minor units)", ErrInsufficientBalance, usable, r.Cost(time.Nanosecond))
	}
	return d, nil
}

// RateFromWire converts and validates a wire rate.
func RateFromWire(w wire.Rate) (Rate, error) {
	r := Rate{
		Prefix:          w.Prefix,
		DestinationType: DestinationType(w.DestinationType),
		Name:            w.Name,
		PerMinute:       Money(w.PerMinute),
		BillingUnit:     w.BillingUnitSeconds,
		ConnectionFee:   Money(w.ConnectionFee),
		Rounding:        Rounding(w.Rounding),
	}
	return r, r.Validate()
}

// Wire returns r in its wire form (Free is not carried: it is a property
// of the approved number, not of the rate).
func (r Rate) Wire() wire.Rate {
	return wire.Rate{
		Prefix:             r.Prefix,
		DestinationType:    string(r.DestinationType),
		Name:               r.Name,
		PerMinute:          int64(r.PerMinute),
		BillingUnitSeconds: r.BillingUnit,
		ConnectionFee:      int64(r.ConnectionFee),
		Rounding:           string(r.Rounding),
	}
}
