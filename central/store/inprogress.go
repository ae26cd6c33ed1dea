package store

// Calls in progress: an appliance's call_started event (wire.CallStarted)
// adds a row to calls_in_progress, unless the call's record is stored;
// the call's record or the appliance's calls_cleared event (a restart)
// removes it (central/store/eventlog's projection). The console and the
// API list them so that one can be ended at once (wire.CmdEndCall).

import (
	"context"
	"fmt"
	"time"
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
