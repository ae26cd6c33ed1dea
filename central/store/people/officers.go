package people

import (
	"context"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"strings"
	"time"
)

// OfficerAction is an action on a block's officer panel, as an appliance
// reported it (wire.EventOfficer): "confirm", "cancel", "unknown_card",
// "timeout", "tap" or "end_call".
type OfficerAction struct {
	ApplianceID string    `json:"appliance_id"`
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Action      string    `json:"action"`
	OfficerID   string    `json:"officer_id,omitempty"`
	OfficerName string    `json:"officer_name,omitempty"`
	CallID      string    `json:"call_id,omitempty"`
	Terminal    string    `json:"terminal,omitempty"`
}

// OfficerActionFilter selects officer actions; empty fields match all.
type OfficerActionFilter struct {
	ApplianceID string
	Officer     string
	CallID      string
	Limit       int // default 100, at most 1000
	Offset      int
}

// OfficerActions lists officer panel actions, newest first.
func (s *Store) OfficerActions(ctx context.Context, f OfficerActionFilter) ([]OfficerAction, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.ApplianceID != "" {
		where = append(where, "a.appliance_id = "+arg(f.ApplianceID))
	}
	if f.Officer != "" {
		where = append(where, "a.officer_id = "+arg(f.Officer))
	}
	if f.CallID != "" {
		where = append(where, "a.call_id = "+arg(f.CallID))
	}
	q := `SELECT a.appliance_id, a.seq, a.time_ns, a.action, a.officer_id, COALESCE(o.name, ''), a.call_id, a.terminal
		FROM officer_actions a LEFT JOIN people o ON o.id = a.officer_id AND a.officer_id <> ''`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY a.time_ns DESC, a.appliance_id, a.seq DESC LIMIT ` + arg(f.Limit) + ` OFFSET ` + arg(max(f.Offset, 0))
	rows, err := s.core.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: officer actions: %w", err)
	}
	defer rows.Close()
	out := []OfficerAction{}
	for rows.Next() {
		var a OfficerAction
		var seq, t int64
		if err := rows.Scan(&a.ApplianceID, &seq, &t, &a.Action, &a.OfficerID, &a.OfficerName, &a.CallID, &a.Terminal); err != nil {
			return nil, fmt.Errorf("store: officer actions: %w", err)
		}
		a.Seq, a.Time = uint64(seq), store.FromNS(t)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: officer actions: %w", err)
	}
	return out, nil
}
