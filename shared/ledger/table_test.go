package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	pnum "github.com/kinline/kinline/shared/policy/number"
	"github.com/kinline/kinline/shared/wire"
)

func testTable(t testing.TB) *Table {
	t.Helper()
	tab, err := NewTable(EUR, []Rate{
		{Prefix: "+", DestinationType: International, PerMinute: 100, BillingUnit: 60},
		{Prefix: "+44", DestinationType: International, PerMinute: 30, BillingUnit: 60},
		{Prefix: "+447", DestinationType: Mobile, PerMinute: 40, BillingUnit: 30, ConnectionFee: 10},
		{Prefix: "+4479", DestinationType: Custom, Name: "premium mobile", PerMinute: 90, BillingUnit: 60},
		{Prefix: "0", DestinationType: National, PerMinute: 10, BillingUnit: 60},
		{Prefix: "07", DestinationType: Mobile, PerMinute: 20, BillingUnit: 1},
		{Prefix: "5", DestinationType: Local, PerMinute: 5, BillingUnit: 60},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestMatchLongestPrefix(t *testing.T) {
	tab := testTable(t)
	cases := []struct {
		number, prefix string
		ok             bool
	}{
		{"+4479460001", "+4479", true},     // longest of +, +44, +447, +4479
		{"+447700900123", "+447", true},    // +4479 does not match, +447 does
		{"+442079460001", "+44", true},     // shorter wins when longer ones do not match
		{"0044 20 7946 0001", "+44", true}, // normalized first: 00 -> +
		{"+33 1 23 45 67 89", "+", true},   // only the catch-all international prefix
		{"07700 900123", "07", true},
		{"(020) 7946-0001", "0", true},
		{"5550100", "5", true},
		{"5", "5", true},
		{"0", "0", true},
		{"1234", "", false},    // no entry starts with 1 and there is no "" catch-all
		{"12;drop", "", false}, // invalid number
		{"", "", false},
		{"+", "", false},
	}
	for _, c := range cases {
		r, ok := tab.Match(c.number)
		if ok != c.ok || r.Prefix != c.prefix {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", c.number, r.Prefix, ok, c.prefix, c.ok)
		}
	}
	var nilTable *Table
	if _, ok := nilTable.Match("+44"); ok {
		t.Error("nil table matched")
	}
}

func TestMatchCatchAll(t *testing.T) {
	tab, err := NewTable(EUR, []Rate{
		{Prefix: "", DestinationType: Custom, PerMinute: 50, BillingUnit: 60},
		{Prefix: "+44", DestinationType: International, PerMinute: 30, BillingUnit: 60},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := tab.Match("1234"); !ok || r.Prefix != "" {
		t.Errorf("catch-all: %+v %v", r, ok)
	}
	if r, _ := tab.Match("+4420"); r.Prefix != "+44" {
		t.Errorf("longer prefix lost to the catch-all: %+v", r)
	}
	if _, ok := tab.Match("abc"); ok {
		t.Error("invalid number matched the catch-all")
	}
}

func TestNewTableErrors(t *testing.T) {
	_, err := NewTable(EUR, []Rate{
		{Prefix: "+44", DestinationType: International, PerMinute: 30, BillingUnit: 60},
		{Prefix: "+44", DestinationType: Mobile, PerMinute: 40, BillingUnit: 60},
	})
	if !errors.Is(err, ErrDuplicatePrefix) {
		t.Errorf("duplicate prefix: %v", err)
	}
	if _, err := NewTable(EUR, []Rate{{Prefix: "+44", DestinationType: "x", BillingUnit: 60}}); !errors.Is(err, ErrBadRate) {
		t.Errorf("bad rate: %v", err)
	}
	if _, err := NewTable(Currency{"eu", 2}, nil); !errors.Is(err, ErrCurrency) {
		t.Errorf("bad currency: %v", err)
	}
}

func TestTableCopiesRates(t *testing.T) {
	rates := []Rate{{Prefix: "5", DestinationType: Local, PerMinute: 5, BillingUnit: 60}}
	tab, err := NewTable(EUR, rates)
	if err != nil {
		t.Fatal(err)
	}
	rates[0].PerMinute = 999
	if r, _ := tab.Match("5"); r.PerMinute != 5 {
		t.Errorf("table changed with the caller's slice: %+v", r)
	}
	if tab.Len() != 1 || tab.Rates()[0].PerMinute != 5 || tab.Currency() != EUR {
		t.Errorf("accessors: %d %+v %+v", tab.Len(), tab.Rates(), tab.Currency())
	}
}

func TestPrice(t *testing.T) {
	tab := testTable(t)
	r, err := tab.Price("+447700900123", false)
	if err != nil || r.Prefix != "+447" || r.Cost(45*time.Second) != 10+40 {
		t.Errorf("paid: %+v %v cost %d", r, err, r.Cost(45*time.Second))
	}
	free, err := tab.Price("+447700900123", true)
	if err != nil || !free.Free || free.DestinationType != Mobile || free.Cost(time.Hour) != 0 || free.MaxDuration(0) != Unlimited {
		t.Errorf("free: %+v %v", free, err)
	}
	if _, err := tab.Price("1234", false); !errors.Is(err, ErrNoRate) {
		t.Errorf("unrated number: %v", err)
	}
	free, err = tab.Price("1234", true)
	if err != nil || !free.Free || free.Cost(time.Hour) != 0 {
		t.Errorf("free unrated number: %+v %v", free, err)
	}
}

func TestTableFromWire(t *testing.T) {
	m := wire.MoneyPolicy{Currency: "GBP", Digits: 2, Rates: []wire.Rate{
		{Prefix: "+44", DestinationType: wire.DestInternational, PerMinute: 12, BillingUnitSeconds: 60},
	}}
	tab, err := TableFromWire(m)
	if err != nil || tab.Currency() != GBP {
		t.Fatalf("%v %+v", err, tab)
	}
	if r, ok := tab.Match("+4420"); !ok || r.PerMinute != 12 {
		t.Errorf("%+v %v", r, ok)
	}
	m.Rates[0].PerMinute = -1
	if _, err := TableFromWire(m); !errors.Is(err, ErrBadRate) {
		t.Errorf("negative price accepted: %v", err)
	}
	m.Currency = "pounds"
	if _, err := TableFromWire(m); !errors.Is(err, ErrCurrency) {
		t.Errorf("bad currency accepted: %v", err)
	}
}

// bruteMatch is the obvious longest-prefix match the trie must agree with.
func bruteMatch(rates []Rate, number string) (Rate, bool) {
	n := pnum.Normalize(number)
	if n == "" {
		return Rate{}, false
	}
	best, found := Rate{}, false
	for _, r := range rates {
		if strings.HasPrefix(n, r.Prefix) && (!found || len(r.Prefix) > len(best.Prefix)) {
			best, found = r, true
		}
	}
	return best, found
}

// bigRates makes n distinct prefixes shaped like real rate decks: country
// codes, then area and mobile ranges beneath them.
func bigRates(n int, seed uint64) []Rate {
	rng := rand.New(rand.NewPCG(seed, 7))
	seen := map[string]bool{}
	rates := make([]Rate, 0, n)
	types := []DestinationType{Local, National, Mobile, International, Custom}
	for len(rates) < n {
		p := "+" + fmt.Sprint(1+rng.IntN(999))
		if rng.IntN(4) == 0 {
			p = "0" + fmt.Sprint(1+rng.IntN(9))
		}
		for range rng.IntN(6) {
			p += fmt.Sprint(rng.IntN(10))
		}
		if seen[p] || !validPrefix(p) {
			continue
		}
		seen[p] = true
		rates = append(rates, Rate{Prefix: p, DestinationType: types[rng.IntN(len(types))],
			PerMinute: Money(rng.Int64N(300)), BillingUnit: []int{1, 30, 60}[rng.IntN(3)], ConnectionFee: Money(rng.Int64N(20))})
	}
	return rates
}

func randomNumber(rng *rand.Rand) string {
	var b strings.Builder
	switch rng.IntN(3) {
	case 0:
		b.WriteByte('+')
	case 1:
		b.WriteString("00")
	}
	for i := 0; i < 4+rng.IntN(10); i++ {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	return b.String()
}

func TestMatchAgreesWithBruteForce(t *testing.T) {
	rates := bigRates(10000, 1)
	tab, err := NewTable(EUR, rates)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	matched := 0
	for i := 0; i < 4000; i++ {
		num := randomNumber(rng)
		if i%2 == 0 { // half the numbers extend a known prefix
			num = rates[rng.IntN(len(rates))].Prefix + fmt.Sprint(rng.IntN(100000))
		}
		got, gok := tab.Match(num)
		want, wok := bruteMatch(rates, num)
		if gok != wok || got != want {
			t.Fatalf("Match(%q) = %+v %v; brute force %+v %v", num, got, gok, want, wok)
		}
		if gok {
			matched++
		}
	}
	if matched < 2000 {
		t.Errorf("only %d of 4000 numbers matched: the test exercises too little", matched)
	}
}

func BenchmarkMatch(b *testing.B) {
	rates := bigRates(10000, 1)
	tab, err := NewTable(EUR, rates)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	nums := make([]string, 1024)
	for i := range nums {
		nums[i] = rates[rng.IntN(len(rates))].Prefix + fmt.Sprint(1000000+rng.IntN(9000000))
	}
	b.Run("normalized", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := tab.Match(nums[i%len(nums)]); !ok {
				b.Fatal("no match")
			}
		}
		b.ReportMetric(float64(len(tab.nodes))*float64(unsafe.Sizeof(trieNode{}))/1024, "trie-KiB")
	})
	spaced := make([]string, len(nums))
	for i, n := range nums {
		spaced[i] = strings.Replace(n, "+", "00", 1)[:3] + " " + strings.Replace(n, "+", "00", 1)[3:]
	}
	b.Run("unnormalized", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := tab.Match(spaced[i%len(spaced)]); !ok {
				b.Fatal("no match")
			}
		}
	})
}

// FuzzMatchCost: for any number, duration and balance, Match agrees with a
// brute-force longest-prefix match, and the matched rate's Cost is
// non-negative, monotone in duration, and consistent with MaxDuration.
func FuzzMatchCost(f *testing.F) {
	f.Add("+4479460001", int64(61e9), int64(100))
	f.Add("0044 20 7946 0001", int64(1), int64(0))
	f.Add("07700 900123", int64(3600e9), int64(35))
	f.Add("abc", int64(-1), int64(-5))
	f.Add("5", int64(9223372036854775807), int64(9223372036854775807))
	rates := []Rate{
		{Prefix: "", DestinationType: Custom, PerMinute: 7, BillingUnit: 6, ConnectionFee: 3},
		{Prefix: "+", DestinationType: International, PerMinute: 100, BillingUnit: 60},
		{Prefix: "+44", DestinationType: International, PerMinute: 30, BillingUnit: 60},
		{Prefix: "+447", DestinationType: Mobile, PerMinute: 40, BillingUnit: 30, ConnectionFee: 10},
		{Prefix: "+4479", DestinationType: Custom, PerMinute: 90, BillingUnit: 60},
		{Prefix: "0", DestinationType: National, PerMinute: 10, BillingUnit: 60},
		{Prefix: "07", DestinationType: Mobile, PerMinute: 20, BillingUnit: 1},
		{Prefix: "5", DestinationType: Local, PerMinute: 1, BillingUnit: 1},
		{Prefix: "55", DestinationType: Local, BillingUnit: 60, ConnectionFee: 2},
	}
	tab, err := NewTable(EUR, rates)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, number string, dNanos, balance int64) {
		r, ok := tab.Match(number)
		want, wok := bruteMatch(rates, number)
		if ok != wok || r != want {
			t.Fatalf("Match(%q) = %+v %v; brute force %+v %v", number, r, ok, want, wok)
		}
		if !ok {
			return
		}
		d := time.Duration(dNanos)
		c := r.Cost(d)
		if c < 0 || d <= 0 && c != 0 {
			t.Fatalf("Cost(%v) = %d", d, c)
		}
		if d > 0 && c < r.ConnectionFee {
			t.Fatalf("Cost(%v) = %d below the connection fee %d", d, c, r.ConnectionFee)
		}
		if d > 0 && d < time.Duration(1<<62) && r.Cost(2*d) < c {
			t.Fatalf("Cost not monotone: %v -> %d, %v -> %d", d, c, 2*d, r.Cost(2*d))
		}
		if balance >= 0 {
			checkRoundTrip(t, r, Money(balance))
		}
	})
}
