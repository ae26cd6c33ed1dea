package store

// Calls in progress: an appliance's call_started event (wire.CallStarted)
// adds a row to calls_in_progress, unless the call's record is stored;
// the call's record or the appliance's calls_cleared event (a restart)
// removes it (flushInProgress, in the batch's projection transaction). The console and the API
// list them so that one can be ended at once (wire.CmdEndCall).

import (
	"context"
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// CallInProgress is a call an appliance has placed and not yet reported
// ended.
type CallInProgress struct {
	CallID       string    `json:"call_id"`
	ApplianceID  string    `json:"appliance_id"`
	Block        string    `json:"block"`
	PersonID     string    `json:"person_id"`
	PrisonNumber string    `json:"prison_number"`
	Terminal     string    `json:"terminal"`
	Number       string    `json:"number"`
	Start        time.Time `json:"start"`
	Privileged   bool      `json:"privileged"`
	Hidden       bool      `json:"hidden"`
}

// InProgressFilter selects calls in progress: Blocks (when not nil) a
// block officer's scope; hidden ones only WithHidden.
type InProgressFilter struct {
	Blocks     []string
	WithHidden bool
}

const inProgressCols = 10

// projectStarted buffers a call in progress for flushInProgress.
func (b *eventBatch) projectStarted(c *wire.CallStarted) error {
	flags := wire.CallRecord{Number: c.Number, Privileged: c.Privileged, Hidden: c.Hidden}
	if err := b.flagCall(&flags); err != nil {
		return err
	}
	b.startedRows = append(b.startedRows, c.CallID, b.app, b.block, c.PersonID, c.PrisonNumber, c.Terminal, c.Number, ns(c.Start),
		boolInt(flags.Privileged), boolInt(flags.Hidden))
	return nil
}

// flushInProgress runs after the batch's calls are written: it adds the
// buffered starts (multi-row, as the other projections), then removes the
// appliance's calls in progress that have a record (this batch's or an
// earlier one's: a start redelivered after its record lists nothing) and
// those started before a calls_cleared. The appliance has a handful in
// progress, each looked up in calls by its key.
func (b *eventBatch) flushInProgress() error {
	if len(b.startedRows) == 0 && len(b.callRows) == 0 && len(b.callMoneyRows) == 0 && len(b.clears) == 0 {
		return nil
	}
	if err := b.insertRows(`INSERT INTO calls_in_progress (call_id, appliance_id, block, person_id, prison_number, terminal, number,
			start_ns, privileged, hidden) VALUES `, ` ON CONFLICT (call_id) DO NOTHING`, inProgressCols, b.startedRows, nil); err != nil {
		return fmt.Errorf("store: calls in progress: %w", err)
	}
	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM calls_in_progress WHERE appliance_id = $1
		AND EXISTS (SELECT 1 FROM calls c WHERE c.call_id = calls_in_progress.call_id)`, b.app); err != nil {
		return fmt.Errorf("store: calls no longer in progress: %w", err)
	}
	for _, at := range b.clears {
		if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM calls_in_progress WHERE appliance_id = $1 AND start_ns <= $2`, b.app, at); err != nil {
			return fmt.Errorf("store: calls cleared: %w", err)
		}
	}
	b.startedRows, b.clears = nil, nil
	return nil
}

// CallsInProgress lists the calls in progress of f, the oldest first.
func (s *Store) CallsInProgress(ctx context.Context, f InProgressFilter) ([]CallInProgress, error) {
	var args []any
	where := "1 = 1"
	if f.Blocks != nil {
		where = inList("block", f.Blocks, &args)
	}
	if !f.WithHidden {
		where += " AND hidden = 0"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT call_id, appliance_id, block, person_id, prison_number, terminal, number, start_ns, privileged, hidden
		FROM calls_in_progress WHERE `+where+` ORDER BY start_ns, call_id LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: calls in progress: %w", err)
	}
	defer rows.Close()
	out := []CallInProgress{}
	for rows.Next() {
		var c CallInProgress
		var start int64
		var priv, hidden int
		if err := rows.Scan(&c.CallID, &c.ApplianceID, &c.Block, &c.PersonID, &c.PrisonNumber, &c.Terminal, &c.Number, &start, &priv, &hidden); err != nil {
			return nil, fmt.Errorf("store: calls in progress: %w", err)
		}
		c.Start, c.Privileged, c.Hidden = fromNS(start), priv != 0, hidden != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: calls in progress: %w", err)
	}
	return out, nil
}
