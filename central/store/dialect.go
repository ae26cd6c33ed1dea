package store

// The two databases the store runs on.
//
// The store's SQL is written once, in the subset SQLite and PostgreSQL
// share: BIGINT Unix nanoseconds for times, INTEGER 0/1 for booleans, TEXT
// for everything else; $N parameters; ON CONFLICT ... DO NOTHING/UPDATE;
// RETURNING; COALESCE; CAST(x AS BIGINT) rather than x::bigint; subqueries
// in FROM with an alias; every column of a GROUP BY query grouped or
// aggregated; ORDER BY on everything whose order matters (PostgreSQL keeps
// no implicit order); and case-insensitive matching written as
// LOWER(column) LIKE <pattern lowered in Go> ESCAPE '\' (see likeEscape),
// because SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
//
// What cannot be shared is in dialect: the events table's arrival order
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

// dialect is what differs between the databases.
type dialect struct {
	name string
	// positional: a generated multi-row statement's parameters are "?":
	// SQLite binds those positionally, which modernc.org/sqlite does far
	// faster than "$N" names; PostgreSQL only knows "$N".
	positional bool
	// jsonRows is the CTE r(v) over the rows of the JSON array in $1.
	jsonRows string
	// castInts wraps integer columns read from JSON in CAST(... AS
	// BIGINT): SQLite's ->> yields an INTEGER already, PostgreSQL's text.
	castInts bool
	// notIndexed is SQLite's NOT INDEXED hint ("" on PostgreSQL, which
	// has no such hint and plans the query well without it).
	notIndexed string
	// lockWrites runs first in every write transaction ("" on SQLite,
	// whose writer connection begins IMMEDIATE).
	lockWrites string
	// after holds statements run, on this database only, after
	// migrations[i] in the same transaction (keyed by i+1, the version
	// they belong to): the identity column of events on PostgreSQL, the
	// audit log's append-only triggers on each.
	after map[int][]string
}

var sqliteDialect = dialect{
	name:       DriverSQLite,
	positional: true,
	jsonRows:   `WITH r(v) AS MATERIALIZED (SELECT jsonb(value) FROM json_each($1)) `,
	notIndexed: ` NOT INDEXED`,
	after:      map[int][]string{auditGuardVersion: auditGuardSQLite},
}

// writeLockKey is the first key of the advisory lock that serializes
// PostgreSQL write transactions ("kinl"); the second is the hash of the
// schema, so separate installations in one database do not wait for each
// other.
const writeLockKey = 0x6b696e6c

var postgresDialect = dialect{
	name:       DriverPostgres,
	jsonRows:   `WITH r(v) AS MATERIALIZED (SELECT value FROM jsonb_array_elements(CAST($1 AS jsonb))) `,
	castInts:   true,
	lockWrites: `SELECT pg_advisory_xact_lock(` + strconv.Itoa(writeLockKey) + `, hashtext(current_schema()))`,
	after: map[int][]string{
		// SQLite numbers every row of events (rowid) in insertion order;
		// PostgreSQL gets the same as an identity column, indexed for
		// the projection's "rowid > cursor ORDER BY rowid".
		1: {
			`ALTER TABLE events ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY`,
			`CREATE UNIQUE INDEX events_rowid ON events (rowid)`,
		},
		auditGuardVersion: auditGuardPostgres,
	},
}

// param writes the i-th (1-based) parameter of a generated statement.
func (d *dialect) param(q *strings.Builder, i int) {
	if d.positional {
		q.WriteByte('?')
		return
	}
	q.WriteByte('$')
	q.WriteString(strconv.Itoa(i))
}

// jsonCol writes column c of the JSON row v; integer says the target
// column is an integer.
func (d *dialect) jsonCol(q *strings.Builder, c int, integer bool) {
	if integer && d.castInts {
		q.WriteString("CAST(v ->> ")
		q.WriteString(strconv.Itoa(c))
		q.WriteString(" AS BIGINT)")
		return
	}
	q.WriteString("v ->> ")
	q.WriteString(strconv.Itoa(c))
}
