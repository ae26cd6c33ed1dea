package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Limits of the text an operator writes on a ledger entry.
const (
	maxReceipt = 128
	maxReason  = 500
)

// LedgerEntry is one stored line of an account's ledger.
type LedgerEntry struct {
	ID       string       `json:"id"`
	Account  string       `json:"account"`
	Kind     string       `json:"kind"`
	Amount   ledger.Money `json:"amount"` // minor units, signed
	Currency string       `json:"currency"`
	Reason   string       `json:"reason,omitempty"`
	Receipt  string       `json:"receipt,omitempty"`
	Ref      string       `json:"ref,omitempty"`
	At       time.Time    `json:"at"`
	Origin   string       `json:"origin"` // "central" or the appliance id
	// ApplianceID and Seq name the event an appliance's entry came from.
	ApplianceID string    `json:"appliance_id,omitempty"`
	Seq         uint64    `json:"seq,omitempty"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Created     time.Time `json:"created"`
}

func (e *LedgerEntry) entry() ledger.Entry {
	return ledger.Entry{ID: e.ID, Account: e.Account, Kind: ledger.Kind(e.Kind), Amount: e.Amount, Reason: e.Reason,
		Receipt: e.Receipt, Ref: e.Ref, At: e.At, Origin: e.Origin}
}

const ledgerCols = `l.id, l.account, l.kind, l.amount, l.currency, l.reason, l.receipt, l.ref, l.at_ns, l.origin,
	l.appliance_id, l.seq, l.created_by, l.created_ns`

// ledgerOrder orders entries as ledger.Reconcile does: by time, credits
// before debits at the same instant, then by id.
const ledgerOrder = ` ORDER BY l.at_ns, CASE WHEN l.amount > 0 THEN 0 ELSE 1 END, l.id`

func scanLedger(sc interface{ Scan(...any) error }) (*LedgerEntry, error) {
	var e LedgerEntry
	var at, created, seq int64
	if err := sc.Scan(&e.ID, &e.Account, &e.Kind, &e.Amount, &e.Currency, &e.Reason, &e.Receipt, &e.Ref, &at, &e.Origin,
		&e.ApplianceID, &seq, &e.CreatedBy, &created); err != nil {
		return nil, err
	}
	e.At, e.Created, e.Seq = store.FromNS(at), store.FromNS(created), uint64(seq)
	return &e, nil
}

func readLedger(ctx context.Context, q store.Querier, where string, args ...any) ([]LedgerEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+ledgerCols+` FROM ledger_entries l `+where+ledgerOrder, args...)
	if err != nil {
		return nil, fmt.Errorf("store: ledger: %w", err)
	}
	defer rows.Close()
	out := []LedgerEntry{}
	for rows.Next() {
		e, err := scanLedger(rows)
		if err != nil {
			return nil, fmt.Errorf("store: ledger: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ledger: %w", err)
	}
	return out, nil
}

// Recharge credits account (a person id) with amount (> 0), paid in with
// receipt (unique across the ledger: a receipt entered twice is
// store.ErrConflict). It returns the entry and the person's block, whose policy
// version it bumps so the appliance gets the new balance at once.
func (s *Store) Recharge(ctx context.Context, actor, account string, amount ledger.Money, receipt string) (*LedgerEntry, string, error) {
	if receipt == "" || len(receipt) > maxReceipt {
		return nil, "", fmt.Errorf("%w: a recharge needs a receipt (1 to %d characters)", store.ErrInvalid, maxReceipt)
	}
	if amount <= 0 {
		return nil, "", fmt.Errorf("%w: a recharge needs a positive amount", store.ErrInvalid)
	}
	return s.post(ctx, actor, LedgerEntry{Account: account, Kind: wire.LedgerRecharge, Amount: amount, Receipt: receipt})
}

// Refund credits account with amount (> 0) for reason (required); callRef,
// when set, names the refunded call, which must be the account's, and the
// refunds of one call never exceed what it was charged.
func (s *Store) Refund(ctx context.Context, actor, account string, amount ledger.Money, reason, callRef string) (*LedgerEntry, string, error) {
	if reason == "" || len(reason) > maxReason {
		return nil, "", fmt.Errorf("%w: a refund needs a reason (1 to %d characters)", store.ErrInvalid, maxReason)
	}
	if amount <= 0 {
		return nil, "", fmt.Errorf("%w: a refund needs a positive amount", store.ErrInvalid)
	}
	return s.post(ctx, actor, LedgerEntry{Account: account, Kind: wire.LedgerRefund, Amount: amount, Reason: reason, Ref: callRef})
}

// Adjust corrects account by a signed, non-zero amount for reason
// (required).
func (s *Store) Adjust(ctx context.Context, actor, account string, amount ledger.Money, reason string) (*LedgerEntry, string, error) {
	if reason == "" || len(reason) > maxReason {
		return nil, "", fmt.Errorf("%w: an adjustment needs a reason (1 to %d characters)", store.ErrInvalid, maxReason)
	}
	if amount == 0 {
		return nil, "", fmt.Errorf("%w: an adjustment needs a non-zero amount", store.ErrInvalid)
	}
	return s.post(ctx, actor, LedgerEntry{Account: account, Kind: wire.LedgerAdjustment, Amount: amount, Reason: reason})
}

// post appends a central entry: validated (ledger.Entry.Validate), in the
// prison's currency, audited, with the person's block policy bumped, all
// in one transaction.
func (s *Store) post(ctx context.Context, actor string, e LedgerEntry) (*LedgerEntry, string, error) {
	var block string
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		set, err := store.ReadMoneySettings(ctx, tx)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, e.Account).Scan(&block)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %q (no such person)", store.ErrNotFound, e.Account)
		}
		if err != nil {
			return fmt.Errorf("store: ledger account: %w", err)
		}
		now := s.core.Clock().Now()
		e.ID, e.Currency, e.At, e.Origin, e.CreatedBy, e.Created = store.NewID("led_"), set.Currency, store.FromNS(store.NS(now)), ledger.OriginCentral, actor, store.FromNS(store.NS(now))
		if err := e.entry().Validate(); err != nil {
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
		switch {
		case e.Receipt != "":
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_entries WHERE receipt = $1`, e.Receipt).Scan(&n); err != nil {
				return fmt.Errorf("store: check receipt: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("%w: receipt %q is already recorded", store.ErrConflict, e.Receipt)
			}
		case e.Kind == wire.LedgerRefund && e.Ref != "":
			if err := checkRefund(ctx, tx, e); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (id, account, kind, amount, currency, reason, receipt, ref, at_ns, origin, created_by, created_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.ID, e.Account, e.Kind, int64(e.Amount), e.Currency, e.Reason, e.Receipt, e.Ref, store.NS(e.At), e.Origin, actor, store.NS(e.Created)); err != nil {
			return fmt.Errorf("store: write ledger entry: %w", err)
		}
		detail := fmt.Sprintf("id=%s amount=%s %s", e.ID, set.Cur().Format(e.Amount), e.Currency)
		if e.Receipt != "" {
			detail += fmt.Sprintf(" receipt=%q", e.Receipt)
		}
		if e.Reason != "" {
			detail += fmt.Sprintf(" reason=%q", e.Reason)
		}
		if e.Ref != "" {
			detail += " call=" + e.Ref
		}
		if err := s.core.AuditTx(ctx, tx, actor, "ledger."+e.Kind, "account:"+e.Account, detail); err != nil {
			return err
		}
		return store.BumpPolicy(ctx, tx, block)
	})
	if err != nil {
		return nil, "", err
	}
	return &e, block, nil
}

// checkRefund: the refunded call is the account's, and its refunds stay
// within what it was charged (its debits, or its call record's cost while
// the debit has not arrived).
func checkRefund(ctx context.Context, tx *sql.Tx, e LedgerEntry) error {
	var person string
	var cost int64
	err := tx.QueryRowContext(ctx, `SELECT person_id, cost FROM calls WHERE call_id = $1`, e.Ref).Scan(&person, &cost)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: refund of call %q: no such call", store.ErrInvalid, e.Ref)
	}
	if err != nil {
		return fmt.Errorf("store: refund call: %w", err)
	}
	if person != e.Account {
		return fmt.Errorf("%w: refund of call %q: the call is not this account's", store.ErrInvalid, e.Ref)
	}
	var debited, refunded int64
	if err := tx.QueryRowContext(ctx, `SELECT
			COALESCE(-SUM(CASE WHEN kind = $3 THEN amount ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = $4 THEN amount ELSE 0 END), 0)
		FROM ledger_entries WHERE account = $1 AND ref = $2`, e.Account, e.Ref, wire.LedgerCallDebit, wire.LedgerRefund).Scan(&debited, &refunded); err != nil {
		return fmt.Errorf("store: refund call: %w", err)
	}
	charged := max(debited, cost)
	if refunded+int64(e.Amount) > charged {
		return fmt.Errorf("%w: refund of call %q: %d would exceed the %d charged (%d already refunded, minor units)",
			store.ErrInvalid, e.Ref, int64(e.Amount), charged, refunded)
	}
	return nil
}

// Balance is the sum of every entry of account.
func (s *Store) Balance(ctx context.Context, account string) (ledger.Money, error) {
	var b int64
	if err := s.core.Reader().QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = $1`, account).Scan(&b); err != nil {
		return 0, fmt.Errorf("store: balance: %w", err)
	}
	return ledger.Money(b), nil
}

// StatementLine is an entry with the account's balance after it.
type StatementLine struct {
	LedgerEntry
	Balance ledger.Money `json:"balance"`
	// Withheld: the entry names a hidden call the reader may not see; its
	// Ref is cleared and its Reason is WithheldReason (the amount stays,
	// so the statement still adds up).
	Withheld bool `json:"withheld,omitempty"`
}

// WithheldReason is the Reason of a statement line whose call is hidden
// from the reader.
const WithheldReason = "a call (details withheld)"

// Statement is an account's ledger over a period.
type Statement struct {
	Account      string          `json:"account"`
	PrisonNumber string          `json:"prison_number"`
	Name         string          `json:"name"`
	Block        string          `json:"block"`
	Currency     string          `json:"currency"`
	Digits       int             `json:"digits"`
	From         *time.Time      `json:"from,omitempty"`
	To           *time.Time      `json:"to,omitempty"`
	Opening      ledger.Money    `json:"opening"` // balance before From
	Closing      ledger.Money    `json:"closing"` // balance after the last line
	Balance      ledger.Money    `json:"balance"` // balance over every entry
	Lines        []StatementLine `json:"lines"`
}

// Statement returns account's entries with At in [from, to) (a zero bound
// is open), in ledger order, each with the running balance after it,
// starting from the balance of the entries before from. It reads one
// snapshot. Unless withHidden (a reader who may see hidden calls), a line
// naming a hidden call is Withheld.
func (s *Store) Statement(ctx context.Context, account string, from, to time.Time, withHidden bool) (*Statement, error) {
	tx, err := s.core.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: statement: %w", err)
	}
	defer tx.Rollback()
	st := &Statement{Account: account, Lines: []StatementLine{}}
	err = tx.QueryRowContext(ctx, `SELECT prison_number, name, block FROM people WHERE id = $1`, account).Scan(&st.PrisonNumber, &st.Name, &st.Block)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: account %q (no such person)", store.ErrNotFound, account)
	}
	if err != nil {
		return nil, fmt.Errorf("store: statement: %w", err)
	}
	set, err := store.ReadMoneySettings(ctx, tx)
	if err != nil {
		return nil, err
	}
	st.Currency, st.Digits = set.Currency, set.Digits
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !from.IsZero() {
		lo = store.NS(from)
		f := from.UTC()
		st.From = &f
	}
	if !to.IsZero() {
		hi = store.NS(to)
		t := to.UTC()
		st.To = &t
	}
	var open, all int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN at_ns < $2 THEN amount ELSE 0 END), 0), COALESCE(SUM(amount), 0)
		FROM ledger_entries WHERE account = $1`, account, lo).Scan(&open, &all); err != nil {
		return nil, fmt.Errorf("store: statement: %w", err)
	}
	st.Opening, st.Balance = ledger.Money(open), ledger.Money(all)
	es, err := readLedger(ctx, tx, `WHERE l.account = $1 AND l.at_ns >= $2 AND l.at_ns < $3`, account, lo, hi)
	if err != nil {
		return nil, err
	}
	hidden := map[string]bool{}
	if !withHidden {
		if hidden, err = hiddenRefs(ctx, tx, account, lo, hi); err != nil {
			return nil, err
		}
	}
	run := st.Opening
	for _, e := range es {
		run += e.Amount
		l := StatementLine{LedgerEntry: e, Balance: run}
		if e.Ref != "" && hidden[e.Ref] {
			l.Ref, l.Reason, l.Withheld = "", WithheldReason, true
		}
		st.Lines = append(st.Lines, l)
	}
	st.Closing = run
	return st, nil
}

// hiddenRefs is the set of the hidden calls that account's entries with
// at_ns in [lo, hi) name.
func hiddenRefs(ctx context.Context, tx *sql.Tx, account string, lo, hi int64) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT c.call_id FROM ledger_entries l JOIN calls c ON c.call_id = l.ref
		WHERE l.account = $1 AND l.at_ns >= $2 AND l.at_ns < $3 AND l.ref <> '' AND NOT (`+store.HiddenCallTerm+`)`, account, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: statement: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: statement: %w", err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: statement: %w", err)
	}
	return out, nil
}

// AccountReport is the reconciliation of one account: ledger.Reconcile's
// line-by-line report of its entries against the balance the database sums
// independently, with who the account is.
type AccountReport struct {
	Account      string       `json:"account"`
	PrisonNumber string       `json:"prison_number"`
	Name         string       `json:"name"`
	Block        string       `json:"block"`
	Credits      ledger.Money `json:"credits"`
	Debits       ledger.Money `json:"debits"` // positive
	Balance      ledger.Money `json:"balance"`
	// Stored is SUM(amount) computed by the database; Difference is
	// Stored - Balance and must be 0.
	Stored     ledger.Money `json:"stored"`
	Difference ledger.Money `json:"difference"`
	OK         bool         `json:"ok"`
	Overspends []Overspend  `json:"overspends"`
}

// Overspend is a call debit that took (or kept) an account below zero:
// an appliance charged a call central's balance did not cover, typically
// while it was offline.
type Overspend struct {
	EntryID     string       `json:"entry_id"`
	ApplianceID string       `json:"appliance_id"`
	CallID      string       `json:"call_id"`
	At          time.Time    `json:"at"`
	Debit       ledger.Money `json:"debit"`  // positive
	Before      ledger.Money `json:"before"` // balance before the debit
	After       ledger.Money `json:"after"`  // and after it (< 0)
	Amount      ledger.Money `json:"amount"` // how much of the debit was not covered
	Received    time.Time    `json:"received"`
}

// Reconciliation is the report over every account.
type Reconciliation struct {
	Currency   string          `json:"currency"`
	Digits     int             `json:"digits"`
	Generated  time.Time       `json:"generated"`
	Accounts   []AccountReport `json:"accounts"`
	Credits    ledger.Money    `json:"credits"`
	Debits     ledger.Money    `json:"debits"`
	Balance    ledger.Money    `json:"balance"`
	OK         bool            `json:"ok"`
	Overspends int             `json:"overspends"`
}

// Reconcile builds the reconciliation report from one snapshot: per
// account (every person with entries or, with blocks set, the people of
// those blocks), credits minus debits line by line (ledger.ReconcileAll)
// against the database's own sum, and the overspends. blocks nil means
// every account; an empty non-nil slice means none.
func (s *Store) Reconcile(ctx context.Context, blocks []string) (*Reconciliation, error) {
	tx, err := s.core.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: reconcile: %w", err)
	}
	defer tx.Rollback()
	set, err := store.ReadMoneySettings(ctx, tx)
	if err != nil {
		return nil, err
	}
	rep := &Reconciliation{Currency: set.Currency, Digits: set.Digits, Generated: s.core.Clock().Now().UTC(), Accounts: []AccountReport{}, OK: true}
	var args []any
	scope := "1 = 1"
	if blocks != nil {
		scope = store.InList("p.block", blocks, &args)
	}
	type who struct{ number, name, block string }
	people := map[string]who{}
	stored := map[string]ledger.Money{}
	rows, err := tx.QueryContext(ctx, `SELECT l.account, COALESCE(p.prison_number, ''), COALESCE(p.name, ''), COALESCE(p.block, ''), SUM(l.amount)
		FROM ledger_entries l LEFT JOIN people p ON p.id = l.account
		WHERE `+scope+` GROUP BY l.account, p.prison_number, p.name, p.block`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: reconcile: %w", err)
	}
	for rows.Next() {
		var a string
		var w who
		var sum int64
		if err := rows.Scan(&a, &w.number, &w.name, &w.block, &sum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: reconcile: %w", err)
		}
		people[a], stored[a] = w, ledger.Money(sum)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: reconcile: %w", err)
	}
	es, err := readLedger(ctx, tx, `LEFT JOIN people p ON p.id = l.account WHERE `+scope, args...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*LedgerEntry, len(es))
	entries := make([]ledger.Entry, 0, len(es))
	for i := range es {
		byID[es[i].ID] = &es[i]
		entries = append(entries, es[i].entry())
	}
	for _, r := range ledger.ReconcileAll(entries, stored) {
		w := people[r.Account]
		ar := AccountReport{Account: r.Account, PrisonNumber: w.number, Name: w.name, Block: w.block,
			Credits: r.Credits, Debits: r.Debits, Balance: r.Balance, Stored: r.Reported, Difference: r.Difference,
			OK: r.OK(), Overspends: []Overspend{}}
		for _, o := range r.Overspend {
			os := Overspend{EntryID: o.Entry.ID, CallID: o.Entry.Ref, At: o.Entry.At, Debit: -o.Entry.Amount,
				Before: o.Before, After: o.After, Amount: o.Amount}
			if le := byID[o.Entry.ID]; le != nil {
				os.ApplianceID, os.Received = le.ApplianceID, le.Created
			}
			ar.Overspends = append(ar.Overspends, os)
		}
		rep.Credits += ar.Credits
		rep.Debits += ar.Debits
		rep.Balance += ar.Balance
		rep.Overspends += len(ar.Overspends)
		rep.OK = rep.OK && ar.OK
		rep.Accounts = append(rep.Accounts, ar)
	}
	return rep, nil
}
