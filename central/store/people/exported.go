package people

import (
	"context"
	"database/sql"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// The people's rules, for the batch import (central/store/tables), which
// checks every row as CreatePerson and AddContact would.

// ValidLevel checks a supervision level.
func ValidLevel(l string) error { return validLevel(l) }

// ValidStatus checks a person's status.
func ValidStatus(st string) error { return validStatus(st) }

// ValidSuspension checks a status reason and suspension end (the reason is
// optional here; the console's form requires it).
func ValidSuspension(status, reason string, until time.Time) error {
	return validSuspension(status, reason, until)
}

// ValidPIN checks a PIN: 4 to 8 digits.
func ValidPIN(p string) error { return normalizePIN(p) }

// ValidQuota checks a call quota: 0 (none of its own) to MaxCallsPerPeriod.
func ValidQuota(field string, n int) error { return validQuota(field, n) }

// AddContactTx inserts c (already validated) for c.PersonID inside tx,
// enforcing the contact limit, bumps the block's policy and audits as
// actor; it returns the person's block.
func (s *Store) AddContactTx(ctx context.Context, tx *sql.Tx, actor string, c *Contact) (string, error) {
	return s.addContactTx(ctx, tx, actor, c)
}

// Querier is what the reads below go through: the core's readers or a
// transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ReadSettings reads the prison-wide settings through q.
func ReadSettings(ctx context.Context, q Querier) (*PrisonSettings, error) {
	return readSettings(ctx, q)
}

// What the policy builder (central/ingest/policysnap) reads inside its
// snapshot's transaction.

// ReadRules reads a block's call rules ordered by level through q.
func ReadRules(ctx context.Context, q Querier, block string) ([]wire.CallRule, error) {
	return readRules(ctx, q, block)
}

// ReadGlobalNumbers reads the prison-wide number list through q.
func ReadGlobalNumbers(ctx context.Context, q Querier) ([]GlobalNumber, error) {
	return readGlobalNumbers(ctx, q)
}

// DecodeWindows reads windows as stored (JSON); empty for "" or a value
// that does not decode.
func DecodeWindows(s string) []wire.Window { return parseWindowsJSON(s) }
