package store

// The appliances' event streams, as the core's Store offers them: storing
// a batch, its projection and the chains are central/store/eventlog's,
// which the Store opens on its connections (openEventLog) and wraps here,
// so callers keep the Store's methods and the alarm codes.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/central/store/eventlog"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Codes of the alarms central raises itself about an appliance's stream
// (see central/store/eventlog).
const (
	AlarmEventInvalid   = eventlog.AlarmEventInvalid
	AlarmEventConflict  = eventlog.AlarmEventConflict
	AlarmChainBroken    = eventlog.AlarmChainBroken
	AlarmEventGap       = eventlog.AlarmEventGap
	AlarmPayload        = eventlog.AlarmPayload
	AlarmForeign        = eventlog.AlarmForeign
	AlarmChainRestarted = eventlog.AlarmChainRestarted
	AlarmBatchReplayed  = eventlog.AlarmBatchReplayed
	AlarmLedgerInvalid  = eventlog.AlarmLedgerInvalid
	AlarmLedgerConflict = eventlog.AlarmLedgerConflict
	AlarmForeignPerson  = eventlog.AlarmForeignPerson
	originCentral       = eventlog.OriginCentral
)

// openEventLog prepares the event log's statements on the writer and
// starts its projector, after projecting what a crash left behind.
func (s *Store) openEventLog(ctx context.Context) (err error) {
	s.ev, err = eventlog.Open(ctx, eventlog.Config{
		W: s.w, D: s.d, Log: s.log, Clock: s.clk, InTx: s.inTx, Closed: ErrClosed,
		SelfBlock: s.selfBlockTx,
		Currency: func(ctx context.Context, tx *sql.Tx) (ledger.Currency, error) {
			set, err := readMoneySettings(ctx, tx)
			return set.Cur(), err
		},
	})
	return err
}

// StoreEvents is StoreBatch for events without their batch (no replay
// detection): it returns the highest seq of their chain up to which every
// event of the chain is stored.
func (s *Store) StoreEvents(ctx context.Context, applianceID string, evs []wire.Event) (ackUpTo uint64, err error) {
	ack, err := s.StoreBatch(ctx, applianceID, &wire.Batch{ApplianceID: applianceID, Events: evs})
	return ack.UpTo, err
}

// StoreBatch upserts a batch's events on (appliance, chain, seq) (see
// eventlog/chains.go): a redelivered event is a no-op, never a second row or a
// second projection. It verifies each event's Hash and its PrevHash link
// to the stored neighbours (seq-1 and seq+1); invalid events and gaps are
// recorded as alarm rows (origin "central") for the console, and events
// that do not fit the chain central holds are refused with an alarm and
// reported in the Ack's Conflict; the good events of the batch are still
// stored. It returns the Ack to send: UpTo is the highest seq S of the
// batch's chain such that every event of the chain up to S is durably
// committed (synchronous=FULL), with central's Hash of event S; UpTo 0
// when nothing of the chain can be acknowledged yet.
//
// A batch of version 2 whose events central has all stored, at or below
// an Acked the appliance reported in an earlier batch, is a replay: it
// changes nothing and raises AlarmBatchReplayed once per batch.
//
// The events are projected into calls, card_taps, officer_actions, alarms
// and the appliance's status by a second transaction (see eventlog/project.go): when
// the backlog of unprojected events is small (live traffic: at most
// syncProjectMax events) StoreBatch runs it itself before returning, so a
// caller reads its projections at once; a larger backlog (an appliance
// draining its outbox) is left to the projector goroutine, and readers that
// need the projections call WaitProjected. A failed projection never undoes
// the acknowledgement: the events are stored and are projected later, at the
// latest when the store is next opened.
//
// An appliance not registered yet is created without a block.
func (s *Store) StoreBatch(ctx context.Context, applianceID string, batch *wire.Batch) (wire.Ack, error) {
	return s.ev.StoreBatch(ctx, applianceID, batch)
}

// WaitProjected returns once the stored event (applianceID, seq) and every
// event stored before it are projected into calls, card taps, officer
// actions, alarms and status. StoreEvents projects small batches before it
// returns, so live traffic needs no wait; a reader that must see the
// projections of a large batch right after StoreEvents calls this (it also
// makes the projector skip its wait for a quiet period). It returns
// ErrNotFound when the event is not stored, ErrClosed when the store is
// closed first, and ctx's error when ctx ends.
func (s *Store) WaitProjected(ctx context.Context, applianceID string, seq uint64) error {
	var rowid int64
	err := s.r.QueryRowContext(ctx, `SELECT rowid FROM events WHERE appliance_id = $1 AND seq = $2`, applianceID, int64(seq)).Scan(&rowid)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: event %s/%d", ErrNotFound, applianceID, seq)
	}
	if err != nil {
		return fmt.Errorf("store: wait for projection: %w", err)
	}
	return s.ev.WaitProjected(ctx, rowid)
}

// waitAllProjected waits until everything stored so far is projected.
func (s *Store) waitAllProjected(ctx context.Context) error {
	return s.ev.WaitAll(ctx)
}

// Alarm is an open or cleared alarm, raised by an appliance or by central
// about an appliance's event stream.
type Alarm struct {
	ID          string     `json:"id"`
	ApplianceID string     `json:"appliance_id"`
	Block       string     `json:"block,omitempty"` // the appliance's block
	Origin      string     `json:"origin"`          // "appliance" or "central"
	Seq         uint64     `json:"seq,omitempty"`
	Time        time.Time  `json:"time"`
	Code        string     `json:"code"`
	Source      string     `json:"source"`
	Message     string     `json:"message"`
	Cleared     *time.Time `json:"cleared,omitempty"`
}

// Alarms lists alarms, newest first (at most 1000); applianceID "" means
// all appliances. AlarmList takes more filters.
func (s *Store) Alarms(ctx context.Context, applianceID string, openOnly bool) ([]Alarm, error) {
	return s.AlarmList(ctx, AlarmFilter{ApplianceID: applianceID, Open: openOnly, Limit: 1000})
}

// StoredEvents reports how many events of the appliance are stored and the
// acknowledged prefix (for tests and the console).
func (s *Store) StoredEvents(ctx context.Context, applianceID string) (count int64, acked uint64, err error) {
	var a int64
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM events WHERE appliance_id = $1), acked_seq FROM appliances WHERE id = $1`, applianceID).Scan(&count, &a)
	a &= int64(eventlog.ChainSpan - 1) // the newest chain's own seq
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: appliance %s", ErrNotFound, applianceID)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: stored events: %w", err)
	}
	return count, uint64(a), nil
}

// ChainInfo describes one event chain of an appliance.
type ChainInfo struct {
	Epoch string `json:"epoch"`
	Index int64  `json:"index"`
	Start uint64 `json:"start"`
	Acked uint64 `json:"acked"`
}

// EventChains lists the appliance's event chains, oldest first.
func (s *Store) EventChains(ctx context.Context, applianceID string) ([]ChainInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT epoch, idx, start_seq, acked_seq FROM event_chains WHERE appliance_id = $1 ORDER BY idx`, applianceID)
	if err != nil {
		return nil, fmt.Errorf("store: event chains: %w", err)
	}
	defer rows.Close()
	var out []ChainInfo
	for rows.Next() {
		var c ChainInfo
		var start, acked int64
		if err := rows.Scan(&c.Epoch, &c.Index, &start, &acked); err != nil {
			return nil, fmt.Errorf("store: event chains: %w", err)
		}
		c.Start, c.Acked = uint64(start), uint64(acked)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: event chains: %w", err)
	}
	return out, nil
}
