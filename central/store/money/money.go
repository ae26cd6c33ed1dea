// Package money is the prison's money at central: the money settings
// (currency, its digits, the time zone, whether calls are charged), the
// rates table (rates.go), the append-only ledger with its balances,
// statements and reconciliation (ledger.go) and the accounts list
// (accounts.go). It is built on the core
// store (central/store): it reads and writes the core's tables through the
// core's readers and write transactions, audited in the core's chain, and
// answers with the core's errors.
//
// Amounts are integers in the currency's minor unit (shared/ledger.Money);
// a balance is always a sum of ledger entries, never a stored number.
//
// What stays in the core: the projection of the appliances' ledger events
// (part of the event batch, so every core store projects them whether or
// not this package is used), the money settings' reader
// (store.ReadMoneySettings, which the projection and the policy read) and
// the money part of a block's policy (store.Store.PolicyMoneyTx, which
// reads the projection's watermark).
package money

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/kinline/kinline/central/store"
)

// Store is the money part of central's store. It is safe for concurrent
// use.
type Store struct {
	core *store.Store
}

// New returns the money store on core.
func New(core *store.Store) *Store { return &Store{core: core} }

// MoneySettings returns the currency, its digits and the time zone (the
// defaults for settings never written).
func (s *Store) MoneySettings(ctx context.Context) (store.MoneySettings, error) {
	return store.ReadMoneySettings(ctx, s.core.Reader())
}

// SetMoneySettings validates and writes the money settings, audited, and
// bumps every block's policy (they all carry currency and time zone, and
// charging decides whether they carry money at all). The currency (code
// or digits) cannot change once ledger entries exist in another currency:
// ErrConflict. Charging "" keeps the current setting, so that a client
// that does not know it never turns charging off by leaving it out.
func (s *Store) SetMoneySettings(ctx context.Context, actor string, in store.MoneySettings) error {
	if err := in.Cur().Validate(); err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	if in.TimeZone == "" {
		return fmt.Errorf("%w: time_zone is required (an IANA zone such as Europe/London, or UTC)", store.ErrInvalid)
	}
	if _, err := time.LoadLocation(in.TimeZone); err != nil {
		return fmt.Errorf("%w: time_zone %q is not a known IANA zone", store.ErrInvalid, in.TimeZone)
	}
	switch in.Charging {
	case "", store.ChargingOn, store.ChargingOff:
	default:
		return fmt.Errorf("%w: charging must be %q or %q, not %q", store.ErrInvalid, store.ChargingOn, store.ChargingOff, in.Charging)
	}
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		old, err := store.ReadMoneySettings(ctx, tx)
		if err != nil {
			return err
		}
		if in.Charging == "" {
			in.Charging = old.Charging
		}
		if old.Currency != in.Currency || old.Digits != in.Digits {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM ledger_entries LIMIT 1) t`).Scan(&n); err != nil {
				return fmt.Errorf("store: money settings: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("%w: the ledger already holds amounts in %s (%d digits); the currency cannot change", store.ErrConflict, old.Currency, old.Digits)
			}
		}
		now := store.NS(s.core.Clock().Now())
		for _, kv := range [][2]string{
			{store.SettingCurrency, in.Currency}, {store.SettingCurrencyDigits, strconv.Itoa(in.Digits)}, {store.SettingTimeZone, in.TimeZone},
			{store.SettingCharging, in.Charging},
		} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_ns) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ns = excluded.updated_ns`, kv[0], kv[1], now); err != nil {
				return fmt.Errorf("store: write setting %s: %w", kv[0], err)
			}
		}
		if err := s.core.AuditTx(ctx, tx, actor, "money.settings", "settings",
			fmt.Sprintf("currency=%s digits=%d time_zone=%s charging=%s", in.Currency, in.Digits, in.TimeZone, in.Charging)); err != nil {
			return err
		}
		return bumpAllPolicies(ctx, tx)
	})
}

// bumpAllPolicies bumps the policy version of every block.
func bumpAllPolicies(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM blocks ORDER BY name`)
	if err != nil {
		return fmt.Errorf("store: list blocks: %w", err)
	}
	var blocks []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return fmt.Errorf("store: list blocks: %w", err)
		}
		blocks = append(blocks, b)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("store: list blocks: %w", err)
	}
	return store.BumpPolicy(ctx, tx, blocks...)
}
