// Package eventlog is the appliances' event streams in central's
// database: the event batch writer (StoreBatch: the events' hash chains,
// their acknowledgement, the alarms about the stream) and the projection of
// stored events into calls, card taps, officer actions, alarms, status,
// terminals, calls in progress and ledger entries, by a background
// projector with a persisted cursor.
//
// It is a lower layer of the core store (central/store), which opens it on
// its connections and wraps its methods (Store.StoreBatch,
// Store.WaitProjected, ...); it imports nothing of the core or its domain
// packages. What the projection needs of the core comes in through Config:
// the write transactions, the person's self-block and the prison's
// currency. Errors are the core's: sqldb.ErrInvalid is store.ErrInvalid,
// and Config.Closed is store.ErrClosed.
package eventlog

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/kinline/kinline/central/store/sqldb"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
)

// OriginCentral is the origin of the alarms central raises itself
// (alarms.origin; an appliance's own alarms have "appliance").
const OriginCentral = originCentral

// Config is what the event log needs of the core store.
type Config struct {
	W     *sql.DB // the writer: the statements are prepared on it
	D     *sqldb.Dialect
	Log   *slog.Logger
	Clock clock.Clock
	// InTx runs f in a serialized write transaction and commits it.
	InTx func(ctx context.Context, f func(tx *sql.Tx) error) error
	// SelfBlock marks, inside tx, the person's contact with number as
	// self-blocked (an EventNumberBlocked event), auditing it under actor.
	SelfBlock func(ctx context.Context, tx *sql.Tx, actor, personID, number, detail string) (string, bool, error)
	// Currency reads the prison's currency inside tx.
	Currency func(ctx context.Context, tx *sql.Tx) (ledger.Currency, error)
	// Closed is the error (wrapped) of waits that the closing ends.
	Closed error
}

// Log is the event log of one database. It is safe for concurrent use.
type Log struct {
	cfg  Config
	w    *sql.DB
	d    *sqldb.Dialect
	log  *slog.Logger
	clk  clock.Clock
	ev   eventStmts
	proj projector
	// calls counts the call records projected (stats.go).
	calls callStats
}

// Open prepares the event statements and starts the projector, after
// projecting what a crash left unprojected.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	s := &Log{cfg: cfg, w: cfg.W, d: cfg.D, log: cfg.Log, clk: cfg.Clock}
	if err := s.prepareEventStmts(ctx); err != nil {
		s.ev.close()
		return nil, err
	}
	if err := s.startProjector(ctx); err != nil {
		s.ev.close()
		return nil, err
	}
	return s, nil
}

// Close stops the projector (an unfinished projection rolls back) and
// closes the statements; waiters get Config.Closed.
func (s *Log) Close() {
	s.stopProjector()
	s.ev.close()
}

func (s *Log) inTx(ctx context.Context, f func(tx *sql.Tx) error) error { return s.cfg.InTx(ctx, f) }

// WaitAll waits until every event stored so far is projected.
func (s *Log) WaitAll(ctx context.Context) error {
	return s.waitProjected(ctx, s.proj.stored.Load())
}

// WaitProjected waits until every event up to rowid is projected; it
// returns Config.Closed (wrapped) when the log is closed first.
func (s *Log) WaitProjected(ctx context.Context, rowid int64) error {
	return s.waitProjected(ctx, rowid)
}

// ProjectThrough projects, in the caller's goroutine, until every event up
// to rowid upTo is projected (tests: the projector's retry waits on a fake
// clock).
func (s *Log) ProjectThrough(ctx context.Context, upTo int64) error {
	return s.projectThrough(ctx, upTo)
}

// Stored is the highest events rowid committed.
func (s *Log) Stored() int64 { return s.proj.stored.Load() }

// SetHook sets (nil: clears) a function run inside every projection
// transaction just before its commit; an error rolls the transaction
// back, as a crash would (tests).
func (s *Log) SetHook(h *func() error) { s.proj.hook.Store(h) }

// querier is what reads go through (the core's store.Querier).
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func ns(t time.Time) int64 { return t.UnixNano() }

func fromNS(v int64) time.Time { return time.Unix(0, v).UTC() }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errInvalid wraps err as the core's ErrInvalid.
func errInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sqldb.ErrInvalid}, args...)...)
}
