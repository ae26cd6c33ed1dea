package eventlog

import (
	"context"
	"fmt"
	"strings"

	"github.com/kinline/kinline/shared/wire"
)

// Privileged and hidden calls.
//
// A call is privileged (never recorded, never played, no player in the
// console) when the appliance flagged it so, when its number is a
// privileged contact of the person, or when its number is on the
// prison-wide list as privileged (wire.NumberKindPrivileged, exact or a
// '*' prefix). A call is hidden (its record shown only to investigators and
// system administrators) when the appliance flagged it so or its number is
// on the list as hidden. The projection stores the flags the list gives
// when the call arrives (calls.privileged, calls.hidden), and reads add the
// list as it is now, so a number put on the list later covers its earlier
// calls too; taking a number off the list never clears a stored flag.
// The SQL terms the core's reads add are in central/store (call_flags.go).

// flagCall sets c's Privileged and Hidden flags from the prison-wide list
// (read once per batch), on top of what the appliance reported.
func (b *eventBatch) flagCall(c *wire.CallRecord) error {
	if b.numbers == nil {
		ns, err := readFlagNumbers(b.ctx, b.tx)
		if err != nil {
			return err
		}
		b.numbers = ns
	}
	for _, a := range b.numbers {
		if !NumberMatches(a.Number, c.Number) {
			continue
		}
		switch a.Kind {
		case wire.NumberKindPrivileged:
			c.Privileged = true
		case wire.NumberKindHidden:
			c.Hidden = true
		}
	}
	return nil
}

// NumberMatches: attr is the number itself or a prefix ending in '*'.
func NumberMatches(attr, number string) bool {
	if pre, ok := strings.CutSuffix(attr, "*"); ok {
		return strings.HasPrefix(number, pre)
	}
	return attr == number
}

// readFlagNumbers reads the privileged and hidden entries of the
// prison-wide number list (the list itself is kept by
// central/store/people) through q, ordered by number and kind.
func readFlagNumbers(ctx context.Context, q querier) ([]wire.NumberAttr, error) {
	rows, err := q.QueryContext(ctx, `SELECT number, kind FROM global_numbers ORDER BY number, kind`)
	if err != nil {
		return nil, fmt.Errorf("store: global numbers: %w", err)
	}
	defer rows.Close()
	out := []wire.NumberAttr{}
	for rows.Next() {
		var a wire.NumberAttr
		if err := rows.Scan(&a.Number, &a.Kind); err != nil {
			return nil, fmt.Errorf("store: global numbers: %w", err)
		}
		if a.Kind == wire.NumberKindPrivileged || a.Kind == wire.NumberKindHidden {
			out = append(out, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: global numbers: %w", err)
	}
	return out, nil
}
