package eventlog

import (
	"fmt"
	"slices"
	"time"
)

// The terminals table is filled from the events that name a terminal: card
// taps (which also name the reader the terminal's card reader is on), call
// records and officer actions. Appliances report no inventory of their
// terminals (the status event carries only the policy version and the
// software), so a terminal appears once it has been used, and "last seen"
// is the newest such event. The projection collects them per batch and
// writes one upsert per terminal when it flushes.

// maxTerminalName bounds the terminal and reader names kept.
const maxTerminalName = 128

type terminalSeen struct {
	reader string
	last   int64
}

// seeTerminal notes that the batch's appliance used terminal at t, on
// reader when known.
func (b *eventBatch) seeTerminal(terminal, reader string, t time.Time) {
	if terminal == "" || len(terminal) > maxTerminalName || len(reader) > maxTerminalName {
		return
	}
	if b.terminals == nil {
		b.terminals = map[string]terminalSeen{}
	}
	cur := b.terminals[terminal]
	if v := ns(t); v > cur.last {
		cur.last = v
	}
	if reader != "" {
		cur.reader = reader
	}
	b.terminals[terminal] = cur
}

// flushTerminals upserts the terminals seen: last_seen_ns only moves
// forward, and a reader, once known, is kept unless a later tap names
// another.
func (b *eventBatch) flushTerminals() error {
	if len(b.terminals) == 0 {
		return nil
	}
	names := make([]string, 0, len(b.terminals))
	for n := range b.terminals {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := b.terminals[n]
		if _, err := b.tx.ExecContext(b.ctx, `INSERT INTO terminals (appliance_id, terminal, reader, last_seen_ns) VALUES ($1, $2, $3, $4)
			ON CONFLICT (appliance_id, terminal) DO UPDATE SET
				reader = CASE WHEN excluded.reader <> '' THEN excluded.reader ELSE terminals.reader END,
				last_seen_ns = CASE WHEN excluded.last_seen_ns > terminals.last_seen_ns THEN excluded.last_seen_ns ELSE terminals.last_seen_ns END`,
			b.app, n, t.reader, t.last); err != nil {
			return fmt.Errorf("store: project terminal %s: %w", n, err)
		}
	}
	b.terminals = nil
	return nil
}
