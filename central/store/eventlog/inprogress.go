package eventlog

// Calls in progress: an appliance's call_started event (wire.CallStarted)
// adds a row to calls_in_progress, unless the call's record is stored;
// the call's record or the appliance's calls_cleared event (a restart)
// removes it (flushInProgress, in the batch's projection transaction). The console and the API
// list them so that one can be ended at once (wire.CmdEndCall).

import (
	"fmt"

	"github.com/kinline/kinline/shared/wire"
)

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
