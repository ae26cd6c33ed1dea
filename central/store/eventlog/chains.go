package eventlog

// Event chains (table event_chains, migration 14).
//
// An appliance's events form a hash chain (wire.Event). A chain starts
// again when the appliance's data directory is new (a replacement
// provisioned under the same id) or was put back from a backup: the
// appliance then writes a new epoch (wire.Event.Epoch) into its events, and
// its first event of the new chain has no prev_hash. Central keeps every
// chain of an appliance apart: chain idx (0 for the first chain central saw
// of the appliance, then 1, 2, ... in the order new epochs arrive, each
// signed with the appliance's event key in force, which ingest has checked)
// stores its event seq under events.seq = idx<<chainBits | seq. The first
// chain thus keeps its numbers, and projections keyed by (appliance, seq)
// (card taps, officer actions, alarms, ledger entries) stay unique.
//
// Each chain has its own start (the seq of its event without prev_hash:
// 1 for epoch "", whose appliances predate epochs), acknowledged prefix,
// gap and the highest wire.Batch.Acked the appliance reported for it
// (confirmed: events at or below it, sent again, are a replay). A new chain
// other than the appliance's first raises AlarmChainRestarted once.
//
// An event that does not fit the chain central holds (another event under
// its seq, a prev_hash that does not link to the stored neighbour, a second
// first event) is not stored: its lowest seq is returned in the Ack as
// Conflict, so that an appliance put back from a backup, whose new events
// reuse seqs central already holds, learns it and starts a new chain with
// them (appliance/store.Restart). When such a new chain carries events
// that central already holds in an earlier chain of the appliance under
// the same seq (the same type, time and payload: the backup's
// unacknowledged events), they are stored as copies (events.copy_of) and
// not projected again, so nothing is counted twice.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Alarm codes of chains.
const (
	// AlarmChainRestarted: an appliance started a new event chain.
	AlarmChainRestarted = "event_chain_restarted"
	// AlarmBatchReplayed: a batch whose events central had stored and the
	// appliance had reported acknowledged arrived again.
	AlarmBatchReplayed = "batch_replayed"
)

const (
	// chainBits is the width of an event's own seq inside events.seq.
	chainBits = 40
	// ChainSpan bounds an event's own seq (exclusive); events.seq is
	// the chain's index << chainBits | the event's own seq.
	ChainSpan = uint64(1) << chainBits
)

// eventChain is one event chain of an appliance, as read (and changed)
// inside a StoreBatch transaction.
type eventChain struct {
	epoch     string
	idx       int64
	start     uint64 // seq of the first event, 0 while unknown
	acked     uint64
	gapFrom   uint64
	confirmed uint64
	created   bool // this transaction created it
	prevAcked uint64
	prevIdx   int64 // the newest chain before this one was created (-1: none)
}

func (c *eventChain) base() uint64 { return uint64(c.idx) << chainBits }

// openChain reads the appliance's chain of epoch, creating it when new.
func openChain(ctx context.Context, tx *sql.Tx, app, epoch string, now int64) (*eventChain, error) {
	c := &eventChain{epoch: epoch, prevIdx: -1}
	var start, acked, gap, conf int64
	err := tx.QueryRowContext(ctx, `SELECT idx, start_seq, acked_seq, gap_from, confirmed_seq FROM event_chains
		WHERE appliance_id = $1 AND epoch = $2`, app, epoch).Scan(&c.idx, &start, &acked, &gap, &conf)
	switch {
	case err == nil:
		c.start, c.acked, c.gapFrom, c.confirmed = uint64(start), uint64(acked), uint64(gap), uint64(conf)
		return c, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("store: read event chain: %w", err)
	}
	var maxIdx sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(idx) FROM event_chains WHERE appliance_id = $1`, app).Scan(&maxIdx); err != nil {
		return nil, fmt.Errorf("store: read event chains: %w", err)
	}
	c.created = true
	if maxIdx.Valid {
		c.idx, c.prevIdx = maxIdx.Int64+1, maxIdx.Int64
		var prev int64
		if err := tx.QueryRowContext(ctx, `SELECT acked_seq FROM event_chains WHERE appliance_id = $1 AND idx = $2`, app, maxIdx.Int64).Scan(&prev); err != nil {
			return nil, fmt.Errorf("store: read event chain: %w", err)
		}
		c.prevAcked = uint64(prev)
	}
	if epoch == "" {
		c.start = 1 // appliances from before epochs start at 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_chains (appliance_id, epoch, idx, start_seq, created_ns) VALUES ($1, $2, $3, $4, $5)`,
		app, epoch, c.idx, int64(c.start), now); err != nil {
		return nil, fmt.Errorf("store: add event chain: %w", err)
	}
	return c, nil
}

// save writes the chain's state back, and its acknowledged seq (as
// events.seq) into appliances.acked_seq, which the console and the
// policy's IncludedSeq read: the chain of the appliance's latest batch is
// the one it writes (a replaced or restored box does not go back to its
// old chain).
func (c *eventChain) save(ctx context.Context, tx *sql.Tx, app string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE event_chains SET start_seq = $3, acked_seq = $4, gap_from = $5, confirmed_seq = $6
		WHERE appliance_id = $1 AND epoch = $2`, app, c.epoch, int64(c.start), int64(c.acked), int64(c.gapFrom), int64(c.confirmed)); err != nil {
		return fmt.Errorf("store: update event chain: %w", err)
	}
	acked := c.base() + c.acked
	if c.acked == 0 && c.start > 1 {
		acked = c.base() + c.start - 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE appliances SET acked_seq = $2 WHERE id = $1`, app, int64(acked)); err != nil {
		return fmt.Errorf("store: update ack: %w", err)
	}
	return nil
}

// src names an event of the batch's chain in alarms.
func (b *eventBatch) src(seq uint64) string {
	if b.chain == nil || b.chain.epoch == "" {
		return fmt.Sprintf("seq %d", seq)
	}
	return fmt.Sprintf("epoch %s seq %d", b.chain.epoch, seq)
}

// conflictAt notes that the event seq of the batch does not fit central's
// chain.
func (b *eventBatch) conflictAt(seq uint64) {
	if b.conflict == 0 || seq < b.conflict {
		b.conflict = seq
	}
}

// copyOf returns the events.seq of the same event (type, time and payload)
// under the same seq in an earlier chain of the appliance, 0 if none.
func (b *eventBatch) copyOf(typ string, seq uint64, timeNS int64, payload string) (uint64, error) {
	for k := int64(0); k < b.chain.idx; k++ {
		g := uint64(k)<<chainBits | seq
		var n int
		err := b.tx.QueryRowContext(b.ctx, `SELECT COUNT(*) FROM events WHERE appliance_id = $1 AND seq = $2 AND type = $3 AND time_ns = $4 AND payload = $5`,
			b.app, int64(g), typ, timeNS, payload).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("store: look for an earlier copy: %w", err)
		}
		if n > 0 {
			return g, nil
		}
	}
	return 0, nil
}

// markCopies flags the batch's copies (StoreBatch's transaction, after
// flushEvents).
func (b *eventBatch) markCopies() error {
	for seq, of := range b.copies {
		if _, err := b.tx.ExecContext(b.ctx, `UPDATE events SET copy_of = $3 WHERE appliance_id = $1 AND seq = $2`, b.app, int64(b.chain.base()+seq), int64(of)); err != nil {
			return fmt.Errorf("store: mark copy: %w", err)
		}
	}
	b.copies = nil
	return nil
}

// hashAt returns the stored hash of the chain's event seq.
func (b *eventBatch) hashAt(seq uint64) (string, error) {
	if l, ok := b.known[seq]; ok {
		return l.hash, nil
	}
	var h string
	err := b.tx.QueryRowContext(b.ctx, `SELECT hash FROM events WHERE appliance_id = $1 AND seq = $2`, b.app, int64(b.chain.base()+seq)).Scan(&h)
	if err != nil {
		return "", fmt.Errorf("store: read hash of seq %d: %w", seq, err)
	}
	return h, nil
}
