package trunks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy/number"
)

// Table is the trunks' live state: which are up, how many calls each
// carries. It is safe for concurrent use.
type Table struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	mu    sync.Mutex
	state map[string]*state
}

type state struct {
	t      Trunk
	down   bool
	fails  int // keep-alives failed in a row
	active int // calls holding a Lease
}

// Status is one trunk's state, for logs and tests.
type Status struct {
	Name   string
	Up     bool
	Active int // calls in progress (ringing or answered)
}

// New validates cfg (after WithDefaults) and returns its Table; every
// trunk starts up. A nil log discards.
func New(cfg Config, clk clock.Clock, log *slog.Logger) (*Table, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Table{cfg: cfg, clk: clk, log: log, state: map[string]*state{}}
	for _, tr := range cfg.Trunks {
		t.state[tr.Name] = &state{t: tr}
	}
	return t, nil
}

// Route returns the trunk names to try for a call to num whose rate has
// destination type destType ("" when the call is not rated), in priority
// order, whatever their state: Acquire says which can take the call.
// The number is matched normalized (a leading "00" as '+'), as rates are.
func (t *Table) Route(num, destType string) ([]string, error) {
	n := number.Normalize(num)
	if n == "" {
		n = num
	}
	r := pick(t.cfg.Routes, n, destType)
	if r == nil {
		return nil, fmt.Errorf("%w: %s (destination type %q)", ErrNoRoute, num, destType)
	}
	return r.Trunks, nil
}

// Lease is a call slot on a trunk, held from the INVITE until the call
// ends (or the attempt fails over). Release it exactly once; later
// Releases do nothing.
type Lease struct {
	t    *Table
	tr   Trunk
	once sync.Once
}

// Trunk is the leased trunk.
func (l *Lease) Trunk() Trunk { return l.tr }

// Release frees the slot.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.t.mu.Lock()
		if st := l.t.state[l.tr.Name]; st != nil && st.active > 0 {
			st.active--
		}
		l.t.mu.Unlock()
	})
}

// Acquire takes a call slot on the named trunk: ErrDown when its
// keep-alives say it is down, ErrFull when it carries MaxCalls calls.
func (t *Table) Acquire(name string) (*Lease, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state[name]
	switch {
	case st == nil:
		return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
	case st.down:
		return nil, fmt.Errorf("%w: %s", ErrDown, name)
	case st.t.MaxCalls > 0 && st.active >= st.t.MaxCalls:
		return nil, fmt.Errorf("%w: %s carries %d", ErrFull, name, st.active)
	}
	st.active++
	return &Lease{t: t, tr: st.t}, nil
}

// Available reports whether Acquire would succeed now.
func (t *Table) Available(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state[name]
	return st != nil && !st.down && (st.t.MaxCalls == 0 || st.active < st.t.MaxCalls)
}

// Status lists every trunk's state, in configuration order.
func (t *Table) Status() []Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Status, 0, len(t.cfg.Trunks))
	for _, tr := range t.cfg.Trunks {
		st := t.state[tr.Name]
		out = append(out, Status{Name: tr.Name, Up: !st.down, Active: st.active})
	}
	return out
}

// Pinger sends one keep-alive OPTIONS to a trunk and returns its answer's
// status code; ctx bounds the wait (Trunk.Timeout).
type Pinger interface {
	Ping(ctx context.Context, t Trunk) (status int, err error)
}

// PingerFunc adapts a function to Pinger.
type PingerFunc func(ctx context.Context, t Trunk) (int, error)

// Ping calls f.
func (f PingerFunc) Ping(ctx context.Context, t Trunk) (int, error) { return f(ctx, t) }

// KeepAlive sends OPTIONS to every trunk with a KeepAlive interval (at
// once, then every interval) until ctx is done, marking a trunk down
// after DownAfter failures in a row (no answer within Timeout, a transport
// error or a 5xx answer) and up again at the first other answer. It
// returns when ctx is done and every probe has stopped.
func (t *Table) KeepAlive(ctx context.Context, p Pinger) {
	var wg sync.WaitGroup
	for _, tr := range t.cfg.Trunks {
		if tr.KeepAlive <= 0 {
			continue
		}
		wg.Go(func() {
			for {
				t.probe(ctx, p, tr)
				select {
				case <-ctx.Done():
					return
				case <-t.clk.After(tr.KeepAlive):
				}
			}
		})
	}
	wg.Wait()
}

// probe sends one OPTIONS and records its outcome.
func (t *Table) probe(ctx context.Context, p Pinger, tr Trunk) {
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := t.clk.AfterFunc(tr.Timeout, func() { cancel(fmt.Errorf("no answer within %v", tr.Timeout)) })
	code, err := p.Ping(pctx, tr)
	timer.Stop()
	if ctx.Err() != nil {
		return // shutting down: say nothing about the trunk
	}
	if err != nil && pctx.Err() != nil {
		err = fmt.Errorf("%w: %w", err, context.Cause(pctx))
	}
	ok := err == nil && !Failover(code)
	t.record(tr, ok, code, err)
}

// record applies one keep-alive outcome to the trunk's state.
func (t *Table) record(tr Trunk, ok bool, code int, err error) {
	t.mu.Lock()
	st := t.state[tr.Name]
	wasDown := st.down
	if ok {
		st.fails, st.down = 0, false
	} else {
		st.fails++
		if st.fails >= tr.DownAfter {
			st.down = true
		}
	}
	down, fails := st.down, st.fails
	t.mu.Unlock()
	switch {
	case wasDown && !down:
		t.log.Info("trunk up: keep-alive answered", "trunk", tr.Name, "status", code)
	case !wasDown && down:
		t.log.Warn("trunk down: keep-alives unanswered", "trunk", tr.Name, "failures", fails, "status", code, "err", err)
	case !ok && !down:
		t.log.Info("trunk keep-alive failed", "trunk", tr.Name, "failures", fails, "status", code, "err", err)
	case !ok:
		t.log.Debug("trunk still down", "trunk", tr.Name, "failures", fails, "status", code, "err", err)
	}
}
