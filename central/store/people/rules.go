package people

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"strings"

	"github.com/kinline/kinline/shared/wire"
)

// MaxRules bounds a block's call rules.
const MaxRules = 64

// readRules reads a block's call rules ordered by level, inside q's snapshot.
func readRules(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, block string) ([]wire.CallRule, error) {
	rows, err := q.QueryContext(ctx, `SELECT level, confirm, confirm_window_s, officer_tap_ends_call,
			max_duration_s, calls_per_day, calls_per_week, calls_per_month, windows FROM call_rules
		WHERE block = $1 ORDER BY level`, block)
	if err != nil {
		return nil, fmt.Errorf("store: call rules: %w", err)
	}
	defer rows.Close()
	out := []wire.CallRule{}
	for rows.Next() {
		var r wire.CallRule
		var win string
		if err := rows.Scan(&r.Level, &r.Confirm, &r.ConfirmWindowSeconds, &r.OfficerTapEndsCall,
			&r.MaxDurationSeconds, &r.CallsPerDay, &r.CallsPerWeek, &r.CallsPerMonth, &win); err != nil {
			return nil, fmt.Errorf("store: call rules: %w", err)
		}
		if ws := parseWindowsJSON(win); len(ws) > 0 {
			r.Windows = ws
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: call rules: %w", err)
	}
	return out, nil
}

// Rules returns a block's call rules (store.ErrUnknownBlock for a block that
// does not exist).
func (s *Store) Rules(ctx context.Context, block string) ([]wire.CallRule, error) {
	if err := s.core.BlockExists(ctx, s.core.Reader(), block); err != nil {
		return nil, err
	}
	return readRules(ctx, s.core.Reader(), block)
}

// SetRules replaces a block's call rules: one per supervision level (""
// is the block's default), each with a confirmation mode ("" or "none",
// "button", "card", "both"), a window of 0 to MaxConfirmWindowSeconds and
// whether an officer's idle card tap ends that level's calls, a maximum
// duration (0 to MaxCallDurationSeconds), calls per day/week/month (0 to
// MaxCallsPerPeriod, 0 = no limit) and windows (ValidateWindows). The
// block's policy version is bumped in the same transaction.
func (s *Store) SetRules(ctx context.Context, actor, block string, rules []wire.CallRule) error {
	if len(rules) > MaxRules {
		return fmt.Errorf("%w: at most %d rules per block", store.ErrInvalid, MaxRules)
	}
	seen := map[string]bool{}
	var desc []string
	for i := range rules {
		r := &rules[i]
		r.Level = strings.TrimSpace(r.Level)
		if err := errors.Join(validLevel(r.Level), validConfirm("confirm", r.Confirm),
			validWindow("confirm_window_seconds", r.ConfirmWindowSeconds),
			validMaxDuration("max_duration_seconds", r.MaxDurationSeconds),
			validQuota("calls_per_day", r.CallsPerDay), validQuota("calls_per_week", r.CallsPerWeek),
			validQuota("calls_per_month", r.CallsPerMonth), ValidateWindows(r.Windows)); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		if r.Confirm == wire.ConfirmInherit {
			r.Confirm = wire.ConfirmNone // a rule has nothing to inherit from
		}
		if seen[r.Level] {
			return fmt.Errorf("%w: two rules for level %q", store.ErrInvalid, r.Level)
		}
		seen[r.Level] = true
		desc = append(desc, fmt.Sprintf("%q:%s/%ds/end=%t/max=%ds/quota=%d,%d,%d/windows=%s", r.Level, r.Confirm, r.ConfirmWindowSeconds,
			r.OfficerTapEndsCall, r.MaxDurationSeconds, r.CallsPerDay, r.CallsPerWeek, r.CallsPerMonth, FormatWindows(r.Windows)))
	}
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.core.BlockExists(ctx, tx, block); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM call_rules WHERE block = $1`, block); err != nil {
			return fmt.Errorf("store: replace call rules: %w", err)
		}
		for _, r := range rules {
			if _, err := tx.ExecContext(ctx, `INSERT INTO call_rules (block, level, confirm, confirm_window_s, officer_tap_ends_call,
					max_duration_s, calls_per_day, calls_per_week, calls_per_month, windows)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, block, r.Level, r.Confirm, r.ConfirmWindowSeconds, store.BoolInt(r.OfficerTapEndsCall),
				r.MaxDurationSeconds, r.CallsPerDay, r.CallsPerWeek, r.CallsPerMonth, windowsJSON(r.Windows)); err != nil {
				return fmt.Errorf("store: insert call rule: %w", err)
			}
		}
		if err := store.BumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "rules.set", block, strings.Join(desc, " "))
	})
}

// MaxCallsPerPeriod bounds a rule's calls per day, week or month.
const MaxCallsPerPeriod = 10000

func validQuota(field string, n int) error {
	if n < 0 || n > MaxCallsPerPeriod {
		return fmt.Errorf("%w: %s must be 0 (no limit) to %d", store.ErrInvalid, field, MaxCallsPerPeriod)
	}
	return nil
}

// PutRule adds or replaces the block's rule for r.Level, keeping the
// others (validated as SetRules does).
func (s *Store) PutRule(ctx context.Context, actor, block string, r wire.CallRule) error {
	rules, err := s.Rules(ctx, block)
	if err != nil {
		return err
	}
	r.Level = strings.TrimSpace(r.Level)
	out := []wire.CallRule{r}
	for _, o := range rules {
		if o.Level != r.Level {
			out = append(out, o)
		}
	}
	return s.SetRules(ctx, actor, block, out)
}

// DeleteRule removes the block's rule for level (store.ErrNotFound if none).
func (s *Store) DeleteRule(ctx context.Context, actor, block, level string) error {
	rules, err := s.Rules(ctx, block)
	if err != nil {
		return err
	}
	out := rules[:0]
	for _, o := range rules {
		if o.Level != level {
			out = append(out, o)
		}
	}
	if len(out) == len(rules) {
		return fmt.Errorf("%w: no rule for level %q in block %s", store.ErrNotFound, level, block)
	}
	return s.SetRules(ctx, actor, block, out)
}
