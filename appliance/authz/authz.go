// Package authz decides, on the appliance and from local state only, whether
// a call from a terminal may go ahead: it joins the card taps seen on each
// terminal's reader with the block's cached policy (shared/policy).
//
// A tap serves one call attempt (one INVITE from the terminal's port),
// whatever its outcome: it is valid for Window after it was read, until
// the first call that uses it is decided (allowed or refused), and no
// longer than that call (EndCall, when the handset goes on hook). The
// first call to use a tap (Caller, VerifyPIN, Authorize or Check with its
// call id) holds it: another call on the terminal, even one that starts
// before the first has ended, finds no tap. So a person who taps and walks
// away after a refused, abandoned or finished call leaves nothing behind
// for the next person to call on. A tap no call has used (a card read
// after a call's decision, say) lives for Window, as a tap with no call
// after it does (docs/decisions/0014-one-tap-one-call.md).
//
// Where the person's rule asks for dual authorization, Check goes on to ask
// the block's officer through a Confirmer (the officer panel, adapted by the
// daemon) and refuses the call with policy.ErrNotConfirmed,
// policy.ErrOfficerRefused or policy.ErrPanelUnavailable when the officer
// does not confirm it.
//
// Decisions include the block's and the person's calling windows, call
// quotas and money (shared/policy.Index.Check): the appliance's own calls
// and debits that the policy does not include yet come from an OwnSource
// (the store). A person with a PIN must enter it at the hotline IVR
// (VerifyPIN) before a call on that tap is allowed; three wrong PINs lock
// the card for PINLockout.
package authz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// DefaultWindow is how long a card tap authorizes a call when Config.Window is 0.
const DefaultWindow = 60 * time.Second

// PIN lock-out: MaxPINFailures wrong PINs in a row lock the card for
// PINLockout.
const (
	MaxPINFailures = 3
	PINLockout     = 5 * time.Minute
)

// ErrLocalState: the appliance's own ledger could not be read, so money
// and quotas cannot be checked; the call is refused.
var ErrLocalState = errors.New("authz: local ledger unreadable")

// OwnSource gives the appliance's own calls and debits that a policy with
// Money.IncludedSeq = includedSeq does not include (in currency; "" for
// all). The daemon adapts the store's Own to it.
type OwnSource func(includedSeq uint64, currency string) (policy.Own, error)

// Result is the outcome of Authorize.
type Result struct {
	Allowed      bool
	Reason       string // refusal reason, empty when allowed
	Err          error  // the policy.Err* sentinel behind Reason
	PersonID     string
	PrisonNumber string
	Language     string
	CardUID      string
	Privileged   bool // never record, never monitor
	// Free calls are not charged; Hidden calls' records are shown only to
	// investigators and system admins.
	Free, Hidden bool
	// MaxDuration limits the call (0: call control's default) and
	// LimitedBy says what set it (wire.LimitRule, LimitBalance,
	// LimitWindow).
	MaxDuration time.Duration
	LimitedBy   string
	// WindowEnd is when the calling window ends (zero: no window).
	WindowEnd time.Time
	// Rated calls are priced at Rate in Currency when they end.
	Rated    bool
	Rate     ledger.Rate
	Currency ledger.Currency
	// Rule is the person's calling rule (set when allowed by Authorize):
	// Rule.Confirm says whether Check must still ask an officer.
	Rule policy.Rule
	// OfficerID and ConfirmMethod say who confirmed the call and how
	// (set by Check when an officer confirmed it).
	OfficerID     string
	ConfirmMethod string
}

// Authorizer holds the current policy and the latest tap per terminal.
// It is safe for concurrent use.
type Authorizer struct {
	clk    clock.Clock
	window time.Duration
	index  atomic.Pointer[policy.Index]
	// lockdown refuses every call with policy.ErrLockdown.
	lockdown atomic.Bool

	own atomic.Pointer[OwnSource]

	mu      sync.Mutex
	taps    map[string]tap        // terminal -> latest tap
	fails   map[string]pinFailure // card uid -> wrong PINs
	tapSeqs uint64                // numbers the taps, so each is told apart
}

type tap struct {
	seq uint64 // unique per tap read
	uid string
	at  time.Time
	// pinOK: the holder's PIN was verified for this tap (VerifyPIN).
	pinOK bool
	// call is the call attempt that has used this tap ("" while none
	// has): no other call may use it.
	call string
}

// pinFailure counts a card's wrong PINs in a row; locked until until.
type pinFailure struct {
	count int
	until time.Time
}

// New returns an Authorizer with no policy (every decision is refused with
// policy.ErrNoPolicy until SetPolicy is called). window 0 means DefaultWindow.
func New(clk clock.Clock, window time.Duration) *Authorizer {
	if window <= 0 {
		window = DefaultWindow
	}
	a := &Authorizer{clk: clk, window: window, taps: map[string]tap{}, fails: map[string]pinFailure{}}
	a.index.Store(policy.NewIndex(nil))
	return a
}

// SetOwn sets where the appliance's own calls and debits come from (nil:
// none, as for a fresh appliance).
func (a *Authorizer) SetOwn(src OwnSource) {
	if src == nil {
		a.own.Store(nil)
		return
	}
	a.own.Store(&src)
}

// SetPolicy replaces the policy used for decisions.
func (a *Authorizer) SetPolicy(p *wire.Policy) { a.index.Store(policy.NewIndex(p)) }

// PolicyVersion is the version of the policy in use (0 = none).
func (a *Authorizer) PolicyVersion() uint64 { return a.index.Load().Version() }

// Person returns the holder of a card in the current policy, or nil.
func (a *Authorizer) Person(uid string) *wire.Person { return a.index.Load().Card(uid) }

// Tap records a card read on a terminal's reader and reports whether the
// card is known to the current policy. Unknown cards are remembered too, so
// the refusal names the card rather than the missing tap. It replaces the
// terminal's earlier tap, if any: a new tap is used by no call yet.
func (a *Authorizer) Tap(terminal, uid string) (known bool) {
	uid = policy.NormalizeUID(uid)
	a.mu.Lock()
	a.tapSeqs++
	a.taps[terminal] = tap{seq: a.tapSeqs, uid: uid, at: a.clk.Now()}
	a.mu.Unlock()
	return a.index.Load().Card(uid) != nil
}

// EndCall drops the tap call callID holds on terminal, if any, once the
// call has ended (the handset on hook, or the call over, whatever its
// outcome): no other call may use it. Call control reports every call's
// end (the daemon calls this from callctl.Deps.OnCallEnd).
func (a *Authorizer) EndCall(terminal, callID string) {
	if callID == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.taps[terminal]; ok && t.call == callID {
		delete(a.taps, terminal)
	}
}

// SetLockdown puts the block in lockdown (every call refused with
// policy.ErrLockdown) or lifts it.
func (a *Authorizer) SetLockdown(on bool) { a.lockdown.Store(on) }

// Lockdown reports whether the block is in lockdown.
func (a *Authorizer) Lockdown() bool { return a.lockdown.Load() }

// useTap returns terminal's tap for call callID if it is still inside the
// window (dropping an expired one) and no other call has used it; a
// callID that is not "" then holds it. With callID "" the tap is used by
// no call in particular: only an unheld tap is returned.
func (a *Authorizer) useTap(terminal, callID string, now time.Time) (tap, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.taps[terminal]
	if ok && now.Sub(t.at) > a.window {
		delete(a.taps, terminal)
		return tap{}, false
	}
	if !ok || (t.call != "" && t.call != callID) {
		return tap{}, false
	}
	if callID != "" && t.call == "" {
		t.call = callID
		a.taps[terminal] = t
	}
	return t, true
}

// consume drops tap t from terminal, unless another tap has replaced it.
func (a *Authorizer) consume(terminal string, t tap) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.taps[terminal]; ok && cur.seq == t.seq {
		delete(a.taps, terminal)
	}
}

// pinLocked reports whether card uid is locked out at now.
func (a *Authorizer) pinLocked(uid string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.fails[uid]
	return ok && now.Before(f.until)
}

// ownFor returns the own activity the index's policy does not include.
func (a *Authorizer) ownFor(ix *policy.Index) (policy.Own, error) {
	src := a.own.Load()
	if src == nil {
		return nil, nil
	}
	var seq uint64
	cur := ""
	if ix.Policy != nil && ix.Policy.Money != nil {
		seq, cur = ix.Policy.Money.IncludedSeq, ix.Policy.Money.Currency
	}
	o, err := (*src)(seq, cur)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLocalState, err)
	}
	return o, nil
}

// Authorize decides whether terminal may call number now, for a call
// attempt with no call id (Check passes its own). The tap it decides on is
// consumed whatever the decision: the next attempt needs a new one.
func (a *Authorizer) Authorize(terminal, number string) Result {
	return a.authorize(terminal, "", number)
}

// authorize is Authorize for call callID: the tap must be unheld or held
// by callID.
func (a *Authorizer) authorize(terminal, callID, number string) Result {
	now := a.clk.Now()
	t, ok := a.useTap(terminal, callID, now)
	if ok {
		defer a.consume(terminal, t)
	}
	ix := a.index.Load()
	if a.lockdown.Load() {
		var p *wire.Person
		if ok {
			p = ix.Card(t.uid)
		}
		return refused(policy.ErrLockdown, p, t.uid)
	}
	if !ok {
		return refused(policy.ErrNoTap, nil, "")
	}
	if p := ix.Card(t.uid); p != nil && a.pinLocked(t.uid, now) {
		return refused(policy.ErrPINLocked, p, t.uid)
	}
	own, err := a.ownFor(ix)
	if err != nil {
		return refused(err, ix.Card(t.uid), t.uid)
	}
	d := ix.Check(policy.Request{UID: t.uid, Number: number, Now: now, Own: own})
	if d.Err != nil {
		return refused(d.Err, d.Person, t.uid)
	}
	if d.Person.PINHash != "" && !t.pinOK {
		return refused(fmt.Errorf("%w: the PIN was not entered for this tap", policy.ErrBadPIN), d.Person, t.uid)
	}
	return Result{
		Allowed:      true,
		PersonID:     d.Person.ID,
		PrisonNumber: d.Person.PrisonNumber,
		Language:     d.Person.Language,
		CardUID:      t.uid,
		Privileged:   d.Privileged,
		Free:         d.Free,
		Hidden:       d.Hidden,
		MaxDuration:  d.MaxDuration,
		LimitedBy:    d.LimitedBy,
		WindowEnd:    d.WindowEnd,
		Rated:        d.Rated,
		Rate:         d.Rate,
		Currency:     d.Currency,
		Rule:         d.Rule,
	}
}

// Caller is the person behind a terminal's valid card tap.
type Caller struct {
	PersonID string
	Name     string
	Language string
	// NeedsPIN: the person has a PIN set, and it is not yet verified for
	// this tap.
	NeedsPIN bool
}

// Caller returns who holds the valid tap on terminal, for call callID
// (which then holds the tap, see useTap): false when there is none, another
// call holds it, or its card is not in the policy.
func (a *Authorizer) Caller(terminal, callID string) (Caller, bool) {
	t, ok := a.useTap(terminal, callID, a.clk.Now())
	if !ok {
		return Caller{}, false
	}
	p := a.index.Load().Card(t.uid)
	if p == nil {
		return Caller{}, false
	}
	return Caller{PersonID: p.ID, Name: p.Name, Language: p.Language, NeedsPIN: p.PINHash != "" && !t.pinOK}, true
}

// VerifyPIN checks pin for the holder of terminal's valid tap, for call
// callID (which then holds the tap, see useTap), in constant time
// (argon2id, shared/pin). A person without a PIN needs none (nil).
// A right PIN marks the tap verified and renews it (the caller still has
// the tap window to dial); MaxPINFailures wrong ones in a row lock the
// card for PINLockout. A wrong PIN leaves the tap to the same call, for
// another try. Errors wrap policy.ErrNoTap (also for a card not in the
// policy, or a tap another call holds), policy.ErrBadPIN or
// policy.ErrPINLocked.
func (a *Authorizer) VerifyPIN(terminal, callID, entered string) error {
	now := a.clk.Now()
	t, ok := a.useTap(terminal, callID, now)
	if !ok {
		return policy.ErrNoTap
	}
	p := a.index.Load().Card(t.uid)
	if p == nil {
		return fmt.Errorf("%w: %w", policy.ErrNoTap, policy.ErrUnknownCard)
	}
	if a.pinLocked(t.uid, now) {
		return policy.ErrPINLocked
	}
	if p.PINHash == "" {
		return nil
	}
	match, err := pin.Verify(p.PINHash, entered)
	if err != nil {
		// The policy's hash is unusable: refuse, without counting it
		// against the person.
		return fmt.Errorf("%w: %w", policy.ErrBadPIN, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !match {
		f := a.fails[t.uid]
		if !now.Before(f.until) && !f.until.IsZero() {
			f = pinFailure{} // a lock-out that ended starts a new count
		}
		f.count++
		if f.count >= MaxPINFailures {
			f = pinFailure{until: now.Add(PINLockout)}
			a.fails[t.uid] = f
			return fmt.Errorf("%w: %d wrong PINs, card locked for %v", policy.ErrPINLocked, MaxPINFailures, PINLockout)
		}
		a.fails[t.uid] = f
		return policy.ErrBadPIN
	}
	delete(a.fails, t.uid)
	if cur, still := a.taps[terminal]; still && cur.seq == t.seq {
		cur.pinOK, cur.at = true, now
		a.taps[terminal] = cur
	}
	return nil
}

// Account returns the person's usable balance and calls this period now.
func (a *Authorizer) Account(personID string) (policy.AccountState, error) {
	ix := a.index.Load()
	own, err := a.ownFor(ix)
	if err != nil {
		return policy.AccountState{}, err
	}
	s, ok := ix.Account(personID, a.clk.Now(), own)
	if !ok {
		return policy.AccountState{}, fmt.Errorf("%w: person %q", policy.ErrUnknownCard, personID)
	}
	return s, nil
}

// ConfirmRequest asks the block's officer to confirm one call.
type ConfirmRequest struct {
	CallID   string
	Terminal string
	PersonID string
	Number   string
	// Mode is wire.ConfirmButton, ConfirmCard or ConfirmBoth.
	Mode   string
	Window time.Duration
}

// Confirmation says who confirmed a call and how ("button", "card" or
// "button+card"). OfficerID is empty when the button alone confirmed it.
type Confirmation struct {
	OfficerID string
	Method    string
}

// Confirmer asks an officer to confirm a call and waits for the answer, the
// window or ctx. Its errors wrap policy.ErrNotConfirmed (window ran out
// with no officer's confirmation), policy.ErrOfficerRefused (the officer's
// cancel button) or policy.ErrPanelUnavailable; anything else counts as
// the panel being unavailable. A card that is not an officer's never ends
// the wait. The daemon adapts *panel.Panel to it.
type Confirmer interface {
	ConfirmCall(ctx context.Context, r ConfirmRequest) (Confirmation, error)
}

// Request is one call to decide with Check.
type Request struct {
	CallID   string
	Terminal string
	Number   string
	// Waiting, if not nil, is called once before Check waits for an
	// officer, so call control can let the caller hear that it waits.
	Waiting func()
}

// Check decides a call completely: Authorize (for req.CallID), then, where
// the person's rule requires it, the officer's confirmation through c (nil
// c refuses such calls with policy.ErrPanelUnavailable). The tap is
// consumed by the decision, before any wait for the officer, so a refused,
// timed-out or abandoned confirmation needs a new tap. If ctx ends while
// waiting, the result is refused with ctx's error as Err.
func (a *Authorizer) Check(ctx context.Context, req Request, c Confirmer) Result {
	res := a.authorize(req.Terminal, req.CallID, req.Number)
	if !res.Allowed || !res.Rule.NeedsConfirmation() {
		return res
	}
	if c == nil {
		return res.refuse(policy.ErrPanelUnavailable)
	}
	if req.Waiting != nil {
		req.Waiting()
	}
	conf, err := c.ConfirmCall(ctx, ConfirmRequest{
		CallID: req.CallID, Terminal: req.Terminal, PersonID: res.PersonID, Number: req.Number,
		Mode: res.Rule.Confirm, Window: res.Rule.Window,
	})
	switch {
	case err == nil:
		res.OfficerID, res.ConfirmMethod = conf.OfficerID, conf.Method
		// The wait for the officer used some of the calling window.
		if !res.WindowEnd.IsZero() {
			left := res.WindowEnd.Sub(a.clk.Now())
			if left <= 0 {
				return res.refuse(fmt.Errorf("%w: the window closed while the officer confirmed", policy.ErrOutsideSchedule))
			}
			if res.MaxDuration == 0 || left < res.MaxDuration {
				res.MaxDuration, res.LimitedBy = left, wire.LimitWindow
			}
		}
		return res
	case errors.Is(err, policy.ErrNotConfirmed):
		return res.refuse(policy.ErrNotConfirmed)
	case errors.Is(err, policy.ErrOfficerRefused):
		return res.refuse(policy.ErrOfficerRefused)
	case ctx.Err() != nil:
		return res.refuse(ctx.Err())
	}
	return res.refuse(fmt.Errorf("%w: %w", policy.ErrPanelUnavailable, err))
}

// refuse turns an allowed result into a refusal for err, keeping who called.
func (r Result) refuse(err error) Result {
	r.Allowed, r.Err, r.Reason = false, err, err.Error()
	if errors.Is(err, policy.ErrPanelUnavailable) {
		r.Reason = policy.ErrPanelUnavailable.Error()
	}
	return r
}

// RuleFor returns the rule in force for the person with id in the current
// policy, and whether the person is in it.
func (a *Authorizer) RuleFor(personID string) (policy.Rule, bool) {
	ix := a.index.Load()
	p := ix.PersonByID(personID)
	if p == nil {
		return policy.Rule{}, false
	}
	return ix.RuleFor(p), true
}

func refused(err error, p *wire.Person, uid string) Result {
	r := Result{Reason: err.Error(), Err: err, CardUID: uid}
	if p != nil {
		r.PersonID, r.PrisonNumber, r.Language = p.ID, p.PrisonNumber, p.Language
	}
	return r
}
