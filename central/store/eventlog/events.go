package eventlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Codes of the alarms central raises itself about an appliance's stream.
const (
	AlarmEventInvalid  = "event_invalid"      // hash does not match content, or malformed
	AlarmEventConflict = "event_conflict"     // same (appliance, seq) redelivered with other content
	AlarmChainBroken   = "event_chain_broken" // PrevHash does not link to the stored neighbour
	AlarmEventGap      = "event_gap"          // a later seq is stored while an earlier one is missing
	AlarmPayload       = "event_payload_bad"  // hash-valid event whose payload cannot be projected
	AlarmForeign       = "event_foreign"      // event names another appliance
	originCentral      = "central"
	originAppliance    = "appliance"
)

// eventStmts are the statements used per event for the rarer event kinds.
// Events, calls and card taps are buffered and written with multi-row
// INSERTs instead: modernc.org/sqlite compiles a statement on every Exec, so
// one statement per 250 rows is what makes ingest fast.
type eventStmts struct {
	insAlarm, clearAlarm, status, lastSeen *sql.Stmt
	// insLedger inserts an appliance's ledger entry when its account
	// exists and its id is new; getLedger reads an entry back by id.
	insLedger, getLedger *sql.Stmt
}

func (e *eventStmts) close() {
	for _, st := range []*sql.Stmt{e.insAlarm, e.clearAlarm, e.status, e.lastSeen, e.insLedger, e.getLedger} {
		if st != nil {
			st.Close()
		}
	}
}

func (s *Log) prepareEventStmts(ctx context.Context) error {
	prep := func(dst **sql.Stmt, q string) error {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("store: prepare %q: %w", q, err)
		}
		*dst = st
		return nil
	}
	return errors.Join(
		prep(&s.ev.insAlarm, `INSERT INTO alarms (id, appliance_id, origin, seq, time_ns, code, source, message)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`),
		prep(&s.ev.clearAlarm, `UPDATE alarms SET cleared_ns = $4
			WHERE appliance_id = $1 AND code = $2 AND source = $3 AND cleared_ns IS NULL`),
		prep(&s.ev.status, `UPDATE appliances SET policy_version_applied = $2, software = $3, status_seq = $4
			WHERE id = $1 AND status_seq < $4`),
		prep(&s.ev.lastSeen, `UPDATE appliances SET last_seen_ns = $2
			WHERE id = $1 AND (last_seen_ns IS NULL OR last_seen_ns < $2)`),
		prep(&s.ev.insLedger, `INSERT INTO ledger_entries (id, account, kind, amount, currency, reason, receipt, ref, at_ns, origin, appliance_id, seq, created_ns)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 WHERE EXISTS (SELECT 1 FROM people WHERE id = $2)
			ON CONFLICT (id) DO NOTHING`),
		prep(&s.ev.getLedger, `SELECT `+storedLedgerCols+` FROM ledger_entries WHERE id = $1`),
	)
}

// projection is what one event's payload turns into.
type projection struct {
	call    *wire.CallRecord
	tap     *wire.CardTap
	alarm   *wire.Alarm
	status  *wire.Status
	officer *wire.OfficerAction
	ledger  *wire.LedgerEntry
	blocked *wire.NumberBlocked
	started *wire.CallStarted
	cleared *wire.CallsCleared
}

// decodeEvent checks an untrusted event's payload and decodes it for
// projection: wire.DecodePayload validates its shape and puts it in its
// canonical form, and the store refuses text it cannot keep (storable.go).
// Events the store does not project (commands, unknown types) project to
// nothing, unchecked (they are kept in the events table).
func decodeEvent(ev *wire.Event) (projection, error) {
	if ev.Type == wire.EventCommand {
		return projection{}, nil
	}
	pl, err := wire.DecodePayload(ev)
	if errors.Is(err, wire.ErrUnknownEventType) {
		return projection{}, nil
	}
	if err != nil {
		return projection{}, errInvalid("%w", err)
	}
	if jsonHasNUL(ev.Payload) {
		return projection{}, errInvalid("%s payload holds a NUL character (see storable.go)", ev.Type)
	}
	var p projection
	switch x := pl.(type) {
	case *wire.CallRecord:
		p.call = x
	case *wire.CardTap:
		p.tap = x
	case *wire.Alarm:
		p.alarm = x
	case *wire.Status:
		p.status = x
	case *wire.OfficerAction:
		p.officer = x
	case *wire.LedgerEntry:
		p.ledger = x
	case *wire.NumberBlocked:
		p.blocked = x
	case *wire.CallStarted:
		p.started = x
	case *wire.CallsCleared:
		p.cleared = x
	}
	return p, nil
}

type storedLink struct{ hash, prev string }

// StoreBatch stores a batch's events in their chain, acknowledges what it
// can and projects small backlogs before returning (the core's
// Store.StoreBatch says what it guarantees).
func (s *Log) StoreBatch(ctx context.Context, applianceID string, batch *wire.Batch) (wire.Ack, error) {
	ack := wire.Ack{V: wire.ProtocolVersion, ApplianceID: applianceID, Epoch: batch.Epoch()}
	if err := wire.ValidApplianceID(applianceID); err != nil {
		return ack, errInvalid("%w", err)
	}
	if err := wire.ValidEpoch(ack.Epoch); err != nil {
		return ack, errInvalid("%w", err)
	}
	now := ns(s.clk.Now())
	var storedUpTo int64 // highest events rowid after the commit, 0 if nothing was inserted
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		storedUpTo, err = s.storeBatchTx(ctx, tx, batch, &ack, now)
		return err
	})
	if err != nil {
		return wire.Ack{}, err
	}
	s.proj.ingests.Add(1)
	if storedUpTo > 0 {
		s.afterStore(ctx, storedUpTo)
	}
	return ack, nil
}

// storeBatchTx is StoreBatch's transaction: it stores batch's events in
// their chain, raises the alarms they call for and fills in ack (UpTo,
// Hash, Conflict). It returns the highest events rowid when it inserted
// events, 0 when it did not.
func (s *Log) storeBatchTx(ctx context.Context, tx *sql.Tx, batch *wire.Batch, ack *wire.Ack, now int64) (int64, error) {
	applianceID, evs := ack.ApplianceID, batch.Events
	block, err := registerAppliance(ctx, tx, applianceID, now)
	if err != nil {
		return 0, err
	}
	ch, err := openChain(ctx, tx, applianceID, ack.Epoch, now)
	if err != nil {
		return 0, err
	}
	b := newEventBatch(ctx, s, tx, applianceID, block, now)
	b.chain = ch
	if ch.created && ch.prevIdx >= 0 {
		if err := b.alarm(AlarmChainRestarted, "epoch "+ch.epoch, ch.base(), fmt.Sprintf(
			"the appliance started a new event chain (epoch %q, chain %d; the previous one is acknowledged up to seq %d): a box replaced under the same id, or its data directory put back from a backup; both chains are kept",
			ch.epoch, ch.idx, ch.prevAcked)); err != nil {
			return 0, err
		}
	}
	order := seqOrder(evs)
	var hi uint64
	if len(order) > 0 {
		lo := evs[order[0]].Seq
		if lo > 0 {
			lo--
		}
		hi = min(evs[order[len(order)-1]].Seq, ChainSpan-2) + 1
		if err := b.loadWindow(lo, hi); err != nil {
			return 0, err
		}
	}
	if err := b.checkReplay(batch, order); err != nil {
		return 0, err
	}
	for _, i := range order {
		if err := b.add(&evs[i]); err != nil {
			return 0, err
		}
	}
	storedUpTo, err := b.flushBatch()
	if err != nil {
		return 0, err
	}
	if ch.start != 0 {
		if err := b.advanceAck(hi, ack); err != nil {
			return 0, err
		}
	}
	if batch.V >= 2 && batch.Acked > ch.confirmed {
		ch.confirmed = min(batch.Acked, ch.acked)
	}
	ack.Conflict = b.conflict
	return storedUpTo, ch.save(ctx, tx, applianceID)
}

// registerAppliance creates applianceID when it is new (without a block)
// and returns its block ("" when it has none).
func registerAppliance(ctx context.Context, tx *sql.Tx, applianceID string, now int64) (string, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO appliances (id, created_ns) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, applianceID, now); err != nil {
		return "", fmt.Errorf("store: register appliance: %w", err)
	}
	var block sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT block FROM appliances WHERE id = $1`, applianceID).Scan(&block); err != nil {
		return "", fmt.Errorf("store: read appliance: %w", err)
	}
	return block.String, nil
}

// seqOrder is the indexes of evs in ascending seq order (stable).
func seqOrder(evs []wire.Event) []int {
	order := make([]int, 0, len(evs))
	for i := range evs {
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, c int) int {
		switch {
		case evs[a].Seq < evs[c].Seq:
			return -1
		case evs[a].Seq > evs[c].Seq:
			return 1
		}
		return 0
	})
	return order
}

// checkReplay raises AlarmBatchReplayed when batch (its events in order)
// is a replay: a batch of version 2 whose events are all stored as they
// are, at or below what the appliance reported acknowledged.
func (b *eventBatch) checkReplay(batch *wire.Batch, order []int) error {
	evs, ch := batch.Events, b.chain
	replayed := batch.V >= 2 && len(evs) > 0 && evs[order[len(order)-1]].Seq <= ch.confirmed
	for _, i := range order {
		if l, ok := b.known[evs[i].Seq]; !ok || l.hash != evs[i].Hash {
			replayed = false
		}
	}
	if !replayed {
		return nil
	}
	first, last := evs[order[0]].Seq, evs[order[len(order)-1]].Seq
	return b.alarm(AlarmBatchReplayed, b.src(last), ch.base()+last, fmt.Sprintf(
		"a batch of events %d..%d arrived again after the appliance had reported them acknowledged (up to %d): a replay; nothing changed",
		first, last, ch.confirmed))
}

// flushBatch writes the buffered events and marks the copies of an
// earlier chain's; it returns the highest events rowid when it inserted
// events, 0 when it did not.
func (b *eventBatch) flushBatch() (int64, error) {
	inserted := len(b.eventRows) > 0
	if err := b.flushEvents(); err != nil {
		return 0, err
	}
	if err := b.markCopies(); err != nil {
		return 0, err
	}
	if !inserted {
		return 0, nil
	}
	var storedUpTo int64
	if err := b.tx.QueryRowContext(b.ctx, `SELECT COALESCE(MAX(rowid), 0) FROM events`).Scan(&storedUpTo); err != nil {
		return 0, fmt.Errorf("store: read events rowid: %w", err)
	}
	return storedUpTo, nil
}

// advanceAck moves the chain's acknowledged prefix as far as its stored
// events are contiguous (hi is the top of the loaded window), raises or
// clears AlarmEventGap, and sets ack.UpTo and ack.Hash once the chain's
// first event is acknowledged.
func (b *eventBatch) advanceAck(hi uint64, ack *wire.Ack) error {
	ch := b.chain
	newAck, gap, err := b.contiguous(max(ch.acked, ch.start-1), hi)
	if err != nil {
		return err
	}
	stream := "stream"
	if ch.epoch != "" {
		stream = "stream " + ch.epoch
	}
	switch {
	case gap && ch.gapFrom != newAck+1:
		if ch.gapFrom != 0 {
			if err := b.clearCentral(AlarmEventGap, stream); err != nil {
				return err
			}
		}
		if err := b.alarm(AlarmEventGap, stream, ch.base()+newAck+1, fmt.Sprintf("events stored after seq %d but seq %d is missing", newAck, newAck+1)); err != nil {
			return err
		}
		ch.gapFrom = newAck + 1
	case !gap && ch.gapFrom != 0:
		if err := b.clearCentral(AlarmEventGap, stream); err != nil {
			return err
		}
		ch.gapFrom = 0
	}
	ch.acked = newAck
	if newAck >= ch.start {
		ack.UpTo = newAck
		if ack.Hash, err = b.hashAt(newAck); err != nil {
			return err
		}
	}
	return nil
}

type eventBatch struct {
	s     *Log
	tx    *sql.Tx
	ctx   context.Context
	app   string
	block string
	now   int64
	known map[uint64]storedLink
	st    eventStmts
	// buffered rows, flushed by flush()
	eventRows, callRows, tapRows, officerRows []any
	// startedRows are calls in progress (inprogress.go), clears the times
	// of the appliance's calls_cleared events.
	startedRows []any
	clears      []int64
	// callMoneyRows are calls with any of the money and number-kind
	// fields set (privileged ... max_duration_s, the rate) or a trunk; calls without them, the
	// common unrated case, take the narrower statement of callRows.
	callMoneyRows []any
	// currency is the prison's, read at the batch's first ledger event.
	currency *ledger.Currency
	// numbers are the prison-wide privileged and hidden numbers, read at
	// the batch's first call (call_flags.go); terminals the terminals the
	// batch's events named (terminals_project.go).
	numbers   []wire.NumberAttr
	terminals map[string]terminalSeen
	// people caches the block histories the batch's events named
	// (personblocks.go).
	people map[string][]personBlockSpan
	// chain is the chain of StoreBatch's events (chains.go): known is
	// keyed by the events' own seq, stored under chain.base()+seq.
	// conflict is the lowest seq refused for not fitting it, copies the
	// events that repeat an earlier chain's (seq -> events.seq).
	chain    *eventChain
	conflict uint64
	copies   map[uint64]uint64
	// calls are the kinds of the call records projected (stats.go).
	calls []CallKind
}

const (
	eventCols        = 8
	callRowCols      = 21
	callMoneyRowCols = callRowCols + 11
	// callRowInts and callMoneyRowInts have a bit set for each integer
	// column of a call row (seq, start_ns, answer_ns, end_ns,
	// recording_bytes; and privileged, hidden, free, cost, max_duration_s).
	// The longer row also carries currency, limited_by, the rate and the
	// trunk.
	callRowInts      = 1<<2 | 1<<9 | 1<<10 | 1<<11 | 1<<16
	callMoneyRowInts = callRowInts | 1<<21 | 1<<22 | 1<<23 | 1<<24 | 1<<27
	tapCols          = 7
	officerCols      = 7
	// paramsPerStmt bounds the parameters of one multi-row INSERT.
	paramsPerStmt = 180
)

func newEventBatch(ctx context.Context, s *Log, tx *sql.Tx, app, block string, now int64) *eventBatch {
	b := &eventBatch{s: s, tx: tx, ctx: ctx, app: app, block: block, now: now, known: map[uint64]storedLink{}}
	b.prepare()
	return b
}

// flushEvents writes the buffered events (StoreEvents' transaction).
func (b *eventBatch) flushEvents() error {
	if err := b.insertRows(`INSERT INTO events (appliance_id, seq, type, time_ns, payload, hash, prev_hash, received_ns) VALUES `,
		` ON CONFLICT (appliance_id, seq) DO NOTHING`, eventCols, b.eventRows, nil); err != nil {
		return fmt.Errorf("store: insert events: %w", err)
	}
	b.eventRows = nil
	return nil
}

// flushProjections writes the buffered calls, card taps and officer actions
// (the projection's transaction) with multi-row INSERT statements.
//
// Events, calls and card taps are written with multi-row INSERT ... VALUES
// statements of about paramsPerStmt parameters each.
// modernc.org/sqlite compiles a statement on every Exec and binds parameters
// in time quadratic in their number, so a few hundred parameters per
// statement is the sweet spot (measured: 20 event rows per statement insert
// 500 events in a third less time than one json_each statement, and several
// times faster than one statement per row). The generated statements use
// SQLite's positional "?" there and "$N" on PostgreSQL (sqldb.Dialect.Param).
func (b *eventBatch) flushProjections() error {
	const callHead = `INSERT INTO calls (call_id, appliance_id, seq, block, person_id, prison_number, card_uid,
			terminal, number, start_ns, answer_ns, end_ns, disposition, reason,
			recording_id, recording_sha256, recording_bytes, recording_format, officer_id, confirm_method, ended_by`
	const recPath = `, COALESCE((SELECT rec.path FROM recordings rec WHERE rec.call_id = v ->> 0), '')`
	if err := b.insertJSON(callHead+`, recording_path)`,
		callRowCols, callRowInts, recPath, ` ON CONFLICT (call_id) DO NOTHING`, b.callRows); err != nil {
		return fmt.Errorf("store: project calls: %w", err)
	}
	if err := b.insertJSON(callHead+`, privileged, hidden, free, cost, currency, limited_by, max_duration_s, rate_prefix, rate_type, rate_name, trunk, recording_path)`,
		callMoneyRowCols, callMoneyRowInts, recPath, ` ON CONFLICT (call_id) DO NOTHING`, b.callMoneyRows); err != nil {
		return fmt.Errorf("store: project calls: %w", err)
	}
	if err := b.flushInProgress(); err != nil {
		return err
	}
	if err := b.insertRows(`INSERT INTO card_taps (appliance_id, seq, time_ns, reader, terminal, uid, known) VALUES `,
		` ON CONFLICT (appliance_id, seq) DO NOTHING`, tapCols, b.tapRows, nil); err != nil {
		return fmt.Errorf("store: project card taps: %w", err)
	}
	if err := b.insertRows(`INSERT INTO officer_actions (appliance_id, seq, time_ns, action, officer_id, call_id, terminal) VALUES `,
		` ON CONFLICT (appliance_id, seq) DO NOTHING`, officerCols, b.officerRows, nil); err != nil {
		return fmt.Errorf("store: project officer actions: %w", err)
	}
	b.callRows, b.callMoneyRows, b.tapRows, b.officerRows = nil, nil, nil, nil
	return b.flushTerminals()
}

// insertRows inserts vals (cols values per row, flattened).
func (b *eventBatch) insertRows(head, tail string, cols int, vals []any, extra func(q *strings.Builder, first int)) error {
	per := max(1, paramsPerStmt/cols)
	d := b.s.d
	var q strings.Builder
	for len(vals) > 0 {
		n := min(len(vals)/cols, per)
		q.Reset()
		q.WriteString(head)
		for r := 0; r < n; r++ {
			if r > 0 {
				q.WriteByte(',')
			}
			if d.Positional {
				q.WriteString("(?")
				q.WriteString(strings.Repeat(",?", cols-1))
			} else {
				for c := 0; c < cols; c++ {
					if c == 0 {
						q.WriteByte('(')
					} else {
						q.WriteByte(',')
					}
					d.Param(&q, r*cols+c+1)
				}
			}
			if extra != nil {
				extra(&q, r*cols+1)
			}
			q.WriteByte(')')
		}
		q.WriteString(tail)
		if _, err := b.tx.ExecContext(b.ctx, q.String(), vals[:n*cols]...); err != nil {
			return err
		}
		vals = vals[n*cols:]
	}
	return nil
}

// insertJSON inserts rows (cols values each, flattened) with one statement
// and one parameter: INSERT ... SELECT v ->> 0, ... over json_each($1). The
// CTE turns each row into binary JSON once, so "->> N" reads the blob
// instead of re-rendering and re-parsing the row's text for every column.
// On PostgreSQL the rows come from jsonb_array_elements and the columns
// whose bit is set in ints are cast to BIGINT (sqldb.Dialect.JSONCol).
func (b *eventBatch) insertJSON(head string, cols int, ints uint64, extra, tail string, vals []any) error {
	if len(vals) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(vals)/cols)
	for i := 0; i+cols <= len(vals); i += cols {
		rows = append(rows, vals[i:i+cols])
	}
	js, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	var q strings.Builder
	d := b.s.d
	q.WriteString(d.JSONRows)
	q.WriteString(head)
	q.WriteString(" SELECT ")
	for c := 0; c < cols; c++ {
		if c > 0 {
			q.WriteString(", ")
		}
		d.JSONCol(&q, c, ints&(1<<c) != 0)
	}
	q.WriteString(extra)
	// "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
	q.WriteString(" FROM r WHERE true")
	q.WriteString(tail)
	_, err = b.tx.ExecContext(b.ctx, q.String(), string(js))
	return err
}

func (b *eventBatch) prepare() {
	e := &b.s.ev
	b.st = eventStmts{
		insAlarm:   b.tx.StmtContext(b.ctx, e.insAlarm),
		clearAlarm: b.tx.StmtContext(b.ctx, e.clearAlarm), status: b.tx.StmtContext(b.ctx, e.status),
		lastSeen:  b.tx.StmtContext(b.ctx, e.lastSeen),
		insLedger: b.tx.StmtContext(b.ctx, e.insLedger), getLedger: b.tx.StmtContext(b.ctx, e.getLedger),
	}
}

func (b *eventBatch) loadWindow(lo, hi uint64) error {
	base := b.chain.base()
	rows, err := b.tx.QueryContext(b.ctx, `SELECT seq, hash, prev_hash FROM events WHERE appliance_id = $1 AND seq BETWEEN $2 AND $3`, b.app, int64(base+lo), int64(base+hi))
	if err != nil {
		return fmt.Errorf("store: read stored events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var l storedLink
		if err := rows.Scan(&seq, &l.hash, &l.prev); err != nil {
			return fmt.Errorf("store: read stored events: %w", err)
		}
		b.known[uint64(seq)-base] = l
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read stored events: %w", err)
	}
	return nil
}

// alarm records a central alarm once: the id is derived from its content so
// redelivering the same bad event does not add rows.
func (b *eventBatch) alarm(code, source string, seq uint64, msg string) error {
	id := fmt.Sprintf("c:%s:%s:%s:%d", b.app, code, source, b.now)
	if seq != 0 {
		id = fmt.Sprintf("c:%s:%s:%d", b.app, code, seq)
	}
	b.s.log.Warn("store: event stream alarm", "appliance", b.app, "code", code, "seq", seq, "message", msg)
	if _, err := b.st.insAlarm.ExecContext(b.ctx, id, b.app, originCentral, int64(seq), b.now, code, source, msg); err != nil {
		return fmt.Errorf("store: insert alarm: %w", err)
	}
	return nil
}

func (b *eventBatch) clearCentral(code, source string) error {
	if _, err := b.st.clearAlarm.ExecContext(b.ctx, b.app, code, source, b.now); err != nil {
		return fmt.Errorf("store: clear alarm: %w", err)
	}
	return nil
}

func (b *eventBatch) add(ev *wire.Event) error {
	src := b.src(ev.Seq)
	ch := b.chain
	g := ch.base() + ev.Seq // the alarm's seq: unique across the appliance's chains
	if ev.ApplianceID != b.app {
		return b.alarm(AlarmForeign, src, g, fmt.Sprintf("event names appliance %q", ev.ApplianceID))
	}
	if err := ev.Verify(); err != nil {
		return b.alarm(AlarmEventInvalid, src, g, err.Error())
	}
	if ev.Epoch != ch.epoch || ev.Seq >= ChainSpan {
		return b.alarm(AlarmEventInvalid, src, g, fmt.Sprintf("event of epoch %q in a batch of epoch %q, or seq beyond %d", ev.Epoch, ch.epoch, ChainSpan-1))
	}
	if err := checkStorableEvent(ev); err != nil {
		return b.alarm(AlarmEventInvalid, src, g, err.Error())
	}
	if st, ok := b.known[ev.Seq]; ok {
		if st.hash != ev.Hash {
			b.conflictAt(ev.Seq)
			return b.alarm(AlarmEventConflict, src, g, "another event is stored under this seq; the first copy is kept and the appliance is told (it starts a new chain)")
		}
		return nil // redelivery: no-op
	}
	broken := func(msg string) error {
		b.conflictAt(ev.Seq)
		return b.alarm(AlarmChainBroken, src, g, msg+"; not stored, the appliance is told (it starts a new chain)")
	}
	switch {
	case ev.PrevHash == "" && ch.start == 0:
		ch.start = ev.Seq
	case ev.PrevHash == "" && ev.Seq != ch.start:
		return broken(fmt.Sprintf("a first event (no prev_hash) in a chain that starts at seq %d", ch.start))
	case ev.PrevHash != "" && ev.Seq == ch.start:
		return broken("first event has a prev_hash")
	case ch.start != 0 && ev.Seq < ch.start:
		return broken(fmt.Sprintf("before the chain's first event, seq %d", ch.start))
	}
	if prev, ok := b.known[ev.Seq-1]; ok && ev.PrevHash != "" && prev.hash != ev.PrevHash {
		return broken(fmt.Sprintf("prev_hash does not match seq %d", ev.Seq-1))
	}
	if next, ok := b.known[ev.Seq+1]; ok && next.prev != ev.Hash {
		return broken(fmt.Sprintf("seq %d, stored, does not link to it", ev.Seq+1))
	}
	if ch.idx > 0 {
		of, err := b.copyOf(string(ev.Type), ev.Seq, ns(ev.Time), string(ev.Payload))
		if err != nil {
			return err
		}
		if of != 0 {
			if b.copies == nil {
				b.copies = map[uint64]uint64{}
			}
			b.copies[ev.Seq] = of
		}
	}
	b.eventRows = append(b.eventRows, b.app, int64(g), string(ev.Type), ns(ev.Time), string(ev.Payload), ev.Hash, ev.PrevHash, b.now)
	b.known[ev.Seq] = storedLink{hash: ev.Hash, prev: ev.PrevHash}
	return nil
}

// projectEvent decodes a stored event and buffers or writes its projection;
// a payload that cannot be projected raises AlarmPayload instead.
func (b *eventBatch) projectEvent(ev *wire.Event) error {
	p, err := decodeEvent(ev)
	if err != nil {
		return b.alarm(AlarmPayload, fmt.Sprintf("seq %d", ev.Seq), ev.Seq, err.Error())
	}
	return b.project(ev, p)
}

func (b *eventBatch) project(ev *wire.Event, p projection) error {
	seq := int64(ev.Seq)
	if who, foreign, err := b.foreignEvent(ev, p); err != nil || foreign {
		if err != nil {
			return err
		}
		return b.alarm(AlarmForeignPerson, fmt.Sprintf("seq %d", ev.Seq), ev.Seq,
			fmt.Sprintf("%s event about person %q, who was not housed in block %q at its time: not projected (kept in the event stream)", ev.Type, who, b.block))
	}
	switch {
	case p.call != nil:
		c := p.call
		if err := b.flagCall(c); err != nil {
			return err
		}
		b.calls = append(b.calls, KindOf(c.Disposition, c.Reason))
		b.seeTerminal(c.Terminal, "", c.End)
		var answer any // JSON null when not answered
		if c.Answer != nil {
			answer = ns(*c.Answer)
		}
		var r wire.RecordingRef
		if c.Recording != nil {
			r = *c.Recording
		}
		row := []any{c.CallID, b.app, seq, b.block, c.PersonID, c.PrisonNumber, c.CardUID,
			c.Terminal, c.Number, ns(c.Start), answer, ns(c.End), c.Disposition, c.Reason,
			r.ID, r.SHA256, r.Bytes, r.Format, c.OfficerID, c.ConfirmMethod, c.EndedBy}
		if !c.Privileged && !c.Hidden && !c.Free && c.Cost == 0 && c.Currency == "" && c.LimitedBy == "" && c.MaxDurationSeconds == 0 && c.Rate == nil && c.Trunk == "" {
			b.callRows = append(b.callRows, row...)
			return nil
		}
		var rate wire.PricedRate
		if c.Rate != nil {
			rate = *c.Rate
		}
		b.callMoneyRows = append(append(b.callMoneyRows, row...),
			boolInt(c.Privileged), boolInt(c.Hidden), boolInt(c.Free), c.Cost, c.Currency, c.LimitedBy, c.MaxDurationSeconds,
			rate.Prefix, rate.DestinationType, rate.Name, c.Trunk)
	case p.started != nil:
		return b.projectStarted(p.started)
	case p.cleared != nil:
		b.clears = append(b.clears, ns(p.cleared.At))
	case p.ledger != nil:
		return b.projectLedger(ev, p.ledger)
	case p.blocked != nil:
		return b.projectNumberBlocked(ev, p.blocked)
	case p.officer != nil:
		a := p.officer
		b.officerRows = append(b.officerRows, b.app, seq, ns(ev.Time), a.Action, a.OfficerID, a.CallID, a.Terminal)
		b.seeTerminal(a.Terminal, "", ev.Time)
	case p.tap != nil:
		b.tapRows = append(b.tapRows, b.app, seq, ns(ev.Time), p.tap.Reader, p.tap.Terminal, p.tap.UID, boolInt(p.tap.Known))
		b.seeTerminal(p.tap.Terminal, p.tap.Reader, ev.Time)
	case p.alarm != nil:
		a := p.alarm
		if a.Cleared {
			if _, err := b.st.clearAlarm.ExecContext(b.ctx, b.app, a.Code, a.Source, ns(ev.Time)); err != nil {
				return fmt.Errorf("store: project alarm clear: %w", err)
			}
			return nil
		}
		id := fmt.Sprintf("a:%s:%d", b.app, ev.Seq)
		if _, err := b.st.insAlarm.ExecContext(b.ctx, id, b.app, originAppliance, seq, ns(ev.Time), a.Code, a.Source, a.Message); err != nil {
			return fmt.Errorf("store: project alarm: %w", err)
		}
	case p.status != nil:
		if _, err := b.st.status.ExecContext(b.ctx, b.app, int64(p.status.PolicyVersion), p.status.Software, seq); err != nil {
			return fmt.Errorf("store: project status: %w", err)
		}
		if _, err := b.st.lastSeen.ExecContext(b.ctx, b.app, ns(ev.Time)); err != nil {
			return fmt.Errorf("store: project status: %w", err)
		}
	}
	return nil
}

// contiguous returns the highest seq S >= acked of the batch's chain with
// every seq from the chain's start to S stored, and whether some event of
// the chain after S+1 is stored (a gap). It relies on the invariant that
// acked is maximal at the start of the transaction.
func (b *eventBatch) contiguous(acked, hi uint64) (uint64, bool, error) {
	base, end := b.chain.base(), int64(b.chain.base()+ChainSpan)
	cur := acked
	for {
		if _, ok := b.known[cur+1]; !ok {
			break
		}
		cur++
	}
	if hi > 0 && cur >= hi {
		// Walked off the loaded window: continue in the table (events that
		// arrived earlier, out of order).
		for {
			rows, err := b.tx.QueryContext(b.ctx, `SELECT seq FROM events WHERE appliance_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT 1000`, b.app, int64(base+cur), end)
			if err != nil {
				return 0, false, fmt.Errorf("store: walk events: %w", err)
			}
			n, moved := 0, true
			for rows.Next() {
				var seq int64
				if err := rows.Scan(&seq); err != nil {
					rows.Close()
					return 0, false, fmt.Errorf("store: walk events: %w", err)
				}
				n++
				if uint64(seq)-base == cur+1 && moved {
					cur++
				} else {
					moved = false
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return 0, false, fmt.Errorf("store: walk events: %w", err)
			}
			if n == 0 {
				return cur, false, nil
			}
			if !moved {
				return cur, true, nil
			}
		}
	}
	var later int
	err := b.tx.QueryRowContext(b.ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE appliance_id = $1 AND seq > $2 AND seq < $3 LIMIT 1) t`, b.app, int64(base+cur), end).Scan(&later)
	if err != nil {
		return 0, false, fmt.Errorf("store: check gap: %w", err)
	}
	return cur, later > 0, nil
}
