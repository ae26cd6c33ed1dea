package people

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the management rules (each is also wrapped in store.ErrInvalid or
// returned as is, see the functions).
var (
	// ErrTooManyContacts: the person already has max_contacts contacts.
	ErrTooManyContacts = errors.New("store: too many contacts")
	// ErrNotAllowed: the decider may not decide this contact (not an
	// administrator, or a block officer of another block).
	ErrNotAllowed = errors.New("store: not allowed to decide")
)

// MaxCallDurationSeconds bounds maximum call durations (4 hours).
const MaxCallDurationSeconds = 4 * 3600

// MaxWindows bounds the windows of one schedule.
const MaxWindows = 32

func validMaxDuration(field string, s int) error {
	if s < 0 || s > MaxCallDurationSeconds {
		return fmt.Errorf("%w: %s must be 0 to %d seconds", store.ErrInvalid, field, MaxCallDurationSeconds)
	}
	return nil
}

// validSuspension checks a status reason and suspension end. The reason
// is optional here (API clients written before it existed suspend without
// one); the console's form requires it.
func validSuspension(status, reason string, until time.Time) error {
	if err := store.ValidText("status_reason", reason, 500, false); err != nil {
		return err
	}
	if status != wire.StatusSuspended && !until.IsZero() {
		return fmt.Errorf("%w: suspended_until only applies to a suspension", store.ErrInvalid)
	}
	if !until.IsZero() && (until.Year() < 2000 || until.Year() > 9999) {
		return fmt.Errorf("%w: suspended_until is out of range", store.ErrInvalid)
	}
	return nil
}

// parseHHMM parses "HH:MM" into minutes after midnight; end allows "24:00".
func parseHHMM(s string, end bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] == '+' || s[0] == '-' || s[3] == '+' || s[3] == '-' || h < 0 || m < 0 || m > 59 {
		return 0, false
	}
	if h == 24 && m == 0 && end {
		return 24 * 60, true
	}
	if h > 23 {
		return 0, false
	}
	return h*60 + m, true
}

// ValidateWindows checks schedule windows: at most MaxWindows, Start and
// End "HH:MM" (End may be "24:00"; an End before Start runs past
// midnight), Start != End, days 0 (Sunday) to 6, each at most once.
func ValidateWindows(ws []wire.Window) error {
	if len(ws) > MaxWindows {
		return fmt.Errorf("%w: at most %d windows", store.ErrInvalid, MaxWindows)
	}
	for i, w := range ws {
		st, ok1 := parseHHMM(w.Start, false)
		en, ok2 := parseHHMM(w.End, true)
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: window %d: start and end must be \"HH:MM\" (end may be 24:00)", store.ErrInvalid, i+1)
		}
		if st == en {
			return fmt.Errorf("%w: window %d: start and end are the same time", store.ErrInvalid, i+1)
		}
		seen := [7]bool{}
		for _, d := range w.Days {
			if d < 0 || d > 6 {
				return fmt.Errorf("%w: window %d: days must be 0 (Sunday) to 6 (Saturday)", store.ErrInvalid, i+1)
			}
			if seen[d] {
				return fmt.Errorf("%w: window %d: day %d given twice", store.ErrInvalid, i+1, d)
			}
			seen[d] = true
		}
	}
	return nil
}

// ParseWindows reads windows as the console writes them: entries separated
// by ";" or newlines, each "[days ]HH:MM-HH:MM" where days is a comma list
// of 0-6 or ranges ("1-5", "0,6"); no days means every day. It validates
// the result with ValidateWindows.
func ParseWindows(s string) ([]wire.Window, error) {
	out := []wire.Window{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' || r == '\r' }) {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		if len(f) > 2 {
			return nil, fmt.Errorf("%w: window %q: want \"[days ]HH:MM-HH:MM\"", store.ErrInvalid, strings.TrimSpace(part))
		}
		var w wire.Window
		span := f[len(f)-1]
		if len(f) == 2 {
			for _, d := range strings.Split(f[0], ",") {
				lo, hi, isRange := strings.Cut(d, "-")
				a, err1 := strconv.Atoi(lo)
				b := a
				var err2 error
				if isRange {
					b, err2 = strconv.Atoi(hi)
				}
				if err1 != nil || err2 != nil || a < 0 || b > 6 || a > b {
					return nil, fmt.Errorf("%w: window %q: days must be 0-6, e.g. 1-5 or 0,6", store.ErrInvalid, strings.TrimSpace(part))
				}
				for x := a; x <= b; x++ {
					w.Days = append(w.Days, x)
				}
			}
		}
		st, en, ok := strings.Cut(span, "-")
		if !ok {
			return nil, fmt.Errorf("%w: window %q: want \"[days ]HH:MM-HH:MM\"", store.ErrInvalid, strings.TrimSpace(part))
		}
		w.Start, w.End = st, en
		out = append(out, w)
	}
	if err := ValidateWindows(out); err != nil {
		return nil, err
	}
	return out, nil
}

// FormatWindows writes windows as ParseWindows reads them.
func FormatWindows(ws []wire.Window) string {
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		var b strings.Builder
		for i, d := range w.Days {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.Start + "-" + w.End)
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "; ")
}

func windowsJSON(ws []wire.Window) string {
	if len(ws) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ws)
	return string(b)
}

func parseWindowsJSON(s string) []wire.Window {
	out := []wire.Window{}
	if s == "" {
		return out
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return []wire.Window{}
	}
	return out
}

func nsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.NS(t)
}

// Decider is who approves or rejects a contact: their audit actor, user
// role (see store.UserRole) and, for a block officer, their blocks.
type Decider struct {
	Actor  string
	Role   string
	Blocks []string
}

// mayDecide: system administrators everywhere, block officers in their
// blocks.
func (d Decider) mayDecide(block string) bool {
	switch store.UserRole(d.Role) {
	case store.RoleSystemAdmin:
		return true
	case store.RoleBlockOfficer:
		return slices.Contains(d.Blocks, block)
	}
	return false
}

// Contact returns one contact.
func (s *Store) Contact(ctx context.Context, id string) (*Contact, error) {
	c, err := scanContact(s.core.Reader().QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: contact %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read contact: %w", err)
	}
	return c, nil
}

// DecideContact approves or rejects a contact (status ContactApproved or
// ContactRejected) with a required reason, recording who decided and when.
// Only a system administrator, or a block officer of the person's block,
// may decide (else ErrNotAllowed). Approving needs room under max_contacts
// when the contact was rejected before. It returns the contact and the
// person's block (whose policy changed).
func (s *Store) DecideContact(ctx context.Context, by Decider, contactID, status, reason string) (*Contact, string, error) {
	reason = strings.TrimSpace(reason)
	if status != ContactApproved && status != ContactRejected {
		return nil, "", fmt.Errorf("%w: decision must be approved or rejected", store.ErrInvalid)
	}
	if err := store.ValidText("reason", reason, 500, true); err != nil {
		return nil, "", fmt.Errorf("%w (say why)", err)
	}
	var block string
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		var personID, old string
		err := tx.QueryRowContext(ctx, `SELECT c.person_id, c.status, p.block FROM contacts c JOIN people p ON p.id = c.person_id WHERE c.id = $1`,
			contactID).Scan(&personID, &old, &block)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: contact %s", store.ErrNotFound, contactID)
		}
		if err != nil {
			return fmt.Errorf("store: read contact: %w", err)
		}
		if !by.mayDecide(block) {
			return fmt.Errorf("%w: %s may not decide contacts of block %s", ErrNotAllowed, by.Actor, block)
		}
		if old == status {
			return fmt.Errorf("%w: the contact is already %s", store.ErrConflict, status)
		}
		if old == ContactRejected {
			limit, err := maxContacts(ctx, tx)
			if err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE person_id = $1 AND status <> $2`, personID, ContactRejected).Scan(&n); err != nil {
				return fmt.Errorf("store: count contacts: %w", err)
			}
			if n >= limit {
				return fmt.Errorf("%w: %w: this person already has %d contacts (the maximum is %d)", store.ErrInvalid, ErrTooManyContacts, n, limit)
			}
		}
		now := store.NS(s.core.Clock().Now())
		if _, err := tx.ExecContext(ctx, `UPDATE contacts SET status = $2, decided_by = $3, decided_ns = $4, decision_reason = $5, updated_ns = $4 WHERE id = $1`,
			contactID, status, by.Actor, now, reason); err != nil {
			return fmt.Errorf("store: decide contact: %w", err)
		}
		if err := store.BumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		action := "contact.approve"
		if status == ContactRejected {
			action = "contact.reject"
		}
		return s.core.AuditTx(ctx, tx, by.Actor, action, personID, fmt.Sprintf("contact=%s from=%s reason=%s", contactID, old, reason))
	})
	if err != nil {
		return nil, "", err
	}
	c, err := s.Contact(ctx, contactID)
	return c, block, err
}

// LiftSelfBlock undoes a contact's self-block (the called party pressed 9
// and now asks to be called again), with a required reason, audited as
// "contact.self_block_lift"; the number returns to the person's policy if
// the contact is approved. store.ErrConflict when the contact is not
// self-blocked. It returns the contact and the person's block.
func (s *Store) LiftSelfBlock(ctx context.Context, actor, contactID, reason string) (*Contact, string, error) {
	reason = strings.TrimSpace(reason)
	if err := store.ValidText("reason", reason, 500, true); err != nil {
		return nil, "", err
	}
	var block string
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		var personID, number string
		var blocked bool
		err := tx.QueryRowContext(ctx, `SELECT c.person_id, c.number, c.self_blocked, p.block FROM contacts c JOIN people p ON p.id = c.person_id WHERE c.id = $1`,
			contactID).Scan(&personID, &number, &blocked, &block)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: contact %s", store.ErrNotFound, contactID)
		}
		if err != nil {
			return fmt.Errorf("store: read contact: %w", err)
		}
		if !blocked {
			return fmt.Errorf("%w: contact %s is not self-blocked", store.ErrConflict, contactID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE contacts SET self_blocked = 0, updated_ns = $2 WHERE id = $1`, contactID, store.NS(s.core.Clock().Now())); err != nil {
			return fmt.Errorf("store: lift self-block: %w", err)
		}
		if err := store.BumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "contact.self_block_lift", "person:"+personID, fmt.Sprintf("contact=%s number=%s reason=%s", contactID, number, reason))
	})
	if err != nil {
		return nil, "", err
	}
	c, err := s.Contact(ctx, contactID)
	return c, block, err
}

// SelfBlockReported records an appliance's report that the called party
// pressed 9 (wire.NumberBlocked): the person's contact with that number is
// marked self-blocked, so the number leaves the person's policy, audited
// under the appliance's name with the block's policy bumped. The event
// projection records the same report when it projects the event; whichever
// comes first marks it, the other finds it marked. It returns the person's
// block when the person has a contact with that number (self-blocked now,
// by this report or an earlier one), so the caller republishes that
// block's policy, and "" when the number is not one of the person's
// contacts (nothing to change).
func (s *Store) SelfBlockReported(ctx context.Context, applianceID string, nb wire.NumberBlocked) (string, error) {
	if err := wire.ValidApplianceID(applianceID); err != nil {
		return "", fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	if err := nb.Validate(); err != nil {
		return "", fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	num := policy.NormalizeNumber(nb.Number)
	var block string
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		// Only about a person of the appliance's own block: anything else is
		// left to the event's projection, which alarms
		// (central/store/personblocks.go, eventlog/personblocks.go).
		var own int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM appliances a JOIN people p ON p.id = $2
			WHERE a.id = $1 AND (a.block IS NULL OR a.block = '' OR a.block = p.block)`, applianceID, nb.PersonID).Scan(&own); err != nil {
			return fmt.Errorf("store: self-block: %w", err)
		}
		if own == 0 {
			return nil
		}
		block, _, err = s.core.SelfBlockTx(ctx, tx, "appliance:"+applianceID, nb.PersonID, num, fmt.Sprintf("number=%s call=%s", num, nb.CallID))
		return err
	})
	return block, err
}

// newPIN is a random 6-digit PIN.
func newPIN() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// ResetPIN gives a person a new random 6-digit PIN and returns it (the
// only time it is seen: only its hash is kept) with the person's block.
func (s *Store) ResetPIN(ctx context.Context, actor, personID string) (newPin, block string, err error) {
	p := newPIN()
	h, err := pin.Hash(p)
	if err != nil {
		return "", "", fmt.Errorf("store: hash PIN: %w", err)
	}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, personID).Scan(&block); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: inmate %s", store.ErrNotFound, personID)
		} else if err != nil {
			return fmt.Errorf("store: read person: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET pin_hash = $2, updated_ns = $3 WHERE id = $1`, personID, h, store.NS(s.core.Clock().Now())); err != nil {
			return fmt.Errorf("store: reset PIN: %w", err)
		}
		if err := store.BumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "inmate.pin_reset", personID, "")
	})
	if err != nil {
		return "", "", err
	}
	return p, block, nil
}

// ExpireSuspensions makes active again the people whose suspension end
// (suspended_until) has passed, and returns their blocks (to republish).
// Central runs it periodically.
func (s *Store) ExpireSuspensions(ctx context.Context) ([]string, error) {
	var blocks []string
	now := store.NS(s.core.Clock().Now())
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, block FROM people WHERE status = $1 AND suspended_until_ns > 0 AND suspended_until_ns <= $2`,
			wire.StatusSuspended, now)
		if err != nil {
			return fmt.Errorf("store: expired suspensions: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id, b string
			if err := rows.Scan(&id, &b); err != nil {
				rows.Close()
				return fmt.Errorf("store: expired suspensions: %w", err)
			}
			ids = append(ids, id)
			if !slices.Contains(blocks, b) {
				blocks = append(blocks, b)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: expired suspensions: %w", err)
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE people SET status = $2, status_reason = '', suspended_until_ns = 0, updated_ns = $3 WHERE id = $1`,
				id, wire.StatusActive, now); err != nil {
				return fmt.Errorf("store: end suspension: %w", err)
			}
			if err := s.core.AuditTx(ctx, tx, "system", "inmate.suspension_ended", id, ""); err != nil {
				return err
			}
		}
		return store.BumpPolicy(ctx, tx, blocks...)
	})
	if err != nil {
		return nil, err
	}
	return blocks, nil
}

// BlockWindows returns a block's calling windows.
func (s *Store) BlockWindows(ctx context.Context, block string) ([]wire.Window, error) {
	var win string
	err := s.core.Reader().QueryRowContext(ctx, `SELECT windows FROM blocks WHERE name = $1`, block).Scan(&win)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", store.ErrUnknownBlock, block)
	}
	if err != nil {
		return nil, fmt.Errorf("store: block windows: %w", err)
	}
	return parseWindowsJSON(win), nil
}

// SetBlockWindows replaces a block's calling windows (empty: no block
// schedule) and bumps its policy.
func (s *Store) SetBlockWindows(ctx context.Context, actor, block string, ws []wire.Window) error {
	if err := ValidateWindows(ws); err != nil {
		return err
	}
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.core.BlockExists(ctx, tx, block); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blocks SET windows = $2 WHERE name = $1`, block, windowsJSON(ws)); err != nil {
			return fmt.Errorf("store: block windows: %w", err)
		}
		if err := store.BumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "block.windows", block, FormatWindows(ws))
	})
}
