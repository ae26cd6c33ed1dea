package eventlog

import (
	"maps"
	"sync"

	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// CallKind is what the metrics count call records by: the disposition and,
// for refusals, the reason. Both come from the appliances, so they are
// bounded here to the values the code knows ("other" for anything else): a
// hostile appliance cannot grow a label set.
type CallKind struct {
	Disposition string
	Reason      string
}

var knownDispositions = map[string]bool{
	wire.DispCompleted: true, wire.DispRefused: true, wire.DispBusy: true, wire.DispNoAnswer: true,
	wire.DispRejected: true, wire.DispFailed: true, wire.DispCancelled: true, wire.DispLimited: true,
	wire.DispEnded: true, wire.DispRestarted: true,
}

var knownReasons = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range []error{policy.ErrUnknownCard, policy.ErrNoTap, policy.ErrNotApproved, policy.ErrInactive,
		policy.ErrNoPolicy, policy.ErrInvalidNumber, policy.ErrUnknownTerminal, policy.ErrNotConfirmed,
		policy.ErrOfficerRefused, policy.ErrPanelUnavailable, policy.ErrOutsideSchedule, policy.ErrQuotaExceeded,
		policy.ErrInsufficientBalance, policy.ErrNumberBlocked, policy.ErrNoRate, policy.ErrBadPIN,
		policy.ErrPINLocked, policy.ErrStorageFull} {
		m[e.Error()] = true
	}
	return m
}()

// KindOf bounds a call record's disposition and reason to known values.
// The reason is kept for refusals only ("" otherwise).
func KindOf(disposition, reason string) CallKind {
	k := CallKind{Disposition: disposition}
	if !knownDispositions[disposition] {
		k.Disposition = "other"
	}
	if k.Disposition == wire.DispRefused {
		k.Reason = reason
		if !knownReasons[reason] {
			k.Reason = "other"
		}
	}
	return k
}

// callStats counts the call records projected since Open.
type callStats struct {
	mu     sync.Mutex
	counts map[CallKind]uint64
}

func (c *callStats) add(kinds []CallKind) {
	if len(kinds) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[CallKind]uint64{}
	}
	for _, k := range kinds {
		c.counts[k]++
	}
}

// CallsProjected returns how many call records were projected since Open,
// by kind (counted once their projection committed).
func (s *Log) CallsProjected() map[CallKind]uint64 {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return maps.Clone(s.calls.counts)
}

// Backlog is the number of events stored but not yet projected (by rowid:
// the console lags the event stream by this many events).
func (s *Log) Backlog() int64 { return max(s.proj.backlog(), 0) }
