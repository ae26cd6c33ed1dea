package money

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/ledger"
)

// AccountSummary is one person's account as the accounts list shows it:
// the balance is the sum of the account's ledger entries, as everywhere.
type AccountSummary struct {
	Account      string       `json:"account"` // the person's id
	PrisonNumber string       `json:"prison_number"`
	Name         string       `json:"name"`
	Block        string       `json:"block"`
	Status       string       `json:"status"`
	Balance      ledger.Money `json:"balance"`
	Entries      int64        `json:"entries"`
	LastEntry    *time.Time   `json:"last_entry,omitempty"`
}

// AccountFilter selects accounts; empty fields match everything. Query
// matches the start of a prison number or part of a name.
type AccountFilter struct {
	Query string
	Block string
	// Blocks, when not nil, restricts the list to these blocks (a block
	// officer's scope); an empty non-nil slice matches none.
	Blocks []string
	Limit  int // default 50, at most 1000
	Offset int
}

// Accounts lists the accounts of the people in prison (officers have none)
// with their balances, by prison number.
func (s *Store) Accounts(ctx context.Context, f AccountFilter) ([]AccountSummary, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	args := []any{f.Block}
	where := []string{`p.officer = 0`, `($1 = '' OR p.block = $1)`}
	if f.Blocks != nil {
		where = append(where, store.InList("p.block", f.Blocks, &args))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		args = append(args, store.LikeEscape(strings.ToLower(q))+"%", "%"+store.LikeEscape(strings.ToLower(q))+"%")
		where = append(where, fmt.Sprintf(`(LOWER(p.prison_number) LIKE $%d ESCAPE '\' OR LOWER(p.name) LIKE $%d ESCAPE '\')`, len(args)-1, len(args)))
	}
	args = append(args, f.Limit, max(f.Offset, 0))
	q := `SELECT p.id, p.prison_number, p.name, p.block, p.status,
			CAST(COALESCE(SUM(l.amount), 0) AS BIGINT), COUNT(l.id), MAX(l.at_ns)
		FROM people p LEFT JOIN ledger_entries l ON l.account = p.id
		WHERE ` + strings.Join(where, " AND ") + `
		GROUP BY p.id, p.prison_number, p.name, p.block, p.status
		ORDER BY p.prison_number` + fmt.Sprintf(` LIMIT $%d OFFSET $%d`, len(args)-1, len(args))
	rows, err := s.core.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	defer rows.Close()
	out := []AccountSummary{}
	for rows.Next() {
		var a AccountSummary
		var bal int64
		var last sql.NullInt64
		if err := rows.Scan(&a.Account, &a.PrisonNumber, &a.Name, &a.Block, &a.Status, &bal, &a.Entries, &last); err != nil {
			return nil, fmt.Errorf("store: accounts: %w", err)
		}
		a.Balance = ledger.Money(bal)
		if last.Valid {
			t := store.FromNS(last.Int64)
			a.LastEntry = &t
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	return out, nil
}
