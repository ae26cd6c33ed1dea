package reports

// Billing reports: what calls were charged over a period, by period (day
// or month in the prison's time zone), block, destination type and rate.
//
// The money comes from the ledger (call debits, and refunds that name a
// call), never from a stored total, so a report always agrees with the
// accounts. The block and number come from the debited call's record
// (the account's block while the record has not arrived). Calls do not
// record the rate they were priced at, so each number is placed under the
// rate that matches it in the rates table now (longest prefix, as the
// appliances price calls); a number no rate matches is "unrated".
//
// Local days and months are computed in Go from quarter-hour buckets, as
// the statistics do (stats.go), because SQLite and PostgreSQL share no
// function that turns a Unix time into a local date.

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Billing report periods (BillingFilter.Period).
const (
	BillingTotal = "total" // one row per block, destination type and rate
	BillingDay   = "day"
	BillingMonth = "month"
)

// BillingPeriods lists the periods a report may be split by.
var BillingPeriods = []string{BillingTotal, BillingDay, BillingMonth}

// Unrated is the destination type of numbers no rate matches.
const Unrated = "unrated"

// MaxBillingDays bounds a billing report's period.
const MaxBillingDays = 732

// BillingFilter selects a billing report.
type BillingFilter struct {
	// From (inclusive) and To (exclusive) bound the ledger entries' time;
	// both are required.
	From, To time.Time
	// Period splits the rows by day or month ("" is BillingTotal).
	Period string
	Block  string
	// Blocks, when not nil, restricts the report to these blocks (a block
	// officer's scope); an empty non-nil slice reports nothing.
	Blocks []string
}

// BillingRow is one group of a billing report. Amounts are in the minor
// unit of the report's currency.
type BillingRow struct {
	// Period is the local day (2006-01-02) or month (2006-01); empty for
	// BillingTotal.
	Period          string `json:"period,omitempty"`
	Block           string `json:"block"`
	DestinationType string `json:"destination_type"`
	RatePrefix      string `json:"rate_prefix"`
	RateName        string `json:"rate_name,omitempty"`
	// Calls is the number of charged calls, BilledSeconds their billed
	// time: each call's talk time rounded up to its rate's billing unit, as
	// the ledger priced it (ledger.Rate.Units; free calls are never
	// debited); a call no rate of today's table prices bills its talk
	// time, rounded up to the second.
	Calls         int64   `json:"calls"`
	BilledSeconds float64 `json:"billed_seconds"`
	// Charged is what the calls were debited, Refunded what was refunded
	// against them in the period, Net the difference.
	Charged  ledger.Money `json:"charged"`
	Refunded ledger.Money `json:"refunded"`
	Net      ledger.Money `json:"net"`
}

func (r *BillingRow) add(o BillingRow) {
	r.Calls += o.Calls
	r.BilledSeconds += o.BilledSeconds
	r.Charged += o.Charged
	r.Refunded += o.Refunded
	r.Net = r.Charged - r.Refunded
}

// BillingReport is the answer to a BillingFilter.
type BillingReport struct {
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Period   string       `json:"period"`
	TimeZone string       `json:"time_zone"`
	Currency string       `json:"currency"`
	Digits   int          `json:"digits"`
	Rows     []BillingRow `json:"rows"`
	Total    BillingRow   `json:"total"`
}

// validate checks f and fills its default period.
func (f *BillingFilter) validate() error {
	if f.Period == "" {
		f.Period = BillingTotal
	}
	if !slices.Contains(BillingPeriods, f.Period) {
		return fmt.Errorf("%w: period %q (one of %s)", store.ErrInvalid, f.Period, strings.Join(BillingPeriods, ", "))
	}
	if f.From.IsZero() || f.To.IsZero() || !f.To.After(f.From) {
		return fmt.Errorf("%w: a billing report needs a period: from before to", store.ErrInvalid)
	}
	if f.To.Sub(f.From) > MaxBillingDays*24*time.Hour {
		return fmt.Errorf("%w: a billing report covers at most %d days", store.ErrInvalid, MaxBillingDays)
	}
	return nil
}

// Billing builds the billing report of f from one snapshot.
func (s *Store) Billing(ctx context.Context, f BillingFilter) (*BillingReport, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	tx, err := s.core.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: billing: %w", err)
	}
	defer tx.Rollback()
	set, err := store.ReadMoneySettings(ctx, tx)
	if err != nil {
		return nil, err
	}
	rates, err := store.ReadRates(ctx, tx)
	if err != nil {
		return nil, err
	}
	table, err := ledger.NewTable(set.Cur(), rates)
	if err != nil {
		return nil, fmt.Errorf("store: billing: rates: %w", err)
	}
	loc := set.Location()
	rep := &BillingReport{From: f.From.UTC(), To: f.To.UTC(), Period: f.Period, TimeZone: loc.String(),
		Currency: set.Currency, Digits: set.Digits, Rows: []BillingRow{}}
	rows := map[[5]string]*BillingRow{}
	var keys [][5]string
	add := func(r BillingRow) {
		k := [5]string{r.Period, r.Block, r.DestinationType, r.RatePrefix, r.RateName}
		cur, ok := rows[k]
		if !ok {
			cur = &BillingRow{Period: r.Period, Block: r.Block, DestinationType: r.DestinationType, RatePrefix: r.RatePrefix, RateName: r.RateName}
			rows[k] = cur
			keys = append(keys, k)
		}
		cur.add(r)
		rep.Total.add(r)
	}
	for _, kind := range []string{wire.LedgerCallDebit, wire.LedgerRefund} {
		if err := billingKind(ctx, tx, f, kind, table, loc, add); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(keys, func(a, b [5]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]), cmp.Compare(a[3], b[3]), cmp.Compare(a[4], b[4]))
	})
	for _, k := range keys {
		rep.Rows = append(rep.Rows, *rows[k])
	}
	return rep, nil
}

// billingQuery is the query of f's ledger entries of kind (call debits,
// or refunds of calls), one row each (a call's billed time is rounded per
// call): its period bucket (0 for the total), block, number, the rate the
// call named, its amount and the call's talk time in milliseconds.
func billingQuery(f BillingFilter, kind string) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	block := "COALESCE(c.block, p.block, '')"
	cols := block + ", COALESCE(c.number, ''), COALESCE(c.rate_type, ''), COALESCE(c.rate_prefix, ''), COALESCE(c.rate_name, '')"
	if f.Period != BillingTotal {
		cols = fmt.Sprintf("l.at_ns / %d, ", int64(quarter)) + cols
	} else {
		cols = "0, " + cols
	}
	where := []string{"l.kind = " + arg(kind), "l.at_ns >= " + arg(store.NS(f.From)), "l.at_ns < " + arg(store.NS(f.To))}
	if kind == wire.LedgerRefund {
		where = append(where, "l.ref <> ''", "c.call_id IS NOT NULL")
	}
	if f.Block != "" {
		where = append(where, block+" = "+arg(f.Block))
	}
	if f.Blocks != nil {
		where = append(where, store.InList(block, f.Blocks, &args))
	}
	q := `SELECT ` + cols + `, l.amount,
			CASE WHEN c.answer_ns IS NOT NULL AND c.end_ns > c.answer_ns THEN c.end_ns - c.answer_ns ELSE 0 END
			FROM ledger_entries l LEFT JOIN calls c ON c.call_id = l.ref LEFT JOIN people p ON p.id = l.account
			WHERE ` + strings.Join(where, " AND ")
	return q, args
}

// billingKind runs billingQuery for kind in tx and adds each entry as a
// row: its period in loc, its rate (the one the call named, else the one
// table matches the number with), its amount and billed time.
func billingKind(ctx context.Context, tx *sql.Tx, f BillingFilter, kind string, table *ledger.Table, loc *time.Location, add func(BillingRow)) error {
	q, args := billingQuery(f, kind)
	rs, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: billing: %w", err)
	}
	defer rs.Close()
	byPrefix := map[string]ledger.Rate{}
	for _, r := range table.Rates() {
		byPrefix[r.Prefix] = r
	}
	for rs.Next() {
		var bucket, amount, talkNS int64
		var blk, number, rateType, ratePrefix, rateName string
		if err := rs.Scan(&bucket, &blk, &number, &rateType, &ratePrefix, &rateName, &amount, &talkNS); err != nil {
			return fmt.Errorf("store: billing: %w", err)
		}
		r := BillingRow{Block: blk, DestinationType: Unrated}
		if f.Period != BillingTotal {
			t := time.Unix(0, bucket*int64(quarter)).In(loc)
			r.Period = t.Format(time.DateOnly)
			if f.Period == BillingMonth {
				r.Period = t.Format("2006-01")
			}
		}
		if rateType != "" {
			// The rate the appliance priced the call with.
			r.DestinationType, r.RatePrefix, r.RateName = rateType, ratePrefix, rateName
		} else if rate, ok := table.Match(number); ok && number != "" {
			// A call from before the record named its rate.
			r.DestinationType, r.RatePrefix, r.RateName = string(rate.DestinationType), rate.Prefix, rate.Name
		}
		if kind == wire.LedgerCallDebit {
			r.Calls, r.Charged = 1, ledger.Money(-amount)
			r.BilledSeconds = billedSeconds(time.Duration(talkNS), byPrefix, ratePrefix, rateType != "", table, number)
		} else {
			r.Refunded = ledger.Money(amount)
		}
		add(r)
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("store: billing: %w", err)
	}
	return nil
}

// billedSeconds is a call's talk time rounded up to the billing unit of
// its rate: the one it was priced with (named), as the rates table has
// that prefix now, else the one the table matches its number with; with
// neither, the talk time rounded up to the second.
func billedSeconds(talk time.Duration, byPrefix map[string]ledger.Rate, prefix string, named bool, table *ledger.Table, number string) float64 {
	rate, ok := byPrefix[prefix]
	if !named || !ok {
		rate, ok = table.Match(number)
	}
	if !ok || number == "" {
		rate = ledger.Rate{BillingUnit: 1}
	}
	return float64(rate.Units(talk) * int64(rate.BillingUnit))
}

// BillingColumns is the header of a billing export.
var BillingColumns = []string{"period", "block", "destination_type", "rate_prefix", "rate_name", "calls", "billed_minutes", "charged", "refunded", "net", "currency"}

// BilledMinutes writes billed seconds as minutes with two decimals (a
// second, the smallest unit, shows as 0.02, never 0.00).
func BilledMinutes(sec float64) string { return strconv.FormatFloat(sec/60, 'f', 2, 64) }

// BillingTable is rep as a table (header first, a total row last), amounts
// in the currency's major unit.
func BillingTable(rep *BillingReport) [][]string {
	cur := ledger.Currency{Code: rep.Currency, Digits: rep.Digits}
	row := func(r BillingRow, period string) []string {
		return []string{period, r.Block, r.DestinationType, r.RatePrefix, r.RateName, strconv.FormatInt(r.Calls, 10),
			BilledMinutes(r.BilledSeconds), cur.Format(r.Charged), cur.Format(r.Refunded), cur.Format(r.Net), rep.Currency}
	}
	out := [][]string{BillingColumns}
	for _, r := range rep.Rows {
		p := r.Period
		if p == "" {
			p = rep.From.In(time.UTC).Format(time.DateOnly) + ".." + rep.To.In(time.UTC).Format(time.DateOnly)
		}
		out = append(out, row(r, p))
	}
	t := rep.Total
	t.DestinationType = ""
	return append(out, row(t, "total"))
}

// ExportBilling builds the billing report of f as a table (BillingTable)
// and audits the export with format.
func (s *Store) ExportBilling(ctx context.Context, actor, format string, f BillingFilter) ([][]string, error) {
	if format != tables.FormatCSV && format != tables.FormatXLSX {
		return nil, fmt.Errorf("%w: format must be csv or xlsx", store.ErrInvalid)
	}
	rep, err := s.Billing(ctx, f)
	if err != nil {
		return nil, err
	}
	tb := BillingTable(rep)
	detail := fmt.Sprintf("format=%s from=%s to=%s period=%s block=%s rows=%d", format, rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339),
		rep.Period, f.Block, len(rep.Rows))
	if err := s.core.Audit(ctx, actor, "export.billing", "billing", detail); err != nil {
		return nil, err
	}
	return tb, nil
}
