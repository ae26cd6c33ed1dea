package ledger

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const s = time.Second

func TestCostRounding(t *testing.T) {
	perMin60 := Rate{DestinationType: National, PerMinute: 10, BillingUnit: 60}
	perHalf := Rate{DestinationType: National, PerMinute: 10, BillingUnit: 30}
	perSec := Rate{DestinationType: National, PerMinute: 10, BillingUnit: 1}
	withFee := Rate{DestinationType: Mobile, PerMinute: 20, BillingUnit: 60, ConnectionFee: 15}
	cases := []struct {
		name  string
		r     Rate
		d     time.Duration
		units int64
		want  Money
	}{
		{"unanswered costs nothing", withFee, 0, 0, 0},
		{"negative duration costs nothing", withFee, -5 * s, 0, 0},
		{"1 ns bills a whole minute", perMin60, time.Nanosecond, 1, 10},
		{"exactly one unit", perMin60, 60 * s, 1, 10},
		{"1 s over a unit costs a unit", perMin60, 61 * s, 2, 20},
		{"30 s unit: 31 s bills 60 s", perHalf, 31 * s, 2, 10},
		{"30 s unit: 30 s bills half a minute", perHalf, 30 * s, 1, 5},
		{"30 s unit: 89 s bills 90 s", perHalf, 89 * s, 3, 15},
		{"per second: 60 s costs one minute, not 60 rounded units", perSec, 60 * s, 60, 10},
		{"per second: 1 s rounds the money up once", perSec, 1 * s, 1, 1},
		{"per second: 61.2 s bills 62 s = 10.33 -> 11", perSec, 61*s + 200*time.Millisecond, 62, 11},
		{"connection fee is added once", withFee, 60 * s, 1, 35},
		{"connection fee plus units", withFee, 121 * s, 3, 75},
		{"free costs nothing", Rate{DestinationType: Custom, PerMinute: 99, BillingUnit: 60, ConnectionFee: 50, Free: true}, time.Hour, 60, 0},
		{"zero price, fee only", Rate{DestinationType: Local, BillingUnit: 60, ConnectionFee: 5}, time.Hour, 60, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.r.Units(c.d); got != c.units {
				t.Errorf("Units(%v) = %d, want %d", c.d, got, c.units)
			}
			if got := c.r.Cost(c.d); got != c.want {
				t.Errorf("Cost(%v) = %d, want %d", c.d, got, c.want)
			}
		})
	}
}

func TestCostSaturates(t *testing.T) {
	r := Rate{DestinationType: International, PerMinute: MaxMoney / 2, BillingUnit: 86400, ConnectionFee: MaxMoney / 2}
	if got := r.Cost(time.Duration(math.MaxInt64)); got != MaxMoney {
		t.Errorf("Cost of a huge call = %d, want MaxMoney", got)
	}
	if got := r.MaxDuration(MaxMoney); got != 0 {
		t.Errorf("MaxDuration when one unit costs more than any Money = %v", got)
	}
}

func TestMaxDuration(t *testing.T) {
	cases := []struct {
		name    string
		r       Rate
		balance Money
		want    time.Duration
	}{
		{"not even the fee", Rate{DestinationType: Mobile, PerMinute: 20, BillingUnit: 60, ConnectionFee: 15}, 14, 0},
		{"fee but not the first unit", Rate{DestinationType: Mobile, PerMinute: 20, BillingUnit: 60, ConnectionFee: 15}, 34, 0},
		{"fee and exactly one unit", Rate{DestinationType: Mobile, PerMinute: 20, BillingUnit: 60, ConnectionFee: 15}, 35, 60 * s},
		{"fee and 2.9 units", Rate{DestinationType: Mobile, PerMinute: 20, BillingUnit: 60, ConnectionFee: 15}, 73, 120 * s},
		{"per second, sub-cent units", Rate{DestinationType: National, PerMinute: 10, BillingUnit: 1}, 1, 6 * s},
		{"per second, one euro", Rate{DestinationType: National, PerMinute: 10, BillingUnit: 1}, 100, 600 * s},
		{"30 s units", Rate{DestinationType: National, PerMinute: 10, BillingUnit: 30}, 12, 60 * s},
		{"zero balance", Rate{DestinationType: National, PerMinute: 10, BillingUnit: 60}, 0, 0},
		{"negative balance", Rate{DestinationType: National, PerMinute: 10, BillingUnit: 60}, -50, 0},
		{"free with negative balance", Rate{DestinationType: Custom, PerMinute: 10, BillingUnit: 60, Free: true}, -50, Unlimited},
		{"no per-minute price, fee covered", Rate{DestinationType: Local, BillingUnit: 60, ConnectionFee: 5}, 5, Unlimited},
		{"no per-minute price, fee not covered", Rate{DestinationType: Local, BillingUnit: 60, ConnectionFee: 5}, 4, 0},
		{"balance beyond any duration", Rate{DestinationType: Local, PerMinute: 1, BillingUnit: 1}, MaxMoney, Unlimited},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.r.MaxDuration(c.balance)
			if got != c.want {
				t.Fatalf("MaxDuration(%d) = %v, want %v", c.balance, got, c.want)
			}
			_, err := c.r.Allowance(c.balance)
			if (got == 0) != errors.Is(err, ErrInsufficientBalance) {
				t.Errorf("Allowance(%d) error %v with MaxDuration %v", c.balance, err, got)
			}
		})
	}
}

// checkRoundTrip is the MaxDuration/Cost property: for a balance >= 0 and
// a finite answer, the call it allows costs at most the balance, and one
// more billing unit would cost more.
func checkRoundTrip(t *testing.T, r Rate, b Money) {
	t.Helper()
	d := r.MaxDuration(b)
	if d == Unlimited {
		if !r.Free && r.PerMinute != 0 && r.Cost(time.Duration(math.MaxInt64)) <= b {
			return // more whole units than a Duration holds, all paid for
		}
		if !r.Free && r.PerMinute != 0 {
			t.Fatalf("%+v: Unlimited for balance %d but a max-length call costs %d", r, b, r.Cost(time.Duration(math.MaxInt64)))
		}
		return
	}
	if d%r.unit() != 0 {
		t.Fatalf("%+v: MaxDuration(%d) = %v is not whole units", r, b, d)
	}
	if c := r.Cost(d); c > b {
		t.Fatalf("%+v: Cost(MaxDuration(%d) = %v) = %d exceeds the balance", r, b, d, c)
	}
	if d > Unlimited-r.unit() {
		return // one more unit does not fit in a Duration
	}
	if c := r.Cost(d + r.unit()); c <= b {
		t.Fatalf("%+v: one more unit after %v costs %d, still within balance %d", r, d, c, b)
	}
}

func TestMaxDurationCostRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	units := []int{1, 6, 30, 60, 90}
	for i := 0; i < 20000; i++ {
		r := Rate{
			DestinationType: National,
			PerMinute:       Money(rng.Int64N(500)),
			BillingUnit:     units[rng.IntN(len(units))],
			ConnectionFee:   Money(rng.Int64N(3) * rng.Int64N(50)),
		}
		checkRoundTrip(t, r, Money(rng.Int64N(20000)))
	}
}

func TestRateValidate(t *testing.T) {
	ok := Rate{Prefix: "+44", DestinationType: International, PerMinute: 10, BillingUnit: 60}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Rate){
		"negative price":   func(r *Rate) { r.PerMinute = -1 },
		"negative fee":     func(r *Rate) { r.ConnectionFee = -1 },
		"zero unit":        func(r *Rate) { r.BillingUnit = 0 },
		"unit over a day":  func(r *Rate) { r.BillingUnit = 86401 },
		"unknown type":     func(r *Rate) { r.DestinationType = "premium" },
		"rounding down":    func(r *Rate) { r.Rounding = "down" },
		"letters":          func(r *Rate) { r.Prefix = "44a" },
		"plus inside":      func(r *Rate) { r.Prefix = "4+4" },
		"unnormalized 00":  func(r *Rate) { r.Prefix = "0044" },
		"longer than a no": func(r *Rate) { r.Prefix = "123456789012345678901234567890123" },
	}
	for name, mut := range bad {
		r := ok
		mut(&r)
		if err := r.Validate(); !errors.Is(err, ErrBadRate) {
			t.Errorf("%s: %v, want ErrBadRate", name, err)
		}
	}
	for _, p := range []string{"", "+", "0", "07", "+1"} {
		r := ok
		r.Prefix = p
		if err := r.Validate(); err != nil {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
}

func TestRateWireRoundTrip(t *testing.T) {
	r := Rate{Prefix: "+447", DestinationType: Mobile, Name: "UK mobile", PerMinute: 25, BillingUnit: 30, ConnectionFee: 5, Rounding: RoundUp}
	back, err := RateFromWire(r.Wire())
	if err != nil || back != r {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	w := r.Wire()
	w.BillingUnitSeconds = 0
	if _, err := RateFromWire(w); !errors.Is(err, ErrBadRate) {
		t.Errorf("bad wire rate accepted: %v", err)
	}
}

func TestInvalidRateIsSafe(t *testing.T) {
	neg := Rate{DestinationType: Local, PerMinute: -10, BillingUnit: 60, ConnectionFee: -5}
	if c := neg.Cost(time.Hour); c != 0 {
		t.Errorf("an invalid rate credits the caller: Cost = %d", c)
	}
	if d := neg.MaxDuration(100); d != 0 {
		t.Errorf("an invalid rate allows calls: %v", d)
	}
	if d := (Rate{DestinationType: Local, PerMinute: 10}).MaxDuration(100); d != 0 {
		t.Errorf("a rate without a billing unit allows calls: %v", d)
	}
}
