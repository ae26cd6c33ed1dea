// Package authz decides, on the appliance and from local state only, whether
// a call from a terminal may go ahead: it joins the card taps seen on each
// terminal's reader with the block's cached policy (shared/policy).
//
// A tap is valid for Window after it was read. An allowed call consumes the
// tap, so the next call on that terminal needs a new one; a refused call
// leaves it, so a person who misdialled can dial again.
package authz

import (
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
}

// Authorizer holds the current policy and the latest tap per terminal.
// It is safe for concurrent use.
type Authorizer struct {
	clk    clock.Clock
	window time.Duration
	index  atomic.Pointer[policy.Index]

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
	}
}

func refused(err error, p *wire.Person, uid string) Result {
	r := Result{Reason: err.Error(), Err: err, CardUID: uid}
	if p != nil {
		r.PersonID, r.PrisonNumber, r.Language = p.ID, p.PrisonNumber, p.Language
	}
	return r
}
