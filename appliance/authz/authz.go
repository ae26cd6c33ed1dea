// Package authz decides, on the appliance and from local state only, whether
// a call from a terminal may go ahead: it joins the card taps seen on each
// terminal's reader with the block's cached policy (shared/policy).
//
// A tap is valid for Window after it was read. An allowed call consumes the
// tap, so the next call on that terminal needs a new one; a refused call
// leaves it, so a person who misdialled can dial again.
//
// Where the person's rule asks for dual authorization, Check goes on to ask
// the block's officer through a Confirmer (the officer panel, adapted by the
// daemon) and refuses the call with policy.ErrNotConfirmed,
// policy.ErrOfficerRefused or policy.ErrPanelUnavailable when the officer
// does not confirm it.
package authz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// DefaultWindow is how long a card tap authorizes a call when Config.Window is 0.
const DefaultWindow = 60 * time.Second

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

	mu   sync.Mutex
	taps map[string]tap // terminal -> latest tap
}

type tap struct {
	uid string
	at  time.Time
}

// New returns an Authorizer with no policy (every decision is refused with
// policy.ErrNoPolicy until SetPolicy is called). window 0 means DefaultWindow.
func New(clk clock.Clock, window time.Duration) *Authorizer {
	if window <= 0 {
		window = DefaultWindow
	}
	a := &Authorizer{clk: clk, window: window, taps: map[string]tap{}}
	a.index.Store(policy.NewIndex(nil))
	return a
}

// SetPolicy replaces the policy used for decisions.
func (a *Authorizer) SetPolicy(p *wire.Policy) { a.index.Store(policy.NewIndex(p)) }

// PolicyVersion is the version of the policy in use (0 = none).
func (a *Authorizer) PolicyVersion() uint64 { return a.index.Load().Version() }

// Person returns the holder of a card in the current policy, or nil.
func (a *Authorizer) Person(uid string) *wire.Person { return a.index.Load().Card(uid) }

// Tap records a card read on a terminal's reader and reports whether the
// card is known to the current policy. Unknown cards are remembered too, so
// the refusal names the card rather than the missing tap.
func (a *Authorizer) Tap(terminal, uid string) (known bool) {
	uid = policy.NormalizeUID(uid)
	a.mu.Lock()
	a.taps[terminal] = tap{uid: uid, at: a.clk.Now()}
	a.mu.Unlock()
	return a.index.Load().Card(uid) != nil
}

// SetLockdown puts the block in lockdown (every call refused with
// policy.ErrLockdown, taps kept) or lifts it.
func (a *Authorizer) SetLockdown(on bool) { a.lockdown.Store(on) }

// Lockdown reports whether the block is in lockdown.
func (a *Authorizer) Lockdown() bool { return a.lockdown.Load() }

// Authorize decides whether terminal may call number now.
func (a *Authorizer) Authorize(terminal, number string) Result {
	now := a.clk.Now()
	a.mu.Lock()
	t, ok := a.taps[terminal]
	if ok && now.Sub(t.at) > a.window {
		delete(a.taps, terminal)
		ok = false
	}
	a.mu.Unlock()
	if a.lockdown.Load() {
		var p *wire.Person
		if ok {
			p = a.index.Load().Card(t.uid)
		}
		return refused(policy.ErrLockdown, p, t.uid)
	}
	if !ok {
		return refused(policy.ErrNoTap, nil, "")
	}
	d := a.index.Load().Decide(t.uid, number)
	if d.Err != nil {
		return refused(d.Err, d.Person, t.uid)
	}
	a.mu.Lock()
	if cur, still := a.taps[terminal]; still && cur == t {
		delete(a.taps, terminal)
	}
	a.mu.Unlock()
	return Result{
		Allowed:      true,
		PersonID:     d.Person.ID,
		PrisonNumber: d.Person.PrisonNumber,
		Language:     d.Person.Language,
		CardUID:      t.uid,
		Privileged:   d.Number.Privileged,
		Rule:         d.Rule,
	}
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
// window or ctx. Its errors wrap policy.ErrNotConfirmed (window ran out),
// policy.ErrOfficerRefused (cancel, or not an officer's card) or
// policy.ErrPanelUnavailable; anything else counts as the panel being
// unavailable. The daemon adapts *panel.Panel to it.
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

// Check decides a call completely: Authorize, then, where the person's rule
// requires it, the officer's confirmation through c (nil c refuses such
// calls with policy.ErrPanelUnavailable). The tap is consumed once Authorize
// allows the call, so a refused confirmation needs a new tap. If ctx ends
// while waiting, the result is refused with ctx's error as Err.
func (a *Authorizer) Check(ctx context.Context, req Request, c Confirmer) Result {
	res := a.Authorize(req.Terminal, req.Number)
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
