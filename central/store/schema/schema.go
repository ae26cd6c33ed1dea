// Package schema is central's database schema: the numbered migrations,
// the statements only one database runs after them, and applying them.
// The core (central/store) migrates on open; nothing here imports it.
package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/kinline/kinline/central/store/sqldb"
)

// Migrations are applied in order; Migrations[i] takes the schema from
// version i to i+1. Never edit a released migration: append a new one.
//
// Times are BIGINT Unix nanoseconds (UTC), booleans INTEGER 0/1, hashes hex
// TEXT, so the same statements run on SQLite and PostgreSQL.
var Migrations = [][]string{
	// 1: initial schema.
	{
		`CREATE TABLE counters (
			name  TEXT PRIMARY KEY,
			value BIGINT NOT NULL
		)`,
		`INSERT INTO counters (name, value) VALUES ('policy_version', 0), ('audit', 0)`,
		`CREATE TABLE blocks (
			name           TEXT PRIMARY KEY,
			policy_version BIGINT NOT NULL,
			created_ns     BIGINT NOT NULL
		)`,
		`CREATE TABLE appliances (
			id                     TEXT PRIMARY KEY,
			block                  TEXT REFERENCES blocks(name),
			last_seen_ns           BIGINT,
			policy_version_applied BIGINT NOT NULL DEFAULT 0,
			software               TEXT NOT NULL DEFAULT '',
			status_seq             BIGINT NOT NULL DEFAULT 0,
			acked_seq              BIGINT NOT NULL DEFAULT 0,
			gap_from               BIGINT NOT NULL DEFAULT 0,
			created_ns             BIGINT NOT NULL
		)`,
		`CREATE INDEX appliances_block ON appliances (block)`,
		`CREATE TABLE people (
			id            TEXT PRIMARY KEY,
			prison_number TEXT NOT NULL UNIQUE,
			name          TEXT NOT NULL,
			block         TEXT NOT NULL REFERENCES blocks(name),
			status        TEXT NOT NULL,
			language      TEXT NOT NULL DEFAULT '',
			pin_hash      TEXT NOT NULL DEFAULT '',
			created_ns    BIGINT NOT NULL,
			updated_ns    BIGINT NOT NULL
		)`,
		`CREATE INDEX people_block ON people (block, status)`,
		`CREATE TABLE cards (
			uid        TEXT PRIMARY KEY,
			person_id  TEXT NOT NULL REFERENCES people(id),
			created_ns BIGINT NOT NULL
		)`,
		`CREATE INDEX cards_person ON cards (person_id)`,
		`CREATE TABLE contacts (
			id           TEXT PRIMARY KEY,
			person_id    TEXT NOT NULL REFERENCES people(id),
			number       TEXT NOT NULL,
			name         TEXT NOT NULL,
			relationship TEXT NOT NULL,
			status       TEXT NOT NULL,
			privileged   INTEGER NOT NULL DEFAULT 0,
			created_ns   BIGINT NOT NULL,
			UNIQUE (person_id, number)
		)`,
		`CREATE INDEX contacts_number ON contacts (number)`,
		`CREATE TABLE events (
			appliance_id TEXT NOT NULL REFERENCES appliances(id),
			seq          BIGINT NOT NULL,
			type         TEXT NOT NULL,
			time_ns      BIGINT NOT NULL,
			payload      TEXT NOT NULL,
			hash         TEXT NOT NULL,
			prev_hash    TEXT NOT NULL,
			received_ns  BIGINT NOT NULL,
			PRIMARY KEY (appliance_id, seq)
		)`,
		`CREATE TABLE calls (
			call_id          TEXT PRIMARY KEY,
			appliance_id     TEXT NOT NULL REFERENCES appliances(id),
			seq              BIGINT NOT NULL,
			block            TEXT NOT NULL DEFAULT '',
			person_id        TEXT NOT NULL DEFAULT '',
			prison_number    TEXT NOT NULL DEFAULT '',
			card_uid         TEXT NOT NULL DEFAULT '',
			terminal         TEXT NOT NULL DEFAULT '',
			number           TEXT NOT NULL DEFAULT '',
			start_ns         BIGINT NOT NULL,
			answer_ns        BIGINT,
			end_ns           BIGINT NOT NULL,
			disposition      TEXT NOT NULL,
			reason           TEXT NOT NULL DEFAULT '',
			recording_id     TEXT NOT NULL DEFAULT '',
			recording_sha256 TEXT NOT NULL DEFAULT '',
			recording_bytes  BIGINT NOT NULL DEFAULT 0,
			recording_format TEXT NOT NULL DEFAULT '',
			recording_path   TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX calls_start ON calls (start_ns)`,
		`CREATE INDEX calls_person ON calls (person_id, start_ns)`,
		`CREATE INDEX calls_number ON calls (number, start_ns)`,
		`CREATE TABLE recordings (
			call_id      TEXT PRIMARY KEY,
			appliance_id TEXT NOT NULL,
			sha256       TEXT NOT NULL,
			bytes        BIGINT NOT NULL,
			format       TEXT NOT NULL,
			path         TEXT NOT NULL,
			stored_ns    BIGINT NOT NULL
		)`,
		`CREATE TABLE alarms (
			id           TEXT PRIMARY KEY,
			appliance_id TEXT NOT NULL,
			origin       TEXT NOT NULL,
			seq          BIGINT NOT NULL DEFAULT 0,
			time_ns      BIGINT NOT NULL,
			code         TEXT NOT NULL,
			source       TEXT NOT NULL,
			message      TEXT NOT NULL,
			cleared_ns   BIGINT
		)`,
		`CREATE INDEX alarms_open ON alarms (appliance_id, code, cleared_ns)`,
		`CREATE TABLE card_taps (
			appliance_id TEXT NOT NULL,
			seq          BIGINT NOT NULL,
			time_ns      BIGINT NOT NULL,
			reader       TEXT NOT NULL,
			terminal     TEXT NOT NULL,
			uid          TEXT NOT NULL,
			known        INTEGER NOT NULL,
			PRIMARY KEY (appliance_id, seq)
		)`,
		`CREATE TABLE audit_log (
			id      BIGINT PRIMARY KEY,
			time_ns BIGINT NOT NULL,
			actor   TEXT NOT NULL,
			action  TEXT NOT NULL,
			target  TEXT NOT NULL,
			detail  TEXT NOT NULL
		)`,
		`CREATE TABLE api_tokens (
			sha256     TEXT PRIMARY KEY,
			name       TEXT NOT NULL UNIQUE,
			role       TEXT NOT NULL,
			created_ns BIGINT NOT NULL
		)`,
		`CREATE TABLE sessions (
			sha256     TEXT PRIMARY KEY,
			actor      TEXT NOT NULL,
			role       TEXT NOT NULL,
			expires_ns BIGINT NOT NULL
		)`,
	},
	// 2: dual authorization. People get a supervision level, a per-person
	// confirmation override and the officer flag; blocks get call rules per
	// supervision level; calls name the officer who confirmed or ended them;
	// officer panel actions are projected from the event stream.
	{
		`ALTER TABLE people ADD COLUMN supervision_level TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE people ADD COLUMN confirm TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE people ADD COLUMN confirm_window_s INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE people ADD COLUMN officer INTEGER NOT NULL DEFAULT 0`,
		`CREATE TABLE call_rules (
			block                 TEXT NOT NULL REFERENCES blocks(name),
			level                 TEXT NOT NULL,
			confirm               TEXT NOT NULL,
			confirm_window_s      INTEGER NOT NULL,
			officer_tap_ends_call INTEGER NOT NULL,
			PRIMARY KEY (block, level)
		)`,
		`ALTER TABLE calls ADD COLUMN officer_id TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE calls ADD COLUMN confirm_method TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE calls ADD COLUMN ended_by TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX calls_officer ON calls (officer_id, start_ns)`,
		`CREATE TABLE officer_actions (
			appliance_id TEXT NOT NULL,
			seq          BIGINT NOT NULL,
			time_ns      BIGINT NOT NULL,
			action       TEXT NOT NULL,
			officer_id   TEXT NOT NULL,
			call_id      TEXT NOT NULL,
			terminal     TEXT NOT NULL,
			PRIMARY KEY (appliance_id, seq)
		)`,
		`CREATE INDEX officer_actions_time ON officer_actions (time_ns)`,
	},
	// 3: asynchronous projection (eventlog/project.go). Events are acknowledged once
	// stored; calls, card taps, officer actions, alarms and status are
	// projected from the events table in arrival (rowid) order by a later
	// transaction that also advances these cursors. Databases migrated from
	// 2 projected every stored event synchronously, so both cursors start
	// at the newest event.
	{
		`ALTER TABLE appliances ADD COLUMN projected_rowid BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE appliances ADD COLUMN projected_seq BIGINT NOT NULL DEFAULT 0`,
		`UPDATE appliances SET
			projected_rowid = COALESCE((SELECT MAX(e.rowid) FROM events e WHERE e.appliance_id = appliances.id), 0),
			projected_seq = COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.appliance_id = appliances.id), 0)`,
		`INSERT INTO counters (name, value) VALUES ('projected_rowid', COALESCE((SELECT MAX(rowid) FROM events), 0))`,
	},
	// 4: console users and the hash-chained audit log. Users have a role,
	// block scopes (JSON array, for block officers), an argon2id password
	// hash, an optional TOTP secret and a lockout state. Sessions name
	// their user, whether the second factor was verified, their CSRF token
	// and idle timeout. Audit rows carry sha256(prev_hash || canonical row);
	// rows written before this migration are chained when the store opens.
	{
		`CREATE TABLE users (
			id              TEXT PRIMARY KEY,
			username        TEXT NOT NULL UNIQUE,
			display_name    TEXT NOT NULL,
			role            TEXT NOT NULL,
			blocks          TEXT NOT NULL DEFAULT '[]',
			password_hash   TEXT NOT NULL,
			totp_secret     TEXT NOT NULL DEFAULT '',
			totp_last_step  BIGINT NOT NULL DEFAULT 0,
			disabled        INTEGER NOT NULL DEFAULT 0,
			failed_logins   INTEGER NOT NULL DEFAULT 0,
			locked_until_ns BIGINT NOT NULL DEFAULT 0,
			created_ns      BIGINT NOT NULL,
			updated_ns      BIGINT NOT NULL
		)`,
		`ALTER TABLE sessions ADD COLUMN user_id TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE sessions ADD COLUMN csrf TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE sessions ADD COLUMN idle_ns BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE sessions ADD COLUMN last_seen_ns BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT ''`,
	},
	// 5: commands central sent appliances (wire.Command) and their answers
	// (commands.go). state is "pending" until answered, then "answered";
	// a pending command past expires_ns is listed as "expired".
	{
		`CREATE TABLE commands (
			id           TEXT PRIMARY KEY,
			appliance_id TEXT NOT NULL,
			kind         TEXT NOT NULL,
			call_id      TEXT NOT NULL DEFAULT '',
			issued_ns    BIGINT NOT NULL,
			expires_ns   BIGINT NOT NULL,
			issued_by    TEXT NOT NULL,
			state        TEXT NOT NULL,
			ok           INTEGER NOT NULL DEFAULT 0,
			error        TEXT NOT NULL DEFAULT '',
			answered_ns  BIGINT
		)`,
		`CREATE INDEX commands_appliance ON commands (appliance_id, issued_ns)`,
	},
	// 6: rules, money and the console's management and review work.
	//  - settings: prison-wide key/value settings (prison name, time zone,
	//    currency and its digits, max_contacts per person).
	//  - call rules, blocks and people get schedules (windows, JSON arrays
	//    of wire.Window), durations and quotas; people a suspension reason
	//    and end.
	//  - contacts get the approval workflow (who requested and decided, when
	//    and why), identity details and the contact's own self-block.
	//  - global_numbers: the prison-wide blocked/privileged/free/hidden list.
	//  - rates and ledger_entries: money as an append-only ledger
	//    (credits written here, call debits projected from appliances'
	//    EventLedger events; (appliance_id, seq) is empty for central's).
	//  - calls get the privileged/hidden/free flags, cost and limit.
	//  - review_notes and bookmarks on calls; terminals as appliances
	//    report them.
	{
		`CREATE TABLE settings (
			name       TEXT PRIMARY KEY,
			value      TEXT NOT NULL,
			updated_ns BIGINT NOT NULL
		)`,
		`ALTER TABLE blocks ADD COLUMN windows TEXT NOT NULL DEFAULT '[]'`,
		`ALTER TABLE call_rules ADD COLUMN max_duration_s INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE call_rules ADD COLUMN calls_per_day INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE call_rules ADD COLUMN calls_per_week INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE call_rules ADD COLUMN calls_per_month INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE call_rules ADD COLUMN windows TEXT NOT NULL DEFAULT '[]'`,
		`ALTER TABLE people ADD COLUMN windows TEXT NOT NULL DEFAULT '[]'`,
		`ALTER TABLE people ADD COLUMN max_duration_s INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE people ADD COLUMN status_reason TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE people ADD COLUMN suspended_until_ns BIGINT NOT NULL DEFAULT 0`,
		`CREATE INDEX people_name ON people (name)`,
		`ALTER TABLE contacts ADD COLUMN identity TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE contacts ADD COLUMN requested_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE contacts ADD COLUMN decided_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE contacts ADD COLUMN decided_ns BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE contacts ADD COLUMN decision_reason TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE contacts ADD COLUMN self_blocked INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE contacts ADD COLUMN updated_ns BIGINT NOT NULL DEFAULT 0`,
		`CREATE TABLE global_numbers (
			number     TEXT NOT NULL,
			kind       TEXT NOT NULL,
			note       TEXT NOT NULL,
			created_by TEXT NOT NULL,
			created_ns BIGINT NOT NULL,
			PRIMARY KEY (number, kind)
		)`,
		`CREATE TABLE rates (
			prefix           TEXT PRIMARY KEY,
			destination_type TEXT NOT NULL,
			name             TEXT NOT NULL DEFAULT '',
			per_minute       BIGINT NOT NULL,
			billing_unit_s   INTEGER NOT NULL,
			connection_fee   BIGINT NOT NULL DEFAULT 0,
			rounding         TEXT NOT NULL DEFAULT '',
			updated_by       TEXT NOT NULL,
			updated_ns       BIGINT NOT NULL
		)`,
		`CREATE TABLE ledger_entries (
			id           TEXT PRIMARY KEY,
			account      TEXT NOT NULL,
			kind         TEXT NOT NULL,
			amount       BIGINT NOT NULL,
			currency     TEXT NOT NULL,
			reason       TEXT NOT NULL DEFAULT '',
			receipt      TEXT NOT NULL DEFAULT '',
			ref          TEXT NOT NULL DEFAULT '',
			at_ns        BIGINT NOT NULL,
			origin       TEXT NOT NULL,
			appliance_id TEXT NOT NULL DEFAULT '',
			seq          BIGINT NOT NULL DEFAULT 0,
			created_by   TEXT NOT NULL DEFAULT '',
			created_ns   BIGINT NOT NULL
		)`,
		`CREATE INDEX ledger_account ON ledger_entries (account, at_ns)`,
		`CREATE INDEX ledger_origin ON ledger_entries (appliance_id, seq)`,
		`ALTER TABLE calls ADD COLUMN privileged INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE calls ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE calls ADD COLUMN free INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE calls ADD COLUMN cost BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE calls ADD COLUMN currency TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE calls ADD COLUMN limited_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE calls ADD COLUMN max_duration_s INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX calls_block ON calls (block, start_ns)`,
		`CREATE INDEX calls_disposition ON calls (disposition, start_ns)`,
		`CREATE TABLE review_notes (
			id         TEXT PRIMARY KEY,
			call_id    TEXT NOT NULL,
			author     TEXT NOT NULL,
			reason     TEXT NOT NULL,
			note       TEXT NOT NULL,
			follow_up  INTEGER NOT NULL DEFAULT 0,
			created_ns BIGINT NOT NULL
		)`,
		`CREATE INDEX review_notes_call ON review_notes (call_id, created_ns)`,
		`CREATE TABLE bookmarks (
			id         TEXT PRIMARY KEY,
			call_id    TEXT NOT NULL,
			user_id    TEXT NOT NULL,
			offset_ms  BIGINT NOT NULL DEFAULT 0,
			label      TEXT NOT NULL DEFAULT '',
			created_ns BIGINT NOT NULL
		)`,
		`CREATE INDEX bookmarks_user ON bookmarks (user_id, created_ns)`,
		`CREATE TABLE terminals (
			appliance_id TEXT NOT NULL,
			terminal     TEXT NOT NULL,
			reader       TEXT NOT NULL DEFAULT '',
			last_seen_ns BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (appliance_id, terminal)
		)`,
	},
	// 7: TOTP self-enrolment (users_totp.go). A user without a second
	// factor gets a pending secret, shown once; it becomes the user's
	// secret only when a code from it is confirmed.
	{
		`ALTER TABLE users ADD COLUMN totp_pending TEXT NOT NULL DEFAULT ''`,
	},
	// 8: call search, review and reports (calls.go, review.go, stats.go,
	// reports.go). Calls get an index for records that name a person only
	// by prison number (ordered by start time within, like the others, so
	// a search's first page is read from the index in order, and with the
	// person id so records that carry both cost nothing to skip) and one
	// for the officer who ended a call; bookmarks are listed per call;
	// billing reports read call debits and refunds by time.
	{
		`CREATE INDEX calls_prison_number ON calls (prison_number, person_id, start_ns)`,
		`CREATE INDEX calls_ended_by ON calls (ended_by, start_ns)`,
		`CREATE INDEX bookmarks_call ON bookmarks (call_id, created_ns)`,
		`CREATE INDEX ledger_kind_at ON ledger_entries (kind, at_ns)`,
	},
	// 9: people's own call quotas (calls per day, week and month replacing
	// their rule's; 0: the rule's) and optional photos (photos.go), and the
	// audit log append-only in the database itself: triggers refuse every
	// UPDATE and DELETE of audit_log rows (and, on PostgreSQL, TRUNCATE),
	// on each database in its own syntax (auditGuardSQLite,
	// auditGuardPostgres, run after this migration by the dialect).
	{
		`ALTER TABLE people ADD COLUMN calls_per_day INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE people ADD COLUMN calls_per_week INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE people ADD COLUMN calls_per_month INTEGER NOT NULL DEFAULT 0`,
		`CREATE TABLE person_photos (
			person_id    TEXT PRIMARY KEY REFERENCES people(id),
			content_type TEXT NOT NULL,
			sha256       TEXT NOT NULL,
			bytes        BIGINT NOT NULL,
			width        INTEGER NOT NULL,
			height       INTEGER NOT NULL,
			data         TEXT NOT NULL,
			updated_by   TEXT NOT NULL,
			updated_ns   BIGINT NOT NULL
		)`,
	},
	// 10: the rate each call was priced with, as the appliance had it
	// (wire.CallRecord.Rate): the billing report groups a call by it,
	// not by whatever rate matches its number today. '' rate_type: not
	// rated, or from an appliance before the field (the report then
	// matches today's rates, as before).
	{
		`ALTER TABLE calls ADD COLUMN rate_prefix TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE calls ADD COLUMN rate_type TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE calls ADD COLUMN rate_name TEXT NOT NULL DEFAULT ''`,
	},
	// 11: a bookmark removed (by its author or a system administrator) is
	// kept with who removed it and when, no longer listed (review.go).
	{
		`ALTER TABLE bookmarks ADD COLUMN removed_ns BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE bookmarks ADD COLUMN removed_by TEXT NOT NULL DEFAULT ''`,
	},
	// 12: calls in progress (eventlog/inprogress.go): an appliance's call_started
	// event adds a row, the call's record or a calls_cleared event removes
	// it.
	{
		`CREATE TABLE calls_in_progress (
			call_id       TEXT PRIMARY KEY,
			appliance_id  TEXT NOT NULL,
			block         TEXT NOT NULL,
			person_id     TEXT NOT NULL,
			prison_number TEXT NOT NULL,
			terminal      TEXT NOT NULL,
			number        TEXT NOT NULL,
			start_ns      BIGINT NOT NULL,
			privileged    INTEGER NOT NULL,
			hidden        INTEGER NOT NULL
		)`,
		`CREATE INDEX calls_in_progress_appliance ON calls_in_progress (appliance_id, start_ns)`,
	},
	// 13: each person's blocks over time (eventlog/personblocks.go): an appliance's
	// events about a person are projected only if the person was housed
	// in the appliance's block at the event's time. People already stored
	// are taken to have been in their current block from the start.
	{
		`CREATE TABLE person_blocks (
			person_id TEXT NOT NULL,
			block     TEXT NOT NULL,
			from_ns   BIGINT NOT NULL,
			PRIMARY KEY (person_id, from_ns)
		)`,
		`INSERT INTO person_blocks (person_id, block, from_ns) SELECT id, block, 0 FROM people`,
	},
	// 14: event chains (eventlog/chains.go). An appliance's events are kept per
	// chain (wire.Event.Epoch): chain idx holds its events under seq
	// idx<<40 | the event's seq, so the first chain (every appliance's
	// events until now) keeps its numbers. copy_of is the seq of the same
	// event in an earlier chain of the appliance (a chain started again
	// over an outbox that central partly had): such a copy is stored, not
	// projected a second time.
	{
		`CREATE TABLE event_chains (
			appliance_id  TEXT NOT NULL REFERENCES appliances(id),
			epoch         TEXT NOT NULL,
			idx           BIGINT NOT NULL,
			start_seq     BIGINT NOT NULL DEFAULT 0,
			acked_seq     BIGINT NOT NULL DEFAULT 0,
			gap_from      BIGINT NOT NULL DEFAULT 0,
			confirmed_seq BIGINT NOT NULL DEFAULT 0,
			created_ns    BIGINT NOT NULL,
			PRIMARY KEY (appliance_id, epoch),
			UNIQUE (appliance_id, idx)
		)`,
		`INSERT INTO event_chains (appliance_id, epoch, idx, start_seq, acked_seq, gap_from, created_ns)
			SELECT id, '', 0, 1, acked_seq, gap_from, created_ns FROM appliances
			WHERE acked_seq > 0 OR EXISTS (SELECT 1 FROM events e WHERE e.appliance_id = appliances.id)`,
		`ALTER TABLE events ADD COLUMN copy_of BIGINT NOT NULL DEFAULT 0`,
	},
	// 15: the SIP trunk that carried a call (wire.CallRecord.Trunk): an
	// appliance may have several, with failover. '' for calls no trunk
	// was tried for, and from appliances before the field.
	{
		`ALTER TABLE calls ADD COLUMN trunk TEXT NOT NULL DEFAULT ''`,
	},
	// 16: appliances enrolled through the console (store/enrol.go): when
	// one was retired (its connections and batches refused from then on,
	// no policy published to it), and the expiry of the certificate it
	// last connected with (for the 30-day expiry alarm).
	{
		`ALTER TABLE appliances ADD COLUMN retired_ns BIGINT`,
		`ALTER TABLE appliances ADD COLUMN cert_not_after_ns BIGINT`,
	},
	// 17: charging is an explicit setting of the prison (store.SettingCharging).
	// An installation that has rates was charging for calls and keeps
	// doing so; one without rates gave free calls and now says so: off.
	{
		`INSERT INTO settings (name, value, updated_ns)
			SELECT 'charging', CASE WHEN EXISTS (SELECT 1 FROM rates) THEN 'on' ELSE 'off' END, 0
			ON CONFLICT (name) DO NOTHING`,
	},
	// 18: API tokens belong to a console user (owner), expire and are
	// revoked (central/store/users/tokens.go, decision 0033). Tokens made
	// before belong to the bootstrap administrator (u_bootstrap, created
	// with the admin token at start) and never expire; a name is unique
	// among an owner's tokens that are not revoked. A token's console
	// session names it (token_id), so revoking the token ends it.
	{
		`CREATE TABLE tokens (
			id           TEXT PRIMARY KEY,
			sha256       TEXT NOT NULL UNIQUE,
			name         TEXT NOT NULL,
			role         TEXT NOT NULL,
			owner        TEXT NOT NULL,
			bootstrap    INTEGER NOT NULL DEFAULT 0,
			created_ns   BIGINT NOT NULL,
			expires_ns   BIGINT NOT NULL DEFAULT 0,
			last_used_ns BIGINT NOT NULL DEFAULT 0,
			revoked_ns   BIGINT NOT NULL DEFAULT 0,
			revoked_by   TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE UNIQUE INDEX tokens_owner_name ON tokens (owner, name) WHERE revoked_ns = 0`,
		`INSERT INTO tokens (id, sha256, name, role, owner, bootstrap, created_ns)
			SELECT 't_' || substr(sha256, 1, 24), sha256, name,
				CASE role WHEN 'admin' THEN 'system_admin' WHEN 'viewer' THEN 'read_only' ELSE role END,
				'u_bootstrap', CASE WHEN name = 'admin' OR name LIKE 'admin-%' THEN 1 ELSE 0 END, created_ns
			FROM api_tokens`,
		`DROP TABLE api_tokens`,
		`ALTER TABLE sessions ADD COLUMN token_id TEXT NOT NULL DEFAULT ''`,
		// Console sessions signed in with a token before: they counted as
		// a second factor and name no token, so they end.
		`DELETE FROM sessions WHERE user_id = ''`,
	},
}

// AuditGuardVersion is the schema version whose migration makes the audit
// log append-only (the dialects run their guard after it).
const AuditGuardVersion = 9

// The audit log's guard. The one change it lets through is the store's
// own chaining of rows written before migration 4 (the core's chainLegacyAudit):
// filling in prev_hash and hash of a row that has no hash yet, every other
// column unchanged. Anyone who can drop the triggers (the database's
// owner) can still change rows; the hash chain (VerifyAudit) shows it.
var (
	auditGuardSQLite = []string{
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
		WHEN OLD.hash <> '' OR NEW.id <> OLD.id OR NEW.time_ns <> OLD.time_ns OR NEW.actor <> OLD.actor
			OR NEW.action <> OLD.action OR NEW.target <> OLD.target OR NEW.detail <> OLD.detail
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be changed'); END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
		BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be deleted'); END`,
	}
	auditGuardPostgres = []string{
		`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF TG_OP = 'UPDATE' THEN
				IF OLD.hash = '' AND NEW.id = OLD.id AND NEW.time_ns = OLD.time_ns AND NEW.actor = OLD.actor
					AND NEW.action = OLD.action AND NEW.target = OLD.target AND NEW.detail = OLD.detail THEN
					RETURN NEW;
				END IF;
			END IF;
			RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
		END
		$$`,
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
		`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
	}
)

// After holds the statements run, on the database of driver only, after
// Migrations[v-1] in the same transaction (v, the version they belong to):
// the identity column of events on PostgreSQL, the audit log's
// append-only triggers on each.
func After(driver string, v int) []string {
	if driver == sqldb.DriverPostgres {
		switch v {
		case 1:
			// SQLite numbers every row of events (rowid) in insertion
			// order; PostgreSQL gets the same as an identity column,
			// indexed for the projection's "rowid > cursor ORDER BY rowid".
			return []string{
				`ALTER TABLE events ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY`,
				`CREATE UNIQUE INDEX events_rowid ON events (rowid)`,
			}
		case AuditGuardVersion:
			return auditGuardPostgres
		}
		return nil
	}
	if v == AuditGuardVersion {
		return auditGuardSQLite
	}
	return nil
}

// Migrate applies the pending migrations on the database of driver, each
// in its own write transaction (inTx, the core's) that rereads the
// version first, so that two processes opening one PostgreSQL database at
// once migrate it once.
func Migrate(ctx context.Context, driver string, log *slog.Logger, inTx func(ctx context.Context, f func(tx *sql.Tx) error) error) error {
	for {
		done := false
		err := inTx(ctx, func(tx *sql.Tx) error {
			var err error
			done, err = migrateOne(ctx, tx, driver, log)
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration; done says there was none.
func migrateOne(ctx context.Context, tx *sql.Tx, driver string, log *slog.Logger) (done bool, err error) {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, fmt.Errorf("store: migrate: %w", err)
	}
	var cur int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return false, fmt.Errorf("store: migrate: %w", err)
		}
	case err != nil:
		return false, fmt.Errorf("store: migrate: %w", err)
	}
	if cur > len(Migrations) {
		return false, fmt.Errorf("store: database schema version %d is newer than this program (%d)", cur, len(Migrations))
	}
	if cur == len(Migrations) {
		return true, nil
	}
	for _, stmt := range append(append([]string(nil), Migrations[cur]...), After(driver, cur+1)...) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("store: migrate to %d: %q: %w", cur+1, stmt, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = $1`, cur+1); err != nil {
		return false, fmt.Errorf("store: migrate to %d: %w", cur+1, err)
	}
	log.Info("store: schema migrated", "version", cur+1, "database", driver)
	return false, nil
}
