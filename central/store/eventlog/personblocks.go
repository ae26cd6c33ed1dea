package eventlog

// Which block a person was housed in, and when (table person_blocks,
// migration 13).
//
// An appliance speaks for its own block only. Its events about a person (a
// call record, a call debit, a call in progress, a called party's
// self-block) are projected only if the person was housed in the
// appliance's block at a time the event names: a call record counts at its
// start, answer or end, a debit at its time or the event's, so that a call
// made before a move and reported after it is still the old block's. An
// event about a person of another block, even signed with the appliance's
// own key, is kept in the events table (the chain stays whole and is
// acknowledged, so nothing is lost and the appliance does not resend it
// forever) but not projected: no call row, no debit, no in-progress row, no
// self-block; AlarmForeignPerson is raised for it instead.

import (
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// AlarmForeignPerson is central's alarm for an appliance event about a
// person who was not housed in the appliance's block at the event's time.
const AlarmForeignPerson = "event_foreign_person"

// personBlockSpan is one row of a person's block history.
type personBlockSpan struct {
	block string
	from  int64
}

// personHistory returns the person's block history, oldest first, read
// once per batch; nil when central does not know the person.
func (b *eventBatch) personHistory(personID string) ([]personBlockSpan, error) {
	if h, ok := b.people[personID]; ok {
		return h, nil
	}
	rows, err := b.tx.QueryContext(b.ctx, `SELECT block, from_ns FROM person_blocks WHERE person_id = $1 ORDER BY from_ns`, personID)
	if err != nil {
		return nil, fmt.Errorf("store: read block history of %s: %w", personID, err)
	}
	defer rows.Close()
	var h []personBlockSpan
	for rows.Next() {
		var sp personBlockSpan
		if err := rows.Scan(&sp.block, &sp.from); err != nil {
			return nil, fmt.Errorf("store: read block history of %s: %w", personID, err)
		}
		h = append(h, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read block history of %s: %w", personID, err)
	}
	if b.people == nil {
		b.people = map[string][]personBlockSpan{}
	}
	b.people[personID] = h
	return h, nil
}

// blockAt returns the block of history h at time t (ns): the newest span
// starting at or before t, or the oldest span when t precedes them all (a
// clock a little behind central's).
func blockAt(h []personBlockSpan, t int64) string {
	if len(h) == 0 {
		return ""
	}
	blk := h[0].block
	for _, sp := range h {
		if sp.from > t {
			break
		}
		blk = sp.block
	}
	return blk
}

// foreignPerson reports whether personID is a person central knows who was
// housed in the appliance's block at none of the times: the event is then
// not the appliance's to report. It is false when the
// appliance has no block yet (nothing to compare with), when the person is
// unknown (nothing of theirs can be touched) or for an empty id.
func (b *eventBatch) foreignPerson(personID string, times ...time.Time) (bool, error) {
	if personID == "" || b.block == "" {
		return false, nil
	}
	h, err := b.personHistory(personID)
	if err != nil || len(h) == 0 {
		return false, err
	}
	for _, t := range times {
		if t.IsZero() {
			continue
		}
		if blockAt(h, ns(t)) == b.block {
			return false, nil
		}
	}
	return true, nil
}

// foreignEvent reports whether a decoded event is about a person of
// another block (see foreignPerson), and which person.
func (b *eventBatch) foreignEvent(ev *wire.Event, p projection) (string, bool, error) {
	var who string
	var times []time.Time
	switch {
	case p.call != nil:
		who, times = p.call.PersonID, []time.Time{p.call.Start, p.call.End, ev.Time}
		if p.call.Answer != nil {
			times = append(times, *p.call.Answer)
		}
	case p.ledger != nil:
		who, times = p.ledger.Account, []time.Time{p.ledger.At, ev.Time}
	case p.started != nil:
		who, times = p.started.PersonID, []time.Time{p.started.Start, ev.Time}
	case p.blocked != nil:
		who, times = p.blocked.PersonID, []time.Time{ev.Time}
	default:
		return "", false, nil
	}
	foreign, err := b.foreignPerson(who, times...)
	return who, foreign, err
}
