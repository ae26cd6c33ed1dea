package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kinline/kinline/shared/wire"
)

// MaxRules bounds a block's call rules.
const MaxRules = 64

// readRules reads a block's call rules ordered by level, inside q's snapshot.
func readRules(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, block string) ([]wire.CallRule, error) {
	rows, err := q.QueryContext(ctx, `SELECT level, confirm, confirm_window_s, officer_tap_ends_call FROM call_rules
		WHERE block = $1 ORDER BY level`, block)
	if err != nil {
		return nil, fmt.Errorf("store: call rules: %w", err)
	}
	defer rows.Close()
	out := []wire.CallRule{}
	for rows.Next() {
		var r wire.CallRule
		if err := rows.Scan(&r.Level, &r.Confirm, &r.ConfirmWindowSeconds, &r.OfficerTapEndsCall); err != nil {
			return nil, fmt.Errorf("store: call rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: call rules: %w", err)
	}
	return out, nil
}

// Rules returns a block's call rules (ErrUnknownBlock for a block that does
// not exist).
func (s *Store) Rules(ctx context.Context, block string) ([]wire.CallRule, error) {
	if err := s.blockExists(ctx, s.r, block); err != nil {
		return nil, err
	}
	return readRules(ctx, s.r, block)
}

// SetRules replaces a block's call rules: one per supervision level (""
// is the block's default), each with a confirmation mode ("" or "none",
// "button", "card", "both"), a window of 0 to MaxConfirmWindowSeconds and
// whether an officer's idle card tap ends that level's calls. The block's
// policy version is bumped in the same transaction.
func (s *Store) SetRules(ctx context.Context, actor, block string, rules []wire.CallRule) error {
	if len(rules) > MaxRules {
		return fmt.Errorf("%w: at most %d rules per block", ErrInvalid, MaxRules)
	}
	seen := map[string]bool{}
	var desc []string
	for i := range rules {
		r := &rules[i]
		r.Level = strings.TrimSpace(r.Level)
		if err := errors.Join(validLevel(r.Level), validConfirm("confirm", r.Confirm),
			validWindow("confirm_window_seconds", r.ConfirmWindowSeconds)); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		if r.Confirm == wire.ConfirmInherit {
			r.Confirm = wire.ConfirmNone // a rule has nothing to inherit from
		}
		if seen[r.Level] {
			return fmt.Errorf("%w: two rules for level %q", ErrInvalid, r.Level)
		}
		seen[r.Level] = true
		desc = append(desc, fmt.Sprintf("%q:%s/%ds/end=%t", r.Level, r.Confirm, r.ConfirmWindowSeconds, r.OfficerTapEndsCall))
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.blockExists(ctx, tx, block); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM call_rules WHERE block = $1`, block); err != nil {
			return fmt.Errorf("store: replace call rules: %w", err)
		}
		for _, r := range rules {
			if _, err := tx.ExecContext(ctx, `INSERT INTO call_rules (block, level, confirm, confirm_window_s, officer_tap_ends_call)
				VALUES ($1, $2, $3, $4, $5)`, block, r.Level, r.Confirm, r.ConfirmWindowSeconds, boolInt(r.OfficerTapEndsCall)); err != nil {
				return fmt.Errorf("store: insert call rule: %w", err)
			}
		}
		if err := bumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "rules.set", block, strings.Join(desc, " "))
	})
}
