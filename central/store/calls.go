package store

// A call as stored: the row the projection writes (eventlog/events.go), read back
// one at a time by Call (the recordings' privileged check, the API's and
// the console's call page). The call search (CallFilter, Calls) and the
// calls export are central/store/reports', built on CallColumns,
// CallJoins and ScanCall (domain.go).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	// (call_flags.go); Free calls were not charged; Cost is what the
	// appliance charged, in the minor unit of Currency.
	Hidden   bool   `json:"hidden,omitempty"`
	Free     bool   `json:"free,omitempty"`
	Cost     int64  `json:"cost,omitempty"`
	Currency string `json:"currency,omitempty"`
	// Trunk names the appliance's SIP trunk that carried the call (or
	// the last one tried when none answered); empty when no trunk was
	// tried, and for calls from appliances before the field.
	Trunk string `json:"trunk,omitempty"`
}

// CallRecording is what a call record says about its recording.
type CallRecording struct {
	ID       string `json:"id,omitempty"`
	SHA256   string `json:"sha256"`
	Bytes    int64  `json:"bytes"`
	Format   string `json:"format"`
	Uploaded bool   `json:"uploaded"`
}

const callCols = `c.call_id, c.appliance_id, c.block, c.person_id, c.prison_number, COALESCE(p.name, ''), c.card_uid,
	c.terminal, c.number, c.start_ns, c.answer_ns, c.end_ns, c.disposition, c.reason,
	c.recording_id, c.recording_sha256, c.recording_bytes, c.recording_format, r.call_id IS NOT NULL,
	c.privileged = 1 OR EXISTS (SELECT 1 FROM contacts k WHERE k.number = c.number AND k.privileged = 1
		AND (k.person_id = c.person_id OR k.person_id = p.id)) OR ` + globalPrivileged + `,
	c.officer_id, COALESCE(o.name, ''), c.confirm_method, c.ended_by,
	c.hidden = 1 OR ` + globalHidden + `, c.free = 1, c.cost, c.currency, c.trunk`

const callFrom = ` FROM calls c` + callJoins

const callJoins = `
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
		&c.OfficerID, &c.OfficerName, &c.ConfirmMethod, &c.EndedBy,
		&c.Hidden, &c.Free, &c.Cost, &c.Currency, &c.Trunk); err != nil {
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
