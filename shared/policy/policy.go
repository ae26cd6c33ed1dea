// Package policy evaluates a block's policy: who a card belongs to and
// whether that person may call a number. It is pure and allocation-light so
// the appliance can decide a card tap in well under a millisecond, and
// central can explain the same decision in the console.
package policy

import (
	"errors"
	"strings"
	"time"

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
	// ErrNotConfirmed: the call needed an officer's confirmation and the
	// window ran out.
	ErrNotConfirmed = errors.New("officer did not confirm")
	// ErrOfficerRefused: the officer pressed cancel, or a card that is not
	// an officer's was tapped on the panel, while the call waited.
	ErrOfficerRefused = errors.New("officer refused")
	// ErrPanelUnavailable: the call needs an officer's confirmation but the
	// officer panel is missing, closed or has too many calls waiting.
	ErrPanelUnavailable = errors.New("officer panel unavailable")
	// ErrOutsideSchedule: now is outside the block's, the rule's or the
	// person's calling windows.
	ErrOutsideSchedule = errors.New("outside calling hours")
	// ErrQuotaExceeded: the person has made all the calls their rule allows
	// this day, week or month.
	ErrQuotaExceeded = errors.New("call quota used up")
	// ErrInsufficientBalance: the usable balance does not pay for the
	// connection fee and one billing unit at the destination's rate.
	ErrInsufficientBalance = errors.New("insufficient balance")
	// ErrNumberBlocked: the number is on the prison-wide blocked list, or
	// its owner asked not to be called by this person.
	ErrNumberBlocked = errors.New("number blocked")
	// ErrNoRate: calls are rated and no rate matches the number.
	ErrNoRate = errors.New("no rate for this number")
	// ErrBadPIN: the PIN entered at the hotline IVR is wrong.
	ErrBadPIN = errors.New("wrong PIN")
	// ErrPINLocked: too many wrong PINs; the card is refused until the
	// lock-out ends.
	ErrPINLocked = errors.New("PIN locked")
)

// DefaultConfirmWindow is the confirmation window of a rule that sets none.
const DefaultConfirmWindow = 60 * time.Second

// ValidConfirm reports whether s is a confirmation mode central may publish
// (wire.ConfirmInherit, ConfirmNone, ConfirmButton, ConfirmCard, ConfirmBoth).
func ValidConfirm(s string) bool {
	switch s {
	case wire.ConfirmInherit, wire.ConfirmNone, wire.ConfirmButton, wire.ConfirmCard, wire.ConfirmBoth:
		return true
	}
	return false
}

// Rule is the calling rule in force for one person: whether an officer must
// confirm each call and how, within what window, and whether an officer's
// idle card tap on the panel ends the person's calls.
type Rule struct {
	// Confirm is "" (no confirmation), wire.ConfirmButton, ConfirmCard or
	// ConfirmBoth.
	Confirm         string
	Window          time.Duration
	EndOnOfficerTap bool
}

// NeedsConfirmation reports whether calls under r wait for an officer.
func (r Rule) NeedsConfirmation() bool { return r.Confirm != "" }

// effectiveConfirm turns a published mode into one the appliance acts on.
// A mode this code does not know (from a newer central) fails closed: the
// strictest, ConfirmBoth.
func effectiveConfirm(s string) string {
	switch s {
	case wire.ConfirmInherit, wire.ConfirmNone:
		return ""
	case wire.ConfirmButton, wire.ConfirmCard, wire.ConfirmBoth:
		return s
	}
	return wire.ConfirmBoth
}

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
	byID    map[string]*wire.Person
	numbers map[*wire.Person]map[string]*wire.ApprovedNumber
	rules   map[string]*wire.CallRule // by level
}

// NewIndex builds the lookup tables for p. A nil p gives an empty index whose
// decisions are all ErrNoPolicy.
func NewIndex(p *wire.Policy) *Index {
	ix := &Index{Policy: p, byCard: map[string]*wire.Person{}, byID: map[string]*wire.Person{},
		numbers: map[*wire.Person]map[string]*wire.ApprovedNumber{}, rules: map[string]*wire.CallRule{}}
	if p == nil {
		return ix
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if _, dup := ix.rules[r.Level]; !dup { // the first rule of a level wins
			ix.rules[r.Level] = r
		}
	}
	for i := range p.People {
		person := &p.People[i]
		ix.byID[person.ID] = person
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

// PersonByID returns the person with id in the policy, or nil.
func (ix *Index) PersonByID(id string) *wire.Person { return ix.byID[id] }

// RuleFor returns the rule in force for p: the rule of p's supervision
// level (or the block's default rule, Level ""), with p's own Confirm and
// ConfirmWindowSeconds overriding it. A nil p gets the zero Rule.
func (ix *Index) RuleFor(p *wire.Person) Rule {
	if ix == nil || p == nil {
		return Rule{}
	}
	var r Rule
	window := 0
	cr := ix.rules[p.SupervisionLevel]
	if cr == nil {
		cr = ix.rules[""]
	}
	if cr != nil {
		r.Confirm = effectiveConfirm(cr.Confirm)
		r.EndOnOfficerTap = cr.OfficerTapEndsCall
		window = cr.ConfirmWindowSeconds
	}
	if p.Confirm != wire.ConfirmInherit {
		r.Confirm = effectiveConfirm(p.Confirm)
	}
	if p.ConfirmWindowSeconds > 0 {
		window = p.ConfirmWindowSeconds
	}
	r.Window = DefaultConfirmWindow
	if window > 0 {
		r.Window = time.Duration(window) * time.Second
	}
	return r
}

// Decision is the outcome of an authorization.
type Decision struct {
	Person *wire.Person
	Number *wire.ApprovedNumber // the approved entry dialled, when allowed
	Err    error                // nil when allowed; one of the Err* reasons otherwise
	// Rule is the person's rule when the call is allowed: whether it must
	// still be confirmed by an officer.
	Rule Rule
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
	return Decision{Person: p, Number: a, Rule: ix.RuleFor(p)}
}
