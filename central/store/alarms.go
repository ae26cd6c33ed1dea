package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kinline/kinline/shared/wire"
)

// AlarmBatchRefused is the central alarm raised when ingest refuses an
// appliance's event batch for its signature (unsigned, forged, or no key
// known for the appliance): the batch is neither stored nor acknowledged.
const AlarmBatchRefused = "batch_refused"

// AlarmPrivilegedRecording is the central alarm raised when an appliance
// uploads audio for a call central knows is privileged: the audio is
// refused and not kept (StoreRecording returns ErrPrivilegedRecording).
const AlarmPrivilegedRecording = "privileged_recording"

// AlarmFilter selects alarms; empty fields match everything.
type AlarmFilter struct {
	ApplianceID string
	// Open keeps only alarms not cleared yet.
	Open bool
	// Blocks, when not nil, keeps only alarms of appliances in these
	// blocks (a block officer's scope); an empty non-nil slice matches
	// none.
	Blocks []string
	Limit  int // default 200, at most 1000
	Offset int
}

const alarmCols = `al.id, al.appliance_id, COALESCE(a.block, ''), al.origin, al.seq, al.time_ns, al.code, al.source, al.message, al.cleared_ns`

func scanAlarm(sc interface{ Scan(...any) error }) (*Alarm, error) {
	var a Alarm
	var seq, t int64
	var cleared sql.NullInt64
	if err := sc.Scan(&a.ID, &a.ApplianceID, &a.Block, &a.Origin, &seq, &t, &a.Code, &a.Source, &a.Message, &cleared); err != nil {
		return nil, err
	}
	a.Seq, a.Time, a.Cleared = uint64(seq), fromNS(t), nullNS(cleared)
	return &a, nil
}

// AlarmList lists the alarms matching f, newest first, with their
// appliance's block.
func (s *Store) AlarmList(ctx context.Context, f AlarmFilter) ([]Alarm, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	args := []any{f.ApplianceID}
	where := []string{`($1 = '' OR al.appliance_id = $1)`}
	if f.Open {
		where = append(where, `al.cleared_ns IS NULL`)
	}
	if f.Blocks != nil {
		where = append(where, inList("a.block", f.Blocks, &args))
	}
	args = append(args, f.Limit, max(f.Offset, 0))
	q := `SELECT ` + alarmCols + ` FROM alarms al LEFT JOIN appliances a ON a.id = al.appliance_id WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY al.time_ns DESC, al.id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alarms: %w", err)
	}
	defer rows.Close()
	out := []Alarm{}
	for rows.Next() {
		a, err := scanAlarm(rows)
		if err != nil {
			return nil, fmt.Errorf("store: alarms: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alarms: %w", err)
	}
	return out, nil
}

// AlarmByID returns one alarm.
func (s *Store) AlarmByID(ctx context.Context, id string) (*Alarm, error) {
	a, err := scanAlarm(s.r.QueryRowContext(ctx, `SELECT `+alarmCols+` FROM alarms al LEFT JOIN appliances a ON a.id = al.appliance_id WHERE al.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: alarm %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: alarm: %w", err)
	}
	return a, nil
}

// maxAlarmMessage bounds a central alarm's message.
const maxAlarmMessage = 1000

// RaiseAlarm records a central alarm (origin "central") about appliance
// applianceID, unless one with the same code and source is still open:
// an appliance retrying the same bad batch raises it once, not once per
// retry. It reports whether a row was added. Nothing is audited: the
// alarm is the record. applianceID wire.CentralIdentity is central itself
// (its own certificate, the CA's).
func (s *Store) RaiseAlarm(ctx context.Context, applianceID, code, source, message string) (bool, error) {
	if err := wire.ValidApplianceID(applianceID); err != nil && applianceID != wire.CentralIdentity {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if code == "" || len(code) > 64 || len(source) > 128 {
		return false, fmt.Errorf("%w: an alarm needs a code (at most 64 bytes) and a source of at most 128 bytes", ErrInvalid)
	}
	if len(message) > maxAlarmMessage {
		message = message[:maxAlarmMessage]
	}
	now := ns(s.clk.Now())
	id := fmt.Sprintf("c:%s:%s:%s:%d", applianceID, code, source, now)
	var added bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alarms (id, appliance_id, origin, seq, time_ns, code, source, message)
			SELECT $1, $2, $3, 0, CAST($4 AS BIGINT), $5, $6, $7
			WHERE NOT EXISTS (SELECT 1 FROM alarms WHERE appliance_id = $2 AND code = $5 AND source = $6 AND cleared_ns IS NULL)
			ON CONFLICT (id) DO NOTHING`, id, applianceID, originCentral, now, code, source, message)
		if err != nil {
			return fmt.Errorf("store: raise alarm: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: raise alarm: %w", err)
		}
		added = n == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	if added {
		s.log.Warn("store: central alarm", "appliance", applianceID, "code", code, "source", source, "message", message)
	}
	return added, nil
}

// ClearAlarm marks an open central alarm as cleared by actor (an operator
// who has looked into it), with a required note, audited as "alarm.clear".
// Alarms an appliance raised are cleared by that appliance, and a stream
// gap clears itself when the missing events arrive: both give ErrInvalid.
// An alarm already cleared gives ErrConflict.
func (s *Store) ClearAlarm(ctx context.Context, actor, id, note string) (*Alarm, error) {
	note = strings.TrimSpace(note)
	if err := validText("note", note, 500, true); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var origin, code, app string
		var cleared sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT origin, code, appliance_id, cleared_ns FROM alarms WHERE id = $1`, id).Scan(&origin, &code, &app, &cleared)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: alarm %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: clear alarm: %w", err)
		}
		switch {
		case cleared.Valid:
			return fmt.Errorf("%w: alarm %s is already cleared", ErrConflict, id)
		case origin != originCentral:
			return fmt.Errorf("%w: the appliance clears the alarms it raised", ErrInvalid)
		case code == AlarmEventGap:
			return fmt.Errorf("%w: a stream gap clears itself when the missing events arrive", ErrInvalid)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alarms SET cleared_ns = $2 WHERE id = $1 AND cleared_ns IS NULL`, id, ns(s.clk.Now())); err != nil {
			return fmt.Errorf("store: clear alarm: %w", err)
		}
		return s.audit(ctx, tx, actor, "alarm.clear", id, fmt.Sprintf("appliance=%s code=%s note=%s", app, code, note))
	})
	if err != nil {
		return nil, err
	}
	return s.AlarmByID(ctx, id)
}
