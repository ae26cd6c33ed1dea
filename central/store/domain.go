package store

import (
	"context"
	"database/sql"
	"github.com/kinline/kinline/central/store/eventlog"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// What the domain packages built on the core (central/store/users, people,
// tables, reports, and the others as they move out) and the policy builder
// (central/ingest/policysnap) use: the connections, write transactions, the
// audit chain, the clock and the encodings every table shares. The domain
// packages write their SQL in the subset both databases share, as the core
// does (sqldb/dialect.go), and report errors with the core's sentinel errors, so
// callers test one set of errors whichever package answered.

// Querier is what reads go through: the readers (Reader) or a write
// transaction.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Reader returns the pool of read connections (snapshots that never block
// writers).
func (s *Store) Reader() *sql.DB { return s.r }

// ExecUnserialized runs one statement on the write connection outside a
// transaction, for a write that needs no lock against other writers (a
// session's last-seen time).
func (s *Store) ExecUnserialized(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.w.ExecContext(ctx, query, args...)
}

// InTx runs f in a write transaction and commits it; write transactions
// are serial (see central/store/sqldb). An error from f rolls back and is returned
// as it is.
func (s *Store) InTx(ctx context.Context, f func(tx *sql.Tx) error) error { return s.inTx(ctx, f) }

// AuditTx appends an entry to the audit chain inside tx, so it is kept
// exactly when the change it records is.
func (s *Store) AuditTx(ctx context.Context, tx *sql.Tx, actor, action, target, detail string) error {
	return s.audit(ctx, tx, actor, action, target, detail)
}

// Clock returns the store's clock (the wall clock, or a test's fake).
func (s *Store) Clock() clock.Clock { return s.clk }

// BlockExists answers nil when block name exists in q's view, ErrUnknownBlock
// when it does not.
func (s *Store) BlockExists(ctx context.Context, q Querier, name string) error {
	return s.blockExists(ctx, q, name)
}

// NewID returns a new random id with prefix ("u_", "p_", ...).
func NewID(prefix string) string { return newID(prefix) }

// NS is t as stored: nanoseconds since the Unix epoch.
func NS(t time.Time) int64 { return ns(t) }

// FromNS is a stored time (NS) as a UTC time.
func FromNS(v int64) time.Time { return fromNS(v) }

// BoolInt is b as stored: 1 or 0.
func BoolInt(b bool) int { return boolInt(b) }

// ValidText checks a text field: present when required, valid UTF-8 of at
// most max characters, no control characters (ErrInvalid naming field).
func ValidText(field, s string, max int, required bool) error {
	return validText(field, s, max, required)
}

// InList is "col IN ($n, ...)" over vals, appending them to args; with no
// values it is a condition that is never true.
func InList(col string, vals []string, args *[]any) string { return inList(col, vals, args) }

// BumpPolicy gives each of blocks a new policy version inside tx, from
// the global counter (so versions grow across blocks too).
func BumpPolicy(ctx context.Context, tx *sql.Tx, blocks ...string) error {
	return bumpPolicy(ctx, tx, blocks...)
}

// ValidBlockName checks a block's name (ErrInvalid).
func ValidBlockName(name string) error { return validBlockName(name) }

// AllBlocks lists every block's name inside tx.
func AllBlocks(ctx context.Context, tx *sql.Tx) ([]string, error) { return allBlocks(ctx, tx) }

// NumberMatches reports whether attr, an entry of the prison-wide number
// list, is number itself or a prefix of it ending in '*'.
func NumberMatches(attr, number string) bool { return eventlog.NumberMatches(attr, number) }

// RecordPersonBlock records inside tx that person personID is in block
// from at (NS) on.
func RecordPersonBlock(ctx context.Context, tx *sql.Tx, personID, block string, at int64) error {
	return recordPersonBlock(ctx, tx, personID, block, at)
}

// SelfBlockTx marks inside tx the person's contact with number (already
// normalized) as self-blocked, bumping the block's policy and auditing as
// actor when it was not yet; it returns the person's block ("" when the
// person has no contact with that number) and whether this call marked it.
// The event projection records a called party's self-block with it too.
func (s *Store) SelfBlockTx(ctx context.Context, tx *sql.Tx, actor, personID, number, detail string) (string, bool, error) {
	return s.selfBlockTx(ctx, tx, actor, personID, number, detail)
}

// HiddenCallTerm is the WHERE term (on calls c) that keeps hidden calls
// out of an ordinary role's search (CallFilter.ShowHidden false).
const HiddenCallTerm = hiddenCallTerm

// ReadRates reads the rates table (ordered by prefix) through q.
func ReadRates(ctx context.Context, q Querier) ([]ledger.Rate, error) { return readRates(ctx, q) }

// ReadMoneySettings reads the money settings through q (the defaults for
// those never set).
func ReadMoneySettings(ctx context.Context, q Querier) (MoneySettings, error) {
	return readMoneySettings(ctx, q)
}

// LikeEscape escapes LIKE's wildcards in s with a backslash (for
// "LIKE $n ESCAPE '\'").
func LikeEscape(s string) string { return likeEscape(s) }

// PolicyMoneyTx fills p.Money (rates, balances, quotas and the IncludedSeq
// watermark for applianceID) inside the policy's read transaction tx, and
// p.TimeZone from the settings when it is empty; p.Money stays nil while
// charging is off (SettingCharging). It stays in the core because it
// reads the projection's
// watermark (includedSeq) and the event chains' numbering.
func (s *Store) PolicyMoneyTx(ctx context.Context, tx *sql.Tx, applianceID string, p *wire.Policy) error {
	return s.policyMoney(ctx, tx, applianceID, p)
}

// CallColumns are the columns ScanCall reads, on calls c joined by
// CallJoins (the person p, the recording r and the officer o).
const CallColumns = callCols

// CallJoins joins calls c to what CallColumns read besides it.
const CallJoins = callJoins

// ScanCall scans a row of CallColumns.
func ScanCall(sc interface{ Scan(...any) error }) (*Call, error) { return scanCall(sc) }
