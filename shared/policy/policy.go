// Package policy evaluates a block's policy: who a card belongs to and
// whether that person may call a number. It is pure and allocation-light so
// the appliance can decide a card tap in well under a millisecond, and
// central can explain the same decision in the console.
package policy

import (
	"errors"
	"strings"

	"github.com/kinline/kinline/shared/wire"
)

// Refusal reasons. Each is spoken to the caller and logged; the text is the
// SIP reason phrase of the 403 the appliance sends.
var (
	ErrUnknownCard     = errors.New("unknown card")
	ErrNoTap           = errors.New("no card tapped")
	ErrNotApproved     = errors.New("number not approved")
	ErrInactive        = errors.New("person not active")
	ErrNoPolicy        = errors.New("no policy loaded")
	ErrInvalidNumber   = errors.New("invalid number")
	ErrUnknownTerminal = errors.New("unknown terminal")
)

// NormalizeNumber reduces a dialled or entered number to its digits, keeping
// a leading '+' (or turning a leading "00" into '+'). Spaces, dashes, dots and
// parentheses are dropped. It returns "" when the number holds anything else
// or no digit.
func NormalizeNumber(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '+' && b.Len() == 0 && i == strings.IndexByte(s, '+'):
			b.WriteByte('+')
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	if strings.Trim(out, "+") == "" || len(out) > 32 {
		return ""
	}
	return out
}

// NormalizeUID upper-cases a card UID given as hex.
func NormalizeUID(uid string) string { return strings.ToUpper(strings.TrimSpace(uid)) }

// Index is a policy prepared for fast lookups. It is immutable once built;
// replace it whole when a new policy arrives.
type Index struct {
	Policy  *wire.Policy
	byCard  map[string]*wire.Person
	numbers map[*wire.Person]map[string]*wire.ApprovedNumber
}

// NewIndex builds the lookup tables for p. A nil p gives an empty index whose
// decisions are all ErrNoPolicy.
func NewIndex(p *wire.Policy) *Index {
	ix := &Index{Policy: p, byCard: map[string]*wire.Person{}, numbers: map[*wire.Person]map[string]*wire.ApprovedNumber{}}
	if p == nil {
		return ix
	}
	for i := range p.People {
		person := &p.People[i]
		for _, c := range person.Cards {
			ix.byCard[NormalizeUID(c)] = person
		}
		nums := make(map[string]*wire.ApprovedNumber, len(person.Numbers))
		for j := range person.Numbers {
			n := &person.Numbers[j]
			nums[NormalizeNumber(n.Number)] = n
		}
		ix.numbers[person] = nums
	}
	return ix
}

// Version is the policy version, 0 when none is loaded.
func (ix *Index) Version() uint64 {
	if ix == nil || ix.Policy == nil {
		return 0
	}
	return ix.Policy.Version
}

// Card returns the person holding the card uid, or nil.
func (ix *Index) Card(uid string) *wire.Person { return ix.byCard[NormalizeUID(uid)] }

// Decision is the outcome of an authorization.
type Decision struct {
	Person *wire.Person
	Number *wire.ApprovedNumber // the approved entry dialled, when allowed
	Err    error                // nil when allowed; one of the Err* reasons otherwise
}

// Allowed reports whether the call may proceed.
func (d Decision) Allowed() bool { return d.Err == nil }

// Decide says whether the holder of card uid may call number.
func (ix *Index) Decide(uid, number string) Decision {
	if ix == nil || ix.Policy == nil {
		return Decision{Err: ErrNoPolicy}
	}
	p := ix.byCard[NormalizeUID(uid)]
	if p == nil {
		return Decision{Err: ErrUnknownCard}
	}
	if p.Status != wire.StatusActive || p.Officer {
		return Decision{Person: p, Err: ErrInactive}
	}
	n := NormalizeNumber(number)
	if n == "" {
		return Decision{Person: p, Err: ErrInvalidNumber}
	}
	a := ix.numbers[p][n]
	if a == nil {
		return Decision{Person: p, Err: ErrNotApproved}
	}
	return Decision{Person: p, Number: a}
}
