package eventlog

// Projection of stored events.
//
// StoreEvents commits the events themselves (and the acknowledged prefix) in
// one synchronous=FULL transaction, and only that is what central
// acknowledges. What the events mean for the console (calls, card taps,
// officer actions, appliance alarms, appliance status) is written by a
// second kind of transaction, the projection, which reads the events back
// from the events table in arrival order (rowid: events are never deleted,
// so rowids only grow) and in the same transaction advances
//
//   - counters.projected_rowid: every event with a rowid up to it is
//     projected (the global cursor, where the next projection starts), and
//   - appliances.projected_rowid / projected_seq: per appliance, the rowid
//     of its newest projected event (a row at or below it is never projected
//     again) and the highest seq projected.
//
// Because the projection rows and the cursors commit together, a crash
// between StoreEvents and the projection, or in the middle of a projection,
// loses nothing and doubles nothing: the next projection (at the latest the
// catch-up in Open) starts after the last committed cursor. Arrival order
// rather than seq order is what lets events stored beyond a gap, or out of
// order, be projected at once (a per-appliance "highest seq" cursor could
// not say which events below it are still unprojected).
//
// Who projects:
//   - StoreEvents itself, right after its commit, when the backlog is at
//     most SyncProjectMax events (live traffic), so its caller reads the
//     projections immediately;
//   - otherwise the projector goroutine (started by Open, stopped by Close),
//     which gives acknowledgements priority: it waits for a quiet period
//     with no StoreEvents commit before projecting, unless the backlog
//     reaches BacklogHigh or someone waits in WaitProjected. It projects up
//     to ProjectChunk events per transaction.
//   - Open, which catches up on whatever a crash left unprojected before it
//     returns.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

const (
	// SyncProjectMax is the largest backlog StoreEvents projects itself
	// before returning.
	SyncProjectMax = 256
	// ProjectChunk bounds the events projected in one transaction (and so
	// how long an acknowledgement may wait behind a projection).
	ProjectChunk = 2000
	// BacklogHigh is the backlog at which the projector stops deferring to
	// ingest; it bounds how far the console lags behind a long burst.
	BacklogHigh = 100_000
	// quietPeriod is how long ingest must pause before the projector runs
	// while the backlog is below BacklogHigh.
	quietPeriod = 20 * time.Millisecond
	// projectRetry is the pause after a failed projection transaction.
	projectRetry = time.Second
)

// projector is the Store's projection state.
type projector struct {
	stored    atomic.Int64  // highest events rowid committed
	projected atomic.Int64  // mirror of counters.projected_rowid
	ingests   atomic.Uint64 // StoreEvents commits, to detect a quiet period
	waiters   atomic.Int32  // goroutines in waitProjected
	wake      chan struct{} // capacity 1: work may be pending

	mu      sync.Mutex
	changed chan struct{} // closed when projected advances or the projector stops
	stopped bool

	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once

	// hook, when set (tests), runs inside every projection transaction just
	// before its commit; an error rolls the transaction back, as a crash
	// would.
	hook atomic.Pointer[func() error]
}

func maxInt64(v *atomic.Int64, to int64) {
	for {
		cur := v.Load()
		if to <= cur || v.CompareAndSwap(cur, to) {
			return
		}
	}
}

func (p *projector) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *projector) backlog() int64 { return p.stored.Load() - p.projected.Load() }

func (p *projector) advance(to int64) {
	maxInt64(&p.projected, to)
	p.mu.Lock()
	if !p.stopped {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
}

// startProjector loads the cursors, projects what a crash left behind and
// starts the projector goroutine.
func (s *Log) startProjector(ctx context.Context) error {
	p := &s.proj
	p.wake = make(chan struct{}, 1)
	p.changed = make(chan struct{})
	var stored, cur int64
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM events`).Scan(&stored); err != nil {
		return fmt.Errorf("store: read events rowid: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'projected_rowid'`).Scan(&cur); err != nil {
		return fmt.Errorf("store: read projection cursor: %w", err)
	}
	p.stored.Store(stored)
	p.projected.Store(cur)
	if stored > cur {
		start := time.Now()
		total := 0
		for p.backlog() > 0 {
			n, err := s.projectChunk(ctx, ProjectChunk)
			if err != nil {
				return fmt.Errorf("store: catch up projection: %w", err)
			}
			if n == 0 {
				break
			}
			total += n
		}
		s.log.Info("store: projected events left from the last run", "events", total, "took", time.Since(start))
	}
	pctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go s.runProjector(pctx)
	return nil
}

// stopProjector stops the goroutine (an unfinished projection transaction
// rolls back) and releases WaitProjected callers with ErrClosed.
func (s *Log) stopProjector() {
	p := &s.proj
	p.stopOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
		p.mu.Lock()
		if !p.stopped && p.changed != nil {
			p.stopped = true
			close(p.changed)
		}
		p.mu.Unlock()
	})
}

// afterStore runs after StoreEvents committed events up to rowid upTo.
func (s *Log) afterStore(ctx context.Context, upTo int64) {
	p := &s.proj
	maxInt64(&p.stored, upTo)
	if p.backlog() <= SyncProjectMax {
		err := s.projectThrough(ctx, upTo)
		if err == nil {
			return
		}
		s.log.Warn("store: projection left to the projector", "err", err)
	}
	p.signal()
}

// projectThrough projects until every event up to rowid upTo is projected.
func (s *Log) projectThrough(ctx context.Context, upTo int64) error {
	for s.proj.projected.Load() < upTo {
		n, err := s.projectChunk(ctx, ProjectChunk)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}

func (s *Log) runProjector(ctx context.Context) {
	p := &s.proj
	defer close(p.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		for p.backlog() > 0 {
			if p.waiters.Load() == 0 && p.backlog() < BacklogHigh {
				gen := p.ingests.Load()
				if !s.sleep(ctx, quietPeriod, p.wake) {
					return
				}
				if p.ingests.Load() != gen && p.waiters.Load() == 0 && p.backlog() < BacklogHigh {
					continue // ingest is still busy: let it have the writer
				}
			}
			if _, err := s.projectChunk(ctx, ProjectChunk); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Error("store: projection failed, retrying", "err", err, "backlog", p.backlog())
				if !s.sleep(ctx, projectRetry, nil) {
					return
				}
			}
		}
	}
}

// sleep waits d on the store's clock; it returns false when ctx ends and
// true when the time passed or wake fired.
func (s *Log) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	fired := make(chan struct{})
	t := s.clk.AfterFunc(d, func() { close(fired) })
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-fired:
	case <-wake:
	}
	return true
}

type storedEvent struct {
	rowid int64
	ev    wire.Event
	// copy: the event repeats one of an earlier chain (events.copy_of,
	// chains.go), which was projected: it is passed over.
	copy bool
}

type applianceProjection struct {
	b          *eventBatch
	rowid, seq int64
	touched    bool
}

// projectChunk projects up to limit events after the cursor in one
// transaction and reports how many it read.
func (s *Log) projectChunk(ctx context.Context, limit int) (int, error) {
	var n int
	var upTo int64
	var calls []CallKind
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		calls = calls[:0] // a retried transaction counts again from nothing
		var cur int64
		if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'projected_rowid'`).Scan(&cur); err != nil {
			return fmt.Errorf("store: read projection cursor: %w", err)
		}
		upTo = cur
		evs, err := readEventsAfter(ctx, tx, cur, limit)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		now := ns(s.clk.Now())
		apps := map[string]*applianceProjection{}
		for i := range evs {
			e := &evs[i]
			a := apps[e.ev.ApplianceID]
			if a == nil {
				var block sql.NullString
				a = &applianceProjection{}
				if err := tx.QueryRowContext(ctx, `SELECT block, projected_rowid, projected_seq FROM appliances WHERE id = $1`, e.ev.ApplianceID).
					Scan(&block, &a.rowid, &a.seq); err != nil {
					return fmt.Errorf("store: read appliance %s: %w", e.ev.ApplianceID, err)
				}
				a.b = newEventBatch(ctx, s, tx, e.ev.ApplianceID, block.String, now)
				apps[e.ev.ApplianceID] = a
			}
			if e.rowid <= a.rowid {
				continue // projected already
			}
			if !e.copy {
				if err := a.b.projectEvent(&e.ev); err != nil {
					return err
				}
			}
			a.rowid, a.seq, a.touched = e.rowid, max(a.seq, int64(e.ev.Seq)), true
		}
		ids := make([]string, 0, len(apps))
		for id := range apps {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			a := apps[id]
			if err := a.b.flushProjections(); err != nil {
				return err
			}
			calls = append(calls, a.b.calls...)
			if !a.touched {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE appliances SET projected_rowid = $2, projected_seq = $3 WHERE id = $1`, id, a.rowid, a.seq); err != nil {
				return fmt.Errorf("store: advance projection cursor of %s: %w", id, err)
			}
		}
		upTo = evs[len(evs)-1].rowid
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = $1 WHERE name = 'projected_rowid'`, upTo); err != nil {
			return fmt.Errorf("store: advance projection cursor: %w", err)
		}
		if h := s.proj.hook.Load(); h != nil {
			if err := (*h)(); err != nil {
				return err
			}
		}
		n = len(evs)
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.calls.add(calls)
	s.proj.advance(upTo)
	return n, nil
}

func readEventsAfter(ctx context.Context, tx *sql.Tx, after int64, limit int) ([]storedEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, appliance_id, seq, type, time_ns, payload, copy_of FROM events
		WHERE rowid > $1 ORDER BY rowid LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read events to project: %w", err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var e storedEvent
		var seq, t, copyOf int64
		var typ, payload string
		if err := rows.Scan(&e.rowid, &e.ev.ApplianceID, &seq, &typ, &t, &payload, &copyOf); err != nil {
			return nil, fmt.Errorf("store: read events to project: %w", err)
		}
		e.ev.Seq, e.ev.Type, e.ev.Time, e.ev.Payload = uint64(seq), wire.EventType(typ), fromNS(t), []byte(payload)
		e.copy = copyOf != 0
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read events to project: %w", err)
	}
	return out, nil
}

func (s *Log) waitProjected(ctx context.Context, rowid int64) error {
	p := &s.proj
	if p.projected.Load() >= rowid {
		return nil
	}
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	p.signal()
	for {
		p.mu.Lock()
		ch, stopped := p.changed, p.stopped
		p.mu.Unlock()
		if p.projected.Load() >= rowid {
			return nil
		}
		if stopped {
			return fmt.Errorf("%w: waiting for projection", s.cfg.Closed)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: wait for projection: %w", ctx.Err())
		case <-ch:
		}
	}
}
