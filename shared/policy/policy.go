// Package policy evaluates a block's policy: who a card belongs to and
// whether that person may call a number now. Index.Check runs every check
// in a fixed order (card, status, number, the prison-wide blocked list,
// approval, calling windows, quotas, money) and returns the first refusal,
// or the call's attributes (privileged, free, hidden), its rate and its
// maximum duration with what limits it. Numbers listed exactly as
// privileged or free on the prison-wide list may be called without being
// on the person's own list; '*' prefixes only add attributes.
//
// It is pure (the caller passes the time and the appliance's own calls and
// debits) and allocation-light so the appliance can decide a card tap in
// well under a millisecond, and central can explain the same decision in
// the console. Anything in a policy that cannot be used (a malformed
// window, an unknown time zone, a bad rate) refuses the calls it governs:
// it fails closed.
package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/policy/number"
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
	// window ran out without one (cards that are not an officer's, tapped
	// on the officer reader meanwhile, are ignored).
	ErrNotConfirmed = errors.New("officer did not confirm")
	// ErrOfficerRefused: the officer pressed the cancel button while the
	// call waited. Nothing else refuses a call in the officer's name.
	ErrOfficerRefused = errors.New("officer refused")
	// ErrPanelUnavailable: the call needs an officer's confirmation but the
	// officer panel is missing, closed or has too many calls waiting.
	ErrPanelUnavailable = errors.New("officer panel unavailable")
	// ErrOutsideSchedule: now is outside the block's, the rule's or the
	// person's calling windows.
	ErrOutsideSchedule = errors.New("outside calling hours")
	// ErrQuotaExceeded: the person has made all the calls their rule (or
	// their own limit, which replaces the rule's) allows this day, week or
	// month.
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
	// ErrStorageFull: the appliance's recording storage is full, so a call
	// that must be recorded cannot be placed (docs/decisions/0006-disk-full.md).
	ErrStorageFull = errors.New("recording storage full")
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
// or no digit. (It is number.Normalize, shared with shared/ledger.)
func NormalizeNumber(s string) string { return number.Normalize(s) }

// NormalizeUID upper-cases a card UID given as hex.
func NormalizeUID(uid string) string { return strings.ToUpper(strings.TrimSpace(uid)) }

// Index is a policy prepared for fast lookups: cards, approved numbers,
// rules, calling windows (parsed once), the prison-wide number list, the
// rate table and each account's money and recent calls. It is immutable
// once built; replace it whole when a new policy arrives.
type Index struct {
	Policy  *wire.Policy
	byCard  map[string]*wire.Person
	byID    map[string]*wire.Person
	numbers map[*wire.Person]map[string]*wire.ApprovedNumber
	rules   map[string]*wire.CallRule // by level
	// loc is Policy.TimeZone; zoneErr is set when it does not load, and
	// then every call is refused (windows and quota periods cannot be
	// placed in time): fail closed.
	loc     *time.Location
	zoneErr error
	block   windowSet            // Policy.Windows
	ruleWin map[string]windowSet // by level
	ownWin  map[*wire.Person]windowSet
	list    numberList
	// money is nil when calls are not rated.
	money *moneyIndex
}

type moneyIndex struct {
	table    *ledger.Table // nil when tableErr is set
	tableErr error
	currency ledger.Currency
	accounts map[string]*wire.AccountMoney
	recent   map[string][]ledger.Call
}

// NewIndex builds the lookup tables for p. A nil p gives an empty index whose
// decisions are all ErrNoPolicy. Nothing in p makes it fail: a part that
// cannot be used (a bad window, time zone or rate) refuses the calls it
// governs when they are decided.
func NewIndex(p *wire.Policy) *Index {
	ix := &Index{Policy: p, byCard: map[string]*wire.Person{}, byID: map[string]*wire.Person{},
		numbers: map[*wire.Person]map[string]*wire.ApprovedNumber{}, rules: map[string]*wire.CallRule{},
		loc: time.UTC, ruleWin: map[string]windowSet{}, ownWin: map[*wire.Person]windowSet{}}
	if p == nil {
		return ix
	}
	if p.TimeZone != "" {
		loc, err := time.LoadLocation(p.TimeZone)
		if err != nil {
			ix.zoneErr = fmt.Errorf("time zone %q: %v", p.TimeZone, err)
		} else {
			ix.loc = loc
		}
	}
	ix.block = parseWindows(p.Windows)
	for i := range p.Rules {
		r := &p.Rules[i]
		if _, dup := ix.rules[r.Level]; !dup { // the first rule of a level wins
			ix.rules[r.Level] = r
			ix.ruleWin[r.Level] = parseWindows(r.Windows)
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
		if len(person.Windows) > 0 {
			ix.ownWin[person] = parseWindows(person.Windows)
		}
	}
	ix.list = newNumberList(p.Numbers)
	if m := p.Money; m != nil {
		mi := &moneyIndex{accounts: make(map[string]*wire.AccountMoney, len(m.Accounts)),
			recent: make(map[string][]ledger.Call, len(m.Accounts))}
		mi.table, mi.tableErr = ledger.TableFromWire(*m)
		if mi.table != nil {
			mi.currency = mi.table.Currency()
		} else {
			mi.currency = ledger.Currency{Code: m.Currency, Digits: m.Digits}
		}
		for i := range m.Accounts {
			a := &m.Accounts[i]
			if _, dup := mi.accounts[a.Account]; dup {
				continue // the first entry of an account wins
			}
			mi.accounts[a.Account] = a
			mi.recent[a.Account] = ledger.CallsFromStamps(a.RecentCalls)
		}
		ix.money = mi
	}
	return ix
}

// Location is the time zone windows and quota periods count in.
func (ix *Index) Location() *time.Location {
	if ix == nil || ix.loc == nil {
		return time.UTC
	}
	return ix.loc
}

// Rated reports whether calls under this policy are charged, and in which
// currency.
func (ix *Index) Rated() (ledger.Currency, bool) {
	if ix == nil || ix.money == nil {
		return ledger.Currency{}, false
	}
	return ix.money.currency, true
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

// Own is this appliance's own activity that its policy does not include
// yet (events after wire.MoneyPolicy.IncludedSeq): the debits of its calls
// and the calls themselves, per account (person id). The appliance's store
// keeps them; a nil Own means none.
type Own interface {
	// Debits is the sum of the account's own debits not in the policy
	// (<= 0).
	Debits(account string) ledger.Money
	// Calls are the account's own answered calls not in the policy.
	Calls(account string) []ledger.Call
}

// Request is one call to decide.
type Request struct {
	UID    string // the card tapped
	Number string // as dialled
	Now    time.Time
	Own    Own
}

// Decision is the outcome of an authorization.
type Decision struct {
	Person *wire.Person
	// Number is the person's approved entry dialled; nil when the call is
	// allowed as a prison-wide privileged or free number the person has
	// not got on their list.
	Number *wire.ApprovedNumber
	Err    error // nil when allowed; one of the Err* reasons otherwise (possibly wrapped)
	// Rule is the person's rule when the call is allowed: whether it must
	// still be confirmed by an officer.
	Rule Rule
	// Privileged (never recorded or monitored), Free (not charged) and
	// Hidden (record hidden from ordinary roles) come from the approved
	// entry or the prison-wide number list.
	Privileged, Free, Hidden bool
	// Rated is true when the policy carries money: Rate prices the call
	// (a Free rate for free numbers), in Currency; Usable is the balance
	// the decision was made on.
	Rated    bool
	Rate     ledger.Rate
	Currency ledger.Currency
	Usable   ledger.Money
	// MaxDuration is the longest the call may last: the least of the
	// rule's (or person's) maximum, what the balance pays for at the rate,
	// and the time to the end of the calling window; LimitedBy names which
	// (wire.LimitRule, LimitBalance, LimitWindow). 0 and "" when none of
	// them limits the call (call control's default applies).
	MaxDuration time.Duration
	LimitedBy   string
	// WindowEnd is when the calling window the call starts in ends (zero
	// when no window applies), so a decision that waits (for an officer)
	// can shorten MaxDuration by the wait.
	WindowEnd time.Time
	// Quota and Usage are the person's limits and calls this period
	// (checked only when a limit is set).
	Quota ledger.Quota
	Usage ledger.Usage
}

// Allowed reports whether the call may proceed.
func (d Decision) Allowed() bool { return d.Err == nil }

// Decide says whether the holder of card uid may call number now, by the
// wall clock and with no calls or debits of an appliance's own. The
// appliance decides with Check.
func (ix *Index) Decide(uid, number string) Decision {
	return ix.Check(Request{UID: uid, Number: number, Now: time.Now()})
}

// Check decides a call. The checks run in this order, and the first that
// fails is the reason: card, person status, number validity, the
// prison-wide blocked list, approval, calling windows (block; the
// person's own or else their rule's), quotas, money.
func (ix *Index) Check(r Request) Decision {
	if ix == nil || ix.Policy == nil {
		return Decision{Err: ErrNoPolicy}
	}
	p := ix.byCard[NormalizeUID(r.UID)]
	if p == nil {
		return Decision{Err: ErrUnknownCard}
	}
	d := Decision{Person: p}
	if p.Status != wire.StatusActive || p.Officer {
		d.Err = ErrInactive
		return d
	}
	n := NormalizeNumber(r.Number)
	if n == "" {
		d.Err = ErrInvalidNumber
		return d
	}
	flags, exact := ix.list.lookup(n)
	if flags&numBlocked != 0 {
		d.Err = ErrNumberBlocked
		return d
	}
	d.Number = ix.numbers[p][n]
	if d.Number == nil && exact&(numPrivileged|numFree) == 0 {
		d.Err = ErrNotApproved
		return d
	}
	if d.Number != nil {
		d.Privileged, d.Free, d.Hidden = d.Number.Privileged, d.Number.Free, d.Number.Hidden
	}
	d.Privileged = d.Privileged || flags&numPrivileged != 0
	d.Free = d.Free || flags&numFree != 0
	d.Hidden = d.Hidden || flags&numHidden != 0

	// Schedule.
	if ix.zoneErr != nil {
		d.Err = fmt.Errorf("%w: %v", ErrOutsideSchedule, ix.zoneErr)
		return d
	}
	windowEnd, err := ix.windowEnd(p, r.Now)
	if err != nil {
		d.Err = err
		return d
	}

	// Quotas.
	d.Quota = ix.quota(p)
	if d.Quota != (ledger.Quota{}) {
		d.Usage = ix.usage(p.ID, r.Now, r.Own)
		if err := d.Quota.Check(d.Usage); err != nil {
			d.Err = reasonErr{ErrQuotaExceeded, err}
			return d
		}
	}

	// Money.
	allowance := ledger.Unlimited
	if m := ix.money; m != nil {
		d.Rated, d.Currency = true, m.currency
		d.Usable = ix.usable(p.ID, r.Own)
		if d.Free {
			d.Rate = ledger.Rate{DestinationType: ledger.Custom, BillingUnit: 1, Free: true}
			if m.table != nil {
				d.Rate, _ = m.table.Price(n, true)
			}
		} else {
			if m.table == nil {
				d.Err = fmt.Errorf("%w: rates unusable: %v", ErrNoRate, m.tableErr)
				return d
			}
			rate, err := m.table.Price(n, false)
			if err != nil {
				d.Err = fmt.Errorf("%w: %s", ErrNoRate, n)
				return d
			}
			d.Rate = rate
			if allowance, err = rate.Allowance(d.Usable); err != nil {
				d.Err = reasonErr{ErrInsufficientBalance, err}
				return d
			}
		}
	}

	// Maximum duration.
	limit := func(dur time.Duration, by string) {
		if dur > 0 && (d.MaxDuration == 0 || dur < d.MaxDuration) {
			d.MaxDuration, d.LimitedBy = dur, by
		}
	}
	limit(ix.maxDuration(p), wire.LimitRule)
	if allowance != ledger.Unlimited {
		limit(allowance, wire.LimitBalance)
	}
	if !windowEnd.IsZero() {
		d.WindowEnd = windowEnd
		limit(windowEnd.Sub(r.Now), wire.LimitWindow)
	}
	d.Rule = ix.RuleFor(p)
	return d
}

// callRule is the CallRule in force for p (nil: none).
func (ix *Index) callRule(p *wire.Person) (*wire.CallRule, string) {
	if cr := ix.rules[p.SupervisionLevel]; cr != nil {
		return cr, p.SupervisionLevel
	}
	return ix.rules[""], ""
}

// maxDuration is p's own maximum or else their rule's (0: none).
func (ix *Index) maxDuration(p *wire.Person) time.Duration {
	if p.MaxDurationSeconds > 0 {
		return time.Duration(p.MaxDurationSeconds) * time.Second
	}
	if cr, _ := ix.callRule(p); cr != nil && cr.MaxDurationSeconds > 0 {
		return time.Duration(cr.MaxDurationSeconds) * time.Second
	}
	return 0
}

// windowEnd checks now against the block's windows and p's own (or else
// their rule's) and returns when the span that contains now ends (zero
// when no window applies).
func (ix *Index) windowEnd(p *wire.Person, now time.Time) (time.Time, error) {
	end, err := ix.block.cover(now, ix.loc, "block")
	if err != nil {
		return time.Time{}, err
	}
	ws, ok := ix.ownWin[p]
	what := "person"
	if !ok {
		_, level := ix.callRule(p)
		ws, what = ix.ruleWin[level], "rule"
	}
	e2, err := ws.cover(now, ix.loc, what)
	if err != nil {
		return time.Time{}, err
	}
	if end.IsZero() || !e2.IsZero() && e2.Before(end) {
		end = e2
	}
	return end, nil
}

// quota is p's call limits: per period, their own limit (Person.CallsPer*
// above 0) or else their rule's, and then the tighter of that and their
// account's (0 on all: no limit).
func (ix *Index) quota(p *wire.Person) ledger.Quota {
	var q ledger.Quota
	if cr, _ := ix.callRule(p); cr != nil {
		q = ledger.Quota{PerDay: cr.CallsPerDay, PerWeek: cr.CallsPerWeek, PerMonth: cr.CallsPerMonth}
	}
	own := func(limit *int, n int) {
		if n > 0 {
			*limit = n
		}
	}
	own(&q.PerDay, p.CallsPerDay)
	own(&q.PerWeek, p.CallsPerWeek)
	own(&q.PerMonth, p.CallsPerMonth)
	if ix.money != nil {
		if a := ix.money.accounts[p.ID]; a != nil {
			aq := ledger.QuotaFromWire(*a)
			q.PerDay, q.PerWeek, q.PerMonth = tighter(q.PerDay, aq.PerDay), tighter(q.PerWeek, aq.PerWeek), tighter(q.PerMonth, aq.PerMonth)
		}
	}
	return q
}

func tighter(a, b int) int {
	if a <= 0 || b > 0 && b < a {
		return max(b, 0)
	}
	return a
}

// usage counts the account's calls known to the policy plus own's.
func (ix *Index) usage(account string, now time.Time, own Own) ledger.Usage {
	var calls []ledger.Call
	if ix.money != nil {
		calls = ix.money.recent[account]
	}
	if own != nil {
		if oc := own.Calls(account); len(oc) > 0 {
			calls = append(append(make([]ledger.Call, 0, len(calls)+len(oc)), calls...), oc...)
		}
	}
	return ledger.UsageAt(calls, now, ix.loc)
}

// usable is the account's balance in the policy plus own's debits (0 for
// an account the policy does not carry).
func (ix *Index) usable(account string, own Own) ledger.Money {
	var bal ledger.Money
	if a := ix.money.accounts[account]; a != nil {
		bal = ledger.Money(a.Balance)
	}
	var debits ledger.Money
	if own != nil {
		debits = own.Debits(account)
	}
	return ledger.Usable(bal, nil, []ledger.Entry{{Amount: debits}})
}

// AccountState is what a person has left: the usable balance (when
// rated) and the calls this period against their limits.
type AccountState struct {
	Rated    bool
	Currency ledger.Currency
	Usable   ledger.Money
	Quota    ledger.Quota
	Usage    ledger.Usage
}

// CallsLeft returns the calls left today, this week and this month; -1
// means no limit.
func (s AccountState) CallsLeft() (day, week, month int) {
	left := func(limit, used int) int {
		if limit <= 0 {
			return -1
		}
		return max(limit-used, 0)
	}
	return left(s.Quota.PerDay, s.Usage.Day), left(s.Quota.PerWeek, s.Usage.Week), left(s.Quota.PerMonth, s.Usage.Month)
}

// Account returns the money and quota state of the person with id at now;
// false when the person is not in the policy.
func (ix *Index) Account(personID string, now time.Time, own Own) (AccountState, bool) {
	if ix == nil || ix.Policy == nil {
		return AccountState{}, false
	}
	p := ix.byID[personID]
	if p == nil {
		return AccountState{}, false
	}
	s := AccountState{Quota: ix.quota(p), Usage: ix.usage(p.ID, now, own)}
	if ix.money != nil {
		s.Rated, s.Currency, s.Usable = true, ix.money.currency, ix.usable(p.ID, own)
	}
	return s, true
}

// reasonErr is a refusal whose text is a lower layer's detailed error
// (e.g. ledger's "call quota used up: calls today (2 of 2)") and which
// matches both the policy sentinel and that error with errors.Is.
type reasonErr struct{ sentinel, detail error }

func (e reasonErr) Error() string   { return e.detail.Error() }
func (e reasonErr) Unwrap() []error { return []error{e.sentinel, e.detail} }
