package store

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
// self-block; AlarmForeignPerson is raised for it instead. The check is
// the projection's (central/store/eventlog); the core writes the history
// (recordPersonBlock) and applies a self-block (selfBlockTx).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// recordPersonBlock notes, inside tx, that the person is housed in block
// from at on.
func recordPersonBlock(ctx context.Context, tx *sql.Tx, personID, block string, at int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO person_blocks (person_id, block, from_ns) VALUES ($1, $2, $3)
		ON CONFLICT (person_id, from_ns) DO UPDATE SET block = excluded.block`, personID, block, at); err != nil {
		return fmt.Errorf("store: record block of person %s: %w", personID, err)
	}
	return nil
}

// selfBlockTx marks, inside tx, the person's contact with number (already
// normalized) as self-blocked: the called party pressed 9. When it was not
// marked yet it bumps the block's policy, so the number leaves it, and
// audits the change ("contact.self_blocked" by actor, target the person).
// It returns the person's block ("" when the person has no contact with
// that number) and whether this call marked it.
func (s *Store) selfBlockTx(ctx context.Context, tx *sql.Tx, actor, personID, number, detail string) (string, bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE contacts SET self_blocked = 1, updated_ns = $3
		WHERE person_id = $1 AND number = $2 AND self_blocked = 0`, personID, number, ns(s.clk.Now()))
	if err != nil {
		return "", false, fmt.Errorf("store: self-block: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", false, fmt.Errorf("store: self-block: %w", err)
	}
	var block string
	err = tx.QueryRowContext(ctx, `SELECT p.block FROM contacts c JOIN people p ON p.id = c.person_id
		WHERE c.person_id = $1 AND c.number = $2`, personID, number).Scan(&block)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: self-block: %w", err)
	}
	if n == 0 {
		return block, false, nil
	}
	if err := s.audit(ctx, tx, actor, "contact.self_blocked", "person:"+personID, detail); err != nil {
		return "", false, err
	}
	return block, true, bumpPolicy(ctx, tx, block)
}
