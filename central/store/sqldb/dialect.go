// Package sqldb is the lowest layer of central's store: the two
// databases it runs on, how they are opened, and the dialect fragments
// that differ between them. It imports nothing of central/store.
package sqldb

// The two databases the store runs on.
//
// The store's SQL is written once, in the subset SQLite and PostgreSQL
// share: BIGINT Unix nanoseconds for times, INTEGER 0/1 for booleans, TEXT
// for everything else; $N parameters; ON CONFLICT ... DO NOTHING/UPDATE;
// RETURNING; COALESCE; CAST(x AS BIGINT) rather than x::bigint; subqueries
// in FROM with an alias; every column of a GROUP BY query grouped or
// aggregated; ORDER BY on everything whose order matters (PostgreSQL keeps
// no implicit order); and case-insensitive matching written as
// LOWER(column) LIKE <pattern lowered in Go> ESCAPE '\' (see the core's likeEscape),
// because SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
//
// What cannot be shared is in Dialect (and, for the schema, in
// central/store/schema): the events table's arrival order
// (SQLite's implicit rowid, a PostgreSQL identity column named rowid), the
// placeholders of the generated multi-row INSERTs, turning a JSON array
// parameter into rows, a planner hint, and how write transactions are
// serialized. SQLite allows one writer at a time (BEGIN IMMEDIATE on the
// single writer connection); on PostgreSQL every write transaction first
// takes a transaction-scoped advisory lock, so writers are serial there as
// well, also across several central processes sharing the database. That
// keeps the invariants SQLite gave for free (events.rowid grows in commit
// order, which the projection cursor relies on; one audit chain; counters
// without gaps) and means no write transaction can fail with a
// serialization error or deadlock that would have to be retried. Readers
// run in REPEATABLE READ READ ONLY transactions on PostgreSQL, the
// snapshot a SQLite WAL reader sees.

import (
	"strconv"
	"strings"
)

// Database drivers Open accepts (Database.Driver).
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Dialect is what differs between the databases.
type Dialect struct {
	Name string
	// Positional: a generated multi-row statement's parameters are "?":
	// SQLite binds those positionally, which modernc.org/sqlite does far
	// faster than "$N" names; PostgreSQL only knows "$N".
	Positional bool
	// JSONRows is the CTE r(v) over the rows of the JSON array in $1.
	JSONRows string
	// CastInts wraps integer columns read from JSON in CAST(... AS
	// BIGINT): SQLite's ->> yields an INTEGER already, PostgreSQL's text.
	CastInts bool
	// NotIndexed is SQLite's NOT INDEXED hint ("" on PostgreSQL, which
	// has no such hint and plans the query well without it).
	NotIndexed string
	// LockWrites runs first in every write transaction ("" on SQLite,
	// whose writer connection begins IMMEDIATE).
	LockWrites string
}

// SQLite is the dialect of SQLite.
var SQLite = Dialect{
	Name:       DriverSQLite,
	Positional: true,
	JSONRows:   `WITH r(v) AS MATERIALIZED (SELECT jsonb(value) FROM json_each($1)) `,
	NotIndexed: ` NOT INDEXED`,
}

// writeLockKey is the first key of the advisory lock that serializes
// PostgreSQL write transactions ("kinl"); the second is the hash of the
// schema, so separate installations in one database do not wait for each
// other.
const writeLockKey = 0x6b696e6c

// Postgres is the dialect of PostgreSQL.
var Postgres = Dialect{
	Name:       DriverPostgres,
	JSONRows:   `WITH r(v) AS MATERIALIZED (SELECT value FROM jsonb_array_elements(CAST($1 AS jsonb))) `,
	CastInts:   true,
	LockWrites: `SELECT pg_advisory_xact_lock(` + strconv.Itoa(writeLockKey) + `, hashtext(current_schema()))`,
}

// Param writes the i-th (1-based) parameter of a generated statement.
func (d *Dialect) Param(q *strings.Builder, i int) {
	if d.Positional {
		q.WriteByte('?')
		return
	}
	q.WriteByte('$')
	q.WriteString(strconv.Itoa(i))
}

// JSONCol writes column c of the JSON row v; integer says the target
// column is an integer.
func (d *Dialect) JSONCol(q *strings.Builder, c int, integer bool) {
	if integer && d.CastInts {
		q.WriteString("CAST(v ->> ")
		q.WriteString(strconv.Itoa(c))
		q.WriteString(" AS BIGINT)")
		return
	}
	q.WriteString("v ->> ")
	q.WriteString(strconv.Itoa(c))
}
