package ledger

import (
	"fmt"

	"github.com/kinline/kinline/shared/policy/number"
	"github.com/kinline/kinline/shared/wire"
)

// Table is a rate table in one currency, matched by the longest prefix of
// a normalized number. It is immutable once built and safe for concurrent
// use; build a new one when the rates change.
//
// Lookups walk a digit trie stored in one flat slice: one step per digit of
// the number (at most 32), no allocation for a number already normalized.
type Table struct {
	currency Currency
	rates    []Rate
	nodes    []trieNode
}

// trieNode has one child per symbol: '0'..'9' at 0..9, '+' at 10. Child 0
// means none (node 0 is the root, never a child).
type trieNode struct {
	child [11]int32
	rate  int32 // index into rates, -1 when no entry ends here
}

func symbol(c byte) int {
	if c == '+' {
		return 10
	}
	return int(c - '0')
}

// NewTable validates the rates and builds a table. A prefix may appear
// once; "" is a catch-all that matches every number.
func NewTable(cur Currency, rates []Rate) (*Table, error) {
	if err := cur.Validate(); err != nil {
		return nil, err
	}
	t := &Table{currency: cur, rates: make([]Rate, len(rates)), nodes: []trieNode{{rate: -1}}}
	copy(t.rates, rates)
	for i, r := range t.rates {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("rate %d: %w", i, err)
		}
		t.rates[i].Free = false
		n := int32(0)
		for j := 0; j < len(r.Prefix); j++ {
			s := symbol(r.Prefix[j])
			next := t.nodes[n].child[s]
			if next == 0 {
				next = int32(len(t.nodes))
				t.nodes = append(t.nodes, trieNode{rate: -1})
				t.nodes[n].child[s] = next
			}
			n = next
		}
		if prev := t.nodes[n].rate; prev >= 0 {
			return nil, fmt.Errorf("%w: %q (entries %d and %d)", ErrDuplicatePrefix, r.Prefix, prev, i)
		}
		t.nodes[n].rate = int32(i)
	}
	return t, nil
}

// TableFromWire builds a table from the rates of a MoneyPolicy.
func TableFromWire(m wire.MoneyPolicy) (*Table, error) {
	cur, err := NewCurrency(m.Currency, m.Digits)
	if err != nil {
		return nil, err
	}
	rates := make([]Rate, len(m.Rates))
	for i, w := range m.Rates {
		if rates[i], err = RateFromWire(w); err != nil {
			return nil, fmt.Errorf("rate %d: %w", i, err)
		}
	}
	return NewTable(cur, rates)
}

// Currency is the currency of every amount in the table.
func (t *Table) Currency() Currency { return t.currency }

// Rates returns a copy of the table's entries, in the order given.
func (t *Table) Rates() []Rate { return append([]Rate(nil), t.rates...) }

// Len is the number of entries.
func (t *Table) Len() int { return len(t.rates) }

// Match returns the entry with the longest prefix of number, after
// policy.NormalizeNumber (shared/policy/number). It reports false for an invalid number or when no
// prefix matches.
func (t *Table) Match(num string) (Rate, bool) {
	if t == nil {
		return Rate{}, false
	}
	if !number.IsNormalized(num) {
		num = number.Normalize(num)
		if num == "" {
			return Rate{}, false
		}
	}
	best := t.nodes[0].rate
	n := int32(0)
	for i := 0; i < len(num); i++ {
		n = t.nodes[n].child[symbol(num[i])]
		if n == 0 {
			break
		}
		if r := t.nodes[n].rate; r >= 0 {
			best = r
		}
	}
	if best < 0 {
		return Rate{}, false
	}
	return t.rates[best], true
}

// Price returns the rate a call to number is charged at. A free number
// (the contact's flag) gets a Free rate that costs nothing, carrying the
// matched entry's prefix and destination type when one matches (Custom
// otherwise). A number no entry matches is refused with ErrNoRate.
func (t *Table) Price(number string, free bool) (Rate, error) {
	r, ok := t.Match(number)
	if free {
		if !ok {
			r = Rate{DestinationType: Custom, BillingUnit: 1}
		}
		return Rate{Prefix: r.Prefix, DestinationType: r.DestinationType, Name: r.Name,
			BillingUnit: r.BillingUnit, Rounding: r.Rounding, Free: true}, nil
	}
	if !ok {
		return Rate{}, fmt.Errorf("%w: %q", ErrNoRate, number)
	}
	return r, nil
}
