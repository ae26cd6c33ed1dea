package store

import (
	"context"
	"fmt"

	"github.com/kinline/kinline/central/store/eventlog"
)

// CallKind is a call record's disposition and, for refusals, its reason,
// bounded to the values the code knows (eventlog.KindOf).
type CallKind = eventlog.CallKind

// CallsProjected returns the call records projected since Open, by kind:
// what central's metrics count as call records ingested.
func (s *Store) CallsProjected() map[CallKind]uint64 { return s.ev.CallsProjected() }

// ProjectionBacklog is the number of events stored (and acknowledged) but
// not yet projected into calls, taps and the rest the console reads.
func (s *Store) ProjectionBacklog() int64 { return s.ev.Backlog() }

// Ping checks that the database answers a query (central's readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// SetProjectionHook sets (nil: clears) a function run inside every
// projection transaction before its commit; an error rolls the projection
// back as a crash would. For tests that need a projection backlog.
func (s *Store) SetProjectionHook(h *func() error) { s.ev.SetHook(h) }
