package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Call is a call as the API and console show it.
type Call struct {
	ID           string     `json:"id"`
	ApplianceID  string     `json:"appliance_id"`
	Block        string     `json:"block"`
	PersonID     string     `json:"person_id,omitempty"`
	PrisonNumber string     `json:"prison_number,omitempty"`
	PersonName   string     `json:"person_name,omitempty"`
	CardUID      string     `json:"card_uid,omitempty"`
	Terminal     string     `json:"terminal"`
	Number       string     `json:"number"`
	Start        time.Time  `json:"start"`
	Answer       *time.Time `json:"answer,omitempty"`
	End          time.Time  `json:"end"`
	// DurationSeconds is the talk time (answer to end), 0 when not answered.
	DurationSeconds float64 `json:"duration_seconds"`
	Disposition     string  `json:"disposition"`
	Reason          string  `json:"reason,omitempty"`
	// Privileged is true when the appliance flagged the call privileged,
	// the number is a privileged contact of the person or on the
	// prison-wide list as privileged (call_flags.go): such calls are never
	// recorded and never played.
	Privileged bool           `json:"privileged"`
	Recording  *CallRecording `json:"recording,omitempty"`
	// OfficerID (and OfficerName, when central knows the officer) is the
	// officer who confirmed the call; ConfirmMethod how ("button", "card",
	// "button+card"). Empty when the call needed no confirmation.
	OfficerID     string `json:"officer_id,omitempty"`
	OfficerName   string `json:"officer_name,omitempty"`
	ConfirmMethod string `json:"confirm_method,omitempty"`
	// EndedBy is the officer whose card tap ended the call.
	EndedBy string `json:"ended_by,omitempty"`
	// Hidden calls' records are for investigators and system admins
	// (call_flags.go).
	Hidden bool `json:"hidden,omitempty"`
}

// CallRecording is what a call record says about its recording.
type CallRecording struct {
	ID       string `json:"id,omitempty"`
	SHA256   string `json:"sha256"`
	Bytes    int64  `json:"bytes"`
	Format   string `json:"format"`
	Uploaded bool   `json:"uploaded"`
}

// CallFilter selects calls. Empty fields match everything. Inmate matches a
// person id or a prison number; Number is compared after normalization by the
// caller; From/To bound the start time (From inclusive, To exclusive).
type CallFilter struct {
	Inmate      string
	Block       string
	Number      string
	Disposition string
	// Officer matches calls the officer confirmed or ended.
	Officer string
	// Blocks, when not nil, restricts the search to calls made in these
	// blocks (a block officer's scope); an empty non-nil slice matches none.
	Blocks []string
	// ShowHidden includes hidden calls (call_flags.go): only for
	// investigators and system administrators. Without it they are left
	// out, so a search that forgets to decide shows less, never more.
	ShowHidden bool
	From, To   time.Time
	Limit      int // default 50, at most 500
	Offset     int
}

const callCols = `c.call_id, c.appliance_id, c.block, c.person_id, c.prison_number, COALESCE(p.name, ''), c.card_uid,
	c.terminal, c.number, c.start_ns, c.answer_ns, c.end_ns, c.disposition, c.reason,
	c.recording_id, c.recording_sha256, c.recording_bytes, c.recording_format, r.call_id IS NOT NULL,
	c.privileged = 1 OR EXISTS (SELECT 1 FROM contacts k WHERE k.number = c.number AND k.privileged = 1
		AND (k.person_id = c.person_id OR k.person_id = p.id)) OR ` + globalPrivileged + `,
	c.officer_id, COALESCE(o.name, ''), c.confirm_method, c.ended_by,
	c.hidden = 1 OR ` + globalHidden

const callFrom = ` FROM calls c
	LEFT JOIN people p ON p.id = CASE WHEN c.person_id <> '' THEN c.person_id
		ELSE (SELECT id FROM people WHERE prison_number = c.prison_number) END
	LEFT JOIN recordings r ON r.call_id = c.call_id
	LEFT JOIN people o ON o.id = c.officer_id AND c.officer_id <> ''`

func scanCall(sc interface{ Scan(...any) error }) (*Call, error) {
	var c Call
	var start, end int64
	var answer sql.NullInt64
	var rec CallRecording
	if err := sc.Scan(&c.ID, &c.ApplianceID, &c.Block, &c.PersonID, &c.PrisonNumber, &c.PersonName, &c.CardUID,
		&c.Terminal, &c.Number, &start, &answer, &end, &c.Disposition, &c.Reason,
		&rec.ID, &rec.SHA256, &rec.Bytes, &rec.Format, &rec.Uploaded, &c.Privileged,
		&c.OfficerID, &c.OfficerName, &c.ConfirmMethod, &c.EndedBy, &c.Hidden); err != nil {
		return nil, err
	}
	c.Start, c.End, c.Answer = fromNS(start), fromNS(end), nullNS(answer)
	if c.Answer != nil && c.End.After(*c.Answer) {
		c.DurationSeconds = c.End.Sub(*c.Answer).Seconds()
	}
	if rec.SHA256 != "" || rec.Uploaded {
		c.Recording = &rec
	}
	return &c, nil
}

// Calls lists calls matching f, newest first.
func (s *Store) Calls(ctx context.Context, f CallFilter) ([]Call, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Inmate != "" {
		a := arg(f.Inmate)
		where = append(where, fmt.Sprintf("(c.person_id = %s OR c.prison_number = %s OR p.id = %s)", a, a, a))
	}
	if f.Block != "" {
		where = append(where, "c.block = "+arg(f.Block))
	}
	if f.Blocks != nil {
		where = append(where, inList("c.block", f.Blocks, &args))
	}
	if f.Number != "" {
		where = append(where, "c.number = "+arg(f.Number))
	}
	if f.Disposition != "" {
		where = append(where, "c.disposition = "+arg(f.Disposition))
	}
	if f.Officer != "" {
		a := arg(f.Officer)
		where = append(where, fmt.Sprintf("(c.officer_id = %s OR c.ended_by = %s)", a, a))
	}
	if !f.From.IsZero() {
		where = append(where, "c.start_ns >= "+arg(ns(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "c.start_ns < "+arg(ns(f.To)))
	}
	if !f.ShowHidden {
		where = append(where, hiddenCallTerm)
	}
	q := `SELECT ` + callCols + callFrom
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY c.start_ns DESC, c.call_id DESC LIMIT ` + arg(f.Limit) + ` OFFSET ` + arg(max(f.Offset, 0))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: calls: %w", err)
	}
	defer rows.Close()
	out := []Call{}
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("store: calls: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: calls: %w", err)
	}
	return out, nil
}

// Call returns one call.
func (s *Store) Call(ctx context.Context, id string) (*Call, error) {
	c, err := scanCall(s.r.QueryRowContext(ctx, `SELECT `+callCols+callFrom+` WHERE c.call_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: call %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: call: %w", err)
	}
	return c, nil
}
