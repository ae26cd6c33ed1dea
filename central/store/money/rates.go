package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// MaxRates bounds the rates table.
const MaxRates = 5000

// RateRow is a rate with who last changed it.
type RateRow struct {
	wire.Rate
	UpdatedBy string    `json:"updated_by"`
	Updated   time.Time `json:"updated"`
}

func readRateRows(ctx context.Context, q store.Querier) ([]RateRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding,
			updated_by, updated_ns FROM rates ORDER BY prefix`)
	if err != nil {
		return nil, fmt.Errorf("store: rates: %w", err)
	}
	defer rows.Close()
	out := []RateRow{}
	for rows.Next() {
		var r RateRow
		var upd int64
		if err := rows.Scan(&r.Prefix, &r.DestinationType, &r.Name, &r.PerMinute, &r.BillingUnitSeconds, &r.ConnectionFee,
			&r.Rounding, &r.UpdatedBy, &upd); err != nil {
			return nil, fmt.Errorf("store: rates: %w", err)
		}
		r.Updated = store.FromNS(upd)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rates: %w", err)
	}
	return out, nil
}

// Rates lists the rates table ordered by prefix.
func (s *Store) Rates(ctx context.Context) ([]RateRow, error) {
	return readRateRows(ctx, s.core.Reader())
}

// validateRates checks every rate (ledger.Rate.Validate) and the set
// (no prefix twice); the error names the offending rate.
func validateRates(cur ledger.Currency, rates []wire.Rate) error {
	if len(rates) > MaxRates {
		return fmt.Errorf("%w: at most %d rates", store.ErrInvalid, MaxRates)
	}
	lr := make([]ledger.Rate, 0, len(rates))
	for i, w := range rates {
		if len(w.Name) > 128 {
			return fmt.Errorf("%w: rate %d (prefix %q): name longer than 128 characters", store.ErrInvalid, i+1, w.Prefix)
		}
		r, err := ledger.RateFromWire(w)
		if err != nil {
			return fmt.Errorf("%w: rate %d: %w", store.ErrInvalid, i+1, err)
		}
		lr = append(lr, r)
	}
	if _, err := ledger.NewTable(cur, lr); err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return nil
}

func describeRate(r wire.Rate) string {
	return fmt.Sprintf("prefix=%q type=%s per_minute=%d unit=%ds fee=%d rounding=%q name=%q",
		r.Prefix, r.DestinationType, r.PerMinute, r.BillingUnitSeconds, r.ConnectionFee, r.Rounding, r.Name)
}

func insertRate(ctx context.Context, tx *sql.Tx, actor string, r wire.Rate, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rates (prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding, updated_by, updated_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (prefix) DO UPDATE SET destination_type = excluded.destination_type, name = excluded.name,
			per_minute = excluded.per_minute, billing_unit_s = excluded.billing_unit_s, connection_fee = excluded.connection_fee,
			rounding = excluded.rounding, updated_by = excluded.updated_by, updated_ns = excluded.updated_ns`,
		r.Prefix, r.DestinationType, r.Name, r.PerMinute, r.BillingUnitSeconds, r.ConnectionFee, r.Rounding, actor, now)
	if err != nil {
		return fmt.Errorf("store: write rate %q: %w", r.Prefix, err)
	}
	return nil
}

// SetRates replaces the whole rates table with rates, validated as a set
// (each with ledger.RateFromWire, no prefix twice), audited, and bumps
// every block's policy (rates are prison-wide).
func (s *Store) SetRates(ctx context.Context, actor string, rates []wire.Rate) error {
	set, err := s.MoneySettings(ctx)
	if err != nil {
		return err
	}
	if err := validateRates(set.Cur(), rates); err != nil {
		return err
	}
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		now := store.NS(s.core.Clock().Now())
		if _, err := tx.ExecContext(ctx, `DELETE FROM rates`); err != nil {
			return fmt.Errorf("store: replace rates: %w", err)
		}
		desc := make([]string, 0, len(rates))
		for _, r := range rates {
			if err := insertRate(ctx, tx, actor, r, now); err != nil {
				return err
			}
			desc = append(desc, describeRate(r))
		}
		if err := s.core.AuditTx(ctx, tx, actor, "rates.set", "rates", strings.Join(desc, "; ")); err != nil {
			return err
		}
		return bumpAllPolicies(ctx, tx)
	})
}

// PutRate adds the rate for r.Prefix or replaces it, validated against the
// rest of the table, audited, and bumps every block's policy.
func (s *Store) PutRate(ctx context.Context, actor string, r wire.Rate) error {
	set, err := s.MoneySettings(ctx)
	if err != nil {
		return err
	}
	if err := validateRates(set.Cur(), []wire.Rate{r}); err != nil {
		return err
	}
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rates WHERE prefix <> $1`, r.Prefix).Scan(&n); err != nil {
			return fmt.Errorf("store: count rates: %w", err)
		}
		if n >= MaxRates {
			return fmt.Errorf("%w: at most %d rates", store.ErrInvalid, MaxRates)
		}
		if err := insertRate(ctx, tx, actor, r, store.NS(s.core.Clock().Now())); err != nil {
			return err
		}
		if err := s.core.AuditTx(ctx, tx, actor, "rates.put", "rate:"+r.Prefix, describeRate(r)); err != nil {
			return err
		}
		return bumpAllPolicies(ctx, tx)
	})
}

// DeleteRate removes the rate for prefix (store.ErrNotFound when there is
// none), audited, and bumps every block's policy.
func (s *Store) DeleteRate(ctx context.Context, actor, prefix string) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		var old wire.Rate
		err := tx.QueryRowContext(ctx, `DELETE FROM rates WHERE prefix = $1
			RETURNING prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding`, prefix).
			Scan(&old.Prefix, &old.DestinationType, &old.Name, &old.PerMinute, &old.BillingUnitSeconds, &old.ConnectionFee, &old.Rounding)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no rate for prefix %q", store.ErrNotFound, prefix)
		}
		if err != nil {
			return fmt.Errorf("store: delete rate: %w", err)
		}
		if err := s.core.AuditTx(ctx, tx, actor, "rates.delete", "rate:"+prefix, describeRate(old)); err != nil {
			return err
		}
		return bumpAllPolicies(ctx, tx)
	})
}
