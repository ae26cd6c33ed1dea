package store

// What the core keeps of the money (the rest is central/store/money): the
// money settings' reader, which the ledger's projection
// (eventlog/ledger_project.go, through eventlog.Config.Currency) and the
// policy read; the rates' reader; and the money part of a block's policy
// (policyMoney below), which reads the projection's watermark.
//
// Amounts are integers in the currency's minor unit (shared/ledger.Money);
// a balance is always a sum of ledger entries, never a stored number.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store/eventlog"
	"strconv"
	"time"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Setting names of the money settings (table settings).
const (
	SettingCurrency       = "currency"
	SettingCurrencyDigits = "currency_digits"
	SettingTimeZone       = "time_zone"
	// SettingCharging is "on" when the prison charges for calls, "off"
	// when calls are free (schema migration 17 writes it: on where rates
	// existed, else off).
	SettingCharging = "charging"
)

// Values of MoneySettings.Charging.
const (
	ChargingOn  = "on"
	ChargingOff = "off"
)

// Defaults used while a setting was never written: a zero configuration
// works (euros in cents, quotas counted in UTC).
const (
	DefaultCurrency = "EUR"
	DefaultDigits   = 2
	DefaultTimeZone = "UTC"
)

// MoneySettings are the prison-wide money settings.
type MoneySettings struct {
	Currency string `json:"currency"` // ISO 4217 code
	Digits   int    `json:"digits"`   // digits of the minor unit
	// TimeZone is the IANA zone quota periods (days, ISO weeks, months)
	// and statements' periods count in.
	TimeZone string `json:"time_zone"`
	// Charging is ChargingOn when calls are charged (a number that matches
	// no rate is then refused) and ChargingOff when they are free and
	// unlimited by money. Reads give one of the two (off when the setting
	// was never written, an error when it holds anything else);
	// SetMoneySettings keeps the current value when it is "".
	Charging string `json:"charging"`
}

// ChargingIsOn reports whether calls are charged.
func (m MoneySettings) ChargingIsOn() bool { return m.Charging == ChargingOn }

// Cur is the settings' currency.
func (m MoneySettings) Cur() ledger.Currency {
	return ledger.Currency{Code: m.Currency, Digits: m.Digits}
}

// Location is the settings' time zone (UTC when it cannot be loaded).
func (m MoneySettings) Location() *time.Location {
	if loc, err := time.LoadLocation(m.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

type rowQueryer interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

type queryer interface {
	rowQueryer
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// readSetting reads one setting; ok is false when it was never written.
func readSetting(ctx context.Context, q rowQueryer, name string) (v string, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: setting %s: %w", name, err)
	}
	return v, true, nil
}

func readMoneySettings(ctx context.Context, q rowQueryer) (MoneySettings, error) {
	m := MoneySettings{Currency: DefaultCurrency, Digits: DefaultDigits, TimeZone: DefaultTimeZone, Charging: ChargingOff}
	if v, ok, err := readSetting(ctx, q, SettingCurrency); err != nil {
		return m, err
	} else if ok {
		m.Currency = v
	}
	if v, ok, err := readSetting(ctx, q, SettingCurrencyDigits); err != nil {
		return m, err
	} else if ok {
		d, err := strconv.Atoi(v)
		if err != nil {
			return m, fmt.Errorf("store: setting %s: %q is not a number", SettingCurrencyDigits, v)
		}
		m.Digits = d
	}
	// The zone is shared with the management settings, where "" means UTC.
	if v, ok, err := readSetting(ctx, q, SettingTimeZone); err != nil {
		return m, err
	} else if ok && v != "" {
		m.TimeZone = v
	}
	if v, ok, err := readSetting(ctx, q, SettingCharging); err != nil {
		return m, err
	} else if ok {
		if v != ChargingOn && v != ChargingOff {
			return m, fmt.Errorf("store: setting %s: %q is neither %q nor %q", SettingCharging, v, ChargingOn, ChargingOff)
		}
		m.Charging = v
	}
	return m, nil
}

// readRates reads the rates table (ordered by prefix) inside q's snapshot.
func readRates(ctx context.Context, q queryer) ([]ledger.Rate, error) {
	rows, err := q.QueryContext(ctx, `SELECT prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding
		FROM rates ORDER BY prefix`)
	if err != nil {
		return nil, fmt.Errorf("store: rates: %w", err)
	}
	defer rows.Close()
	out := []ledger.Rate{}
	for rows.Next() {
		var r wire.Rate
		if err := rows.Scan(&r.Prefix, &r.DestinationType, &r.Name, &r.PerMinute, &r.BillingUnitSeconds, &r.ConnectionFee, &r.Rounding); err != nil {
			return nil, fmt.Errorf("store: rates: %w", err)
		}
		lr, err := ledger.RateFromWire(r)
		if err != nil {
			return nil, fmt.Errorf("store: stored rate: %w", err)
		}
		out = append(out, lr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rates: %w", err)
	}
	return out, nil
}

// includedSeq is the highest seq S of applianceID such that every event
// 1..S is stored and projected (its debits and calls are in the ledger and
// calls tables), read in q's snapshot. Events are projected in arrival
// (rowid) order and everything at or below the global projection cursor is
// projected, so the first unprojected event of the appliance is its lowest
// seq above that cursor. NOT INDEXED makes SQLite walk the rowid range
// after the cursor (the unprojected backlog, at most eventlog.BacklogHigh events)
// instead of every event the appliance ever sent through the primary key
// (PostgreSQL has no such hint and uses events_rowid by itself).
func (s *Store) includedSeq(ctx context.Context, q rowQueryer, applianceID string) (uint64, error) {
	var acked int64
	var firstUnprojected sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT a.acked_seq,
			(SELECT MIN(e.seq) FROM events e`+s.d.NotIndexed+` WHERE e.appliance_id = a.id
				AND e.rowid > (SELECT value FROM counters WHERE name = 'projected_rowid'))
		FROM appliances a WHERE a.id = $1`, applianceID).Scan(&acked, &firstUnprojected)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: included seq of %s: %w", applianceID, err)
	}
	inc := acked
	if firstUnprojected.Valid && firstUnprojected.Int64-1 < inc {
		inc = firstUnprojected.Int64 - 1
	}
	return uint64(max(inc, 0)), nil
}

// policyMoney fills p.Money (rates, balances, quotas and the IncludedSeq
// watermark for applianceID) inside PolicyFor's read transaction. It
// leaves p.Money nil while charging is off: calls are then not rated.
// While it is on, p.Money says so (wire.ChargingOn) and is sent even
// with no rate, so that a number no rate matches is refused. It
// also sets p.TimeZone from the settings when PolicyFor left it empty.
//
// Balances are the sums of every ledger entry central holds for each
// active person of the block, except the receiving appliance's own entries
// above IncludedSeq (the appliance adds those itself, ledger.Usable, so
// they must not be counted twice). RecentCalls likewise hold every
// appliance's answered calls since the start of the previous month in the
// prison's time zone, except the receiving appliance's above IncludedSeq.
// Quotas are left to the call rules (0 here).
func (s *Store) policyMoney(ctx context.Context, tx *sql.Tx, applianceID string, p *wire.Policy) error {
	set, err := readMoneySettings(ctx, tx)
	if err != nil {
		return err
	}
	if p.TimeZone == "" {
		p.TimeZone = set.TimeZone
	}
	if !set.ChargingIsOn() {
		p.Money = nil
		return nil
	}
	rates, err := readRates(ctx, tx)
	if err != nil {
		return err
	}
	inc, err := s.includedSeq(ctx, tx, applianceID)
	if err != nil {
		return err
	}
	// inc counts in events.seq; the appliance counts in the own seqs of
	// the chain it writes, the one appliances.acked_seq is in (eventlog/chains.go):
	// nothing of that chain is included while inc is below it.
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT acked_seq FROM appliances WHERE id = $1), 0)`, applianceID).Scan(&current); err != nil {
		return fmt.Errorf("store: policy included seq: %w", err)
	}
	var own uint64
	if base := uint64(current) &^ (eventlog.ChainSpan - 1); inc >= base {
		own = inc - base
	}
	m := &wire.MoneyPolicy{Currency: set.Currency, Digits: set.Digits, TimeZone: set.TimeZone, IncludedSeq: own,
		Rates: make([]wire.Rate, 0, len(rates)), Accounts: []wire.AccountMoney{}, Charging: wire.ChargingOn}
	for _, r := range rates {
		m.Rates = append(m.Rates, r.Wire())
	}
	rows, err := tx.QueryContext(ctx, `SELECT p.id, COALESCE((SELECT SUM(l.amount) FROM ledger_entries l
			WHERE l.account = p.id AND NOT (l.appliance_id = $3 AND l.seq > $4)), 0)
		FROM people p WHERE p.block = $1 AND p.status = $2 ORDER BY p.id`,
		p.Block, wire.StatusActive, applianceID, int64(inc))
	if err != nil {
		return fmt.Errorf("store: policy balances: %w", err)
	}
	idx := map[string]int{}
	for rows.Next() {
		var a wire.AccountMoney
		if err := rows.Scan(&a.Account, &a.Balance); err != nil {
			rows.Close()
			return fmt.Errorf("store: policy balances: %w", err)
		}
		idx[a.Account] = len(m.Accounts)
		m.Accounts = append(m.Accounts, a)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("store: policy balances: %w", err)
	}

	now := s.clk.Now().In(set.Location())
	since := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, now.Location())
	// A call answered since `since` started at most a day before (calls
	// are limited far below that); the bound lets calls_person's index
	// serve the query.
	rows, err = tx.QueryContext(ctx, `SELECT c.person_id, c.call_id, c.answer_ns FROM calls c
		JOIN people p ON p.id = c.person_id
		WHERE p.block = $1 AND p.status = $2 AND c.start_ns >= $3 AND c.answer_ns >= $4
			AND NOT (c.appliance_id = $5 AND c.seq > $6)
		ORDER BY c.person_id, c.answer_ns, c.call_id`,
		p.Block, wire.StatusActive, ns(since.Add(-24*time.Hour)), ns(since), applianceID, int64(inc))
	if err != nil {
		return fmt.Errorf("store: policy recent calls: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid string
		var st wire.CallStamp
		var at int64
		if err := rows.Scan(&pid, &st.CallID, &at); err != nil {
			return fmt.Errorf("store: policy recent calls: %w", err)
		}
		st.At = fromNS(at)
		if i, ok := idx[pid]; ok {
			m.Accounts[i].RecentCalls = append(m.Accounts[i].RecentCalls, st)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: policy recent calls: %w", err)
	}
	p.Money = m
	return nil
}
