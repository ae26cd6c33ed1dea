package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Contact statuses.
const (
	ContactApproved  = "approved"
	ContactRequested = "requested"
	ContactRejected  = "rejected"
)

// Block is a cell block: the unit a policy is published for.
type Block struct {
	Name          string `json:"name"`
	PolicyVersion uint64 `json:"policy_version"`
}

// Appliance is an appliance as the console shows it.
type Appliance struct {
	ID                   string     `json:"id"`
	Block                string     `json:"block"`
	LastSeen             *time.Time `json:"last_seen"`
	PolicyVersionApplied uint64     `json:"policy_version_applied"`
	PolicyVersionCurrent uint64     `json:"policy_version_current"`
	Software             string     `json:"software,omitempty"`
	AckedSeq             uint64     `json:"acked_seq"`
	OpenAlarms           int        `json:"open_alarms"`
	// Online: the appliance was heard from within OnlineWithin.
	Online bool `json:"online"`
	// PolicyCurrent: it applied its block's current policy version.
	PolicyCurrent bool `json:"policy_current"`
}

// OnlineWithin is how recently an appliance must have been heard from to
// count as online.
const OnlineWithin = 2 * time.Minute

// Person is an inmate record. The PIN hash never leaves the store except in
// a policy snapshot.
type Person struct {
	ID           string   `json:"id"`
	PrisonNumber string   `json:"prison_number"`
	Name         string   `json:"name"`
	Block        string   `json:"block"`
	Status       string   `json:"status"`
	Language     string   `json:"language,omitempty"`
	HasPIN       bool     `json:"has_pin"`
	Cards        []string `json:"cards"`
	// SupervisionLevel selects the block's call rule for this person.
	SupervisionLevel string `json:"supervision_level"`
	// Confirm overrides the rule's officer confirmation: "" (the rule's),
	// "none", "button", "card" or "both".
	Confirm string `json:"confirm"`
	// ConfirmWindowSeconds overrides the rule's window when above 0.
	ConfirmWindowSeconds int `json:"confirm_window_seconds"`
	// Officer marks a member of staff whose card confirms calls on the
	// block's officer panel (not an inmate: never allowed to call).
	Officer bool `json:"officer"`
	// Windows, when not empty, replace the rule's calling windows.
	Windows []wire.Window `json:"windows"`
	// MaxDurationSeconds overrides the rule's maximum call duration (0: the
	// rule's).
	MaxDurationSeconds int `json:"max_duration_seconds"`
	// CallsPerDay, CallsPerWeek and CallsPerMonth replace the rule's call
	// quota of that period when above 0 (0: the rule's).
	CallsPerDay   int `json:"calls_per_day"`
	CallsPerWeek  int `json:"calls_per_week"`
	CallsPerMonth int `json:"calls_per_month"`
	// HasPhoto: the person has a photo (Store.Photo).
	HasPhoto bool `json:"has_photo"`
	// StatusReason says why a person is suspended (or released).
	StatusReason string `json:"status_reason,omitempty"`
	// SuspendedUntil is when a suspension ends (nil: until lifted).
	SuspendedUntil *time.Time `json:"suspended_until,omitempty"`
	Created        time.Time  `json:"created"`
	Updated        time.Time  `json:"updated"`
}

// NewPerson is the input of CreatePerson. Status defaults to active; PIN, if
// set, is 4 to 8 digits and only its argon2id hash is kept.
type NewPerson struct {
	PrisonNumber string // for an officer: the staff number
	Name         string
	Block        string
	Status       string
	Language     string
	PIN          string
	// SupervisionLevel, Confirm and ConfirmWindowSeconds: see Person.
	SupervisionLevel     string
	Confirm              string
	ConfirmWindowSeconds int
	Officer              bool
	// Cards are issued to the person in the same transaction.
	Cards []string
	// Windows, MaxDurationSeconds and the quotas: see Person.
	Windows                                  []wire.Window
	MaxDurationSeconds                       int
	CallsPerDay, CallsPerWeek, CallsPerMonth int
	// StatusReason is required when Status is suspended; SuspendedUntil
	// (zero: until lifted) only applies to a suspension.
	StatusReason   string
	SuspendedUntil time.Time
}

// PersonUpdate changes the fields that are not nil.
type PersonUpdate struct {
	Name     *string
	Block    *string
	Status   *string
	Language *string
	PIN      *string
	// Dual authorization (see Person).
	SupervisionLevel     *string
	Confirm              *string
	ConfirmWindowSeconds *int
	// Windows (an empty slice clears them) and MaxDurationSeconds: see
	// Person.
	Windows            *[]wire.Window
	MaxDurationSeconds *int
	// The person's own quotas (0: the rule's): see Person.
	CallsPerDay, CallsPerWeek, CallsPerMonth *int
	// StatusReason is required when Status becomes suspended.
	// SuspendedUntil (zero: until lifted) is kept only while suspended;
	// another status clears both unless StatusReason is given.
	StatusReason   *string
	SuspendedUntil *time.Time
}

// MaxConfirmWindowSeconds bounds confirmation windows (an hour).
const MaxConfirmWindowSeconds = 3600

func validConfirm(field, c string) error {
	if !policy.ValidConfirm(c) {
		return fmt.Errorf("%w: %s must be \"\", none, button, card or both", ErrInvalid, field)
	}
	return nil
}

func validWindow(field string, s int) error {
	if s < 0 || s > MaxConfirmWindowSeconds {
		return fmt.Errorf("%w: %s must be 0 to %d seconds", ErrInvalid, field, MaxConfirmWindowSeconds)
	}
	return nil
}

func validLevel(l string) error {
	return validText("supervision_level", l, 32, false)
}

// Contact is a number a person asked to call.
type Contact struct {
	ID           string    `json:"id"`
	PersonID     string    `json:"person_id"`
	Number       string    `json:"number"`
	Name         string    `json:"name"`
	Relationship string    `json:"relationship"`
	Status       string    `json:"status"`
	Privileged   bool      `json:"privileged"`
	Created      time.Time `json:"created"`
	// Identity holds the identity details checked for the contact (ID
	// document, address, ...), as free text.
	Identity string `json:"identity,omitempty"`
	// RequestedBy is who added the contact; DecidedBy, Decided and
	// DecisionReason who approved or rejected it, when and why.
	RequestedBy    string     `json:"requested_by,omitempty"`
	DecidedBy      string     `json:"decided_by,omitempty"`
	Decided        *time.Time `json:"decided,omitempty"`
	DecisionReason string     `json:"decision_reason,omitempty"`
	// SelfBlocked: the called party pressed 9 to refuse further calls from
	// this person; the number is left out of the policy.
	SelfBlocked bool `json:"self_blocked"`
}

// NewContact is the input of AddContact. Number is normalized with
// policy.NormalizeNumber. Status defaults to approved.
type NewContact struct {
	Number       string
	Name         string
	Relationship string
	Privileged   bool
	Status       string
	Identity     string
	// Reason is recorded as the decision's reason when Status is approved
	// or rejected at once.
	Reason string
}

func validText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalid, field)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%w: %s must be valid text of at most %d characters", ErrInvalid, field, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s contains control characters", ErrInvalid, field)
		}
	}
	return nil
}

func validStatus(s string) error {
	switch s {
	case wire.StatusActive, wire.StatusSuspended, wire.StatusReleased:
		return nil
	}
	return fmt.Errorf("%w: status must be active, suspended or released", ErrInvalid)
}

// bumpPolicy gives each block a new policy version from the global counter,
// so versions grow across blocks too (an appliance moved to another block
// still sees its version grow).
func bumpPolicy(ctx context.Context, tx *sql.Tx, blocks ...string) error {
	seen := map[string]bool{}
	for _, b := range blocks {
		if b == "" || seen[b] {
			continue
		}
		seen[b] = true
		v, err := nextCounter(ctx, tx, "policy_version")
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blocks SET policy_version = $2 WHERE name = $1`, b, v); err != nil {
			return fmt.Errorf("store: bump policy of %s: %w", b, err)
		}
	}
	return nil
}

func ensureBlock(ctx context.Context, tx *sql.Tx, name string, now int64) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO blocks (name, policy_version, created_ns) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING`, name, now)
	if err != nil {
		return fmt.Errorf("store: create block %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return bumpPolicy(ctx, tx, name)
	}
	return nil
}

func validBlockName(name string) error {
	if err := wire.ValidApplianceID(name); err != nil {
		return fmt.Errorf("%w: block name must be 1 to 64 characters of A-Z a-z 0-9 . _ -", ErrInvalid)
	}
	return nil
}

// EnsureBlock creates a block if it does not exist.
func (s *Store) EnsureBlock(ctx context.Context, actor, name string) error {
	if err := validBlockName(name); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := ensureBlock(ctx, tx, name, ns(s.clk.Now())); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "block.ensure", name, "")
	})
}

// Blocks lists the blocks.
func (s *Store) Blocks(ctx context.Context) ([]Block, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, policy_version FROM blocks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	defer rows.Close()
	out := []Block{}
	for rows.Next() {
		var b Block
		var v int64
		if err := rows.Scan(&b.Name, &v); err != nil {
			return nil, fmt.Errorf("store: blocks: %w", err)
		}
		b.PolicyVersion = uint64(v)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	return out, nil
}

func (s *Store) blockExists(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM blocks WHERE name = $1`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %q", ErrUnknownBlock, name)
	}
	if err != nil {
		return fmt.Errorf("store: read block: %w", err)
	}
	return nil
}

// UpsertAppliance registers an appliance in a block (creating the block if
// needed) or moves it to another block. block "" leaves it unassigned.
func (s *Store) UpsertAppliance(ctx context.Context, id, block string) error {
	if err := wire.ValidApplianceID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if block != "" {
		if err := validBlockName(block); err != nil {
			return err
		}
	}
	now := ns(s.clk.Now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var nb sql.NullString
		if block != "" {
			nb = sql.NullString{String: block, Valid: true}
			if err := ensureBlock(ctx, tx, block, now); err != nil {
				return err
			}
		}
		var old sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT block FROM appliances WHERE id = $1`, id).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO appliances (id, block, created_ns) VALUES ($1, $2, $3)`, id, nb, now); err != nil {
				return fmt.Errorf("store: insert appliance: %w", err)
			}
		case err != nil:
			return fmt.Errorf("store: read appliance: %w", err)
		case old != nb:
			if _, err := tx.ExecContext(ctx, `UPDATE appliances SET block = $2 WHERE id = $1`, id, nb); err != nil {
				return fmt.Errorf("store: move appliance: %w", err)
			}
			// The appliance now gets another block's policy: make sure its
			// version is above anything it was sent before.
			if err := bumpPolicy(ctx, tx, block); err != nil {
				return err
			}
		default:
			return nil
		}
		return s.audit(ctx, tx, "system", "appliance.upsert", id, "block="+block)
	})
}

// AppliancesInBlock lists appliance ids of a block ("" = all appliances).
func (s *Store) AppliancesInBlock(ctx context.Context, block string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM appliances WHERE ($1 = '' OR block = $1) ORDER BY id`, block)
	if err != nil {
		return nil, fmt.Errorf("store: appliances in block: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: appliances in block: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: appliances in block: %w", err)
	}
	return out, nil
}

// Appliances lists every appliance with its policy versions and open alarms.
func (s *Store) Appliances(ctx context.Context) ([]Appliance, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT a.id, COALESCE(a.block, ''), a.last_seen_ns, a.policy_version_applied,
			COALESCE(b.policy_version, 0), a.software, a.acked_seq,
			(SELECT COUNT(*) FROM alarms al WHERE al.appliance_id = a.id AND al.cleared_ns IS NULL)
		FROM appliances a LEFT JOIN blocks b ON b.name = a.block ORDER BY a.id`)
	if err != nil {
		return nil, fmt.Errorf("store: appliances: %w", err)
	}
	defer rows.Close()
	out := []Appliance{}
	for rows.Next() {
		var a Appliance
		var seen sql.NullInt64
		var applied, current, acked int64
		if err := rows.Scan(&a.ID, &a.Block, &seen, &applied, &current, &a.Software, &acked, &a.OpenAlarms); err != nil {
			return nil, fmt.Errorf("store: appliances: %w", err)
		}
		a.LastSeen, a.PolicyVersionApplied, a.PolicyVersionCurrent, a.AckedSeq = nullNS(seen), uint64(applied), uint64(current), uint64(acked)&(chainSpan-1)
		a.Online = a.LastSeen != nil && s.clk.Now().Sub(*a.LastSeen) <= OnlineWithin
		a.PolicyCurrent = a.PolicyVersionApplied >= a.PolicyVersionCurrent
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: appliances: %w", err)
	}
	return out, nil
}

func normalizePIN(p string) error {
	if len(p) < 4 || len(p) > 8 {
		return fmt.Errorf("%w: PIN must be 4 to 8 digits", ErrInvalid)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return fmt.Errorf("%w: PIN must be 4 to 8 digits", ErrInvalid)
		}
	}
	return nil
}

// CreatePerson adds an inmate to an existing block. A prison number already
// in use gives ErrConflict, an unknown block ErrUnknownBlock. The change and
// its audit entry commit together.
func (s *Store) CreatePerson(ctx context.Context, actor string, in NewPerson) (*Person, error) {
	in.PrisonNumber = strings.TrimSpace(in.PrisonNumber)
	in.Name = strings.TrimSpace(in.Name)
	if in.Status == "" {
		in.Status = wire.StatusActive
	}
	in.SupervisionLevel = strings.TrimSpace(in.SupervisionLevel)
	if err := errors.Join(validText("prison_number", in.PrisonNumber, 32, true), validText("name", in.Name, 200, true),
		validText("language", in.Language, 16, false), validStatus(in.Status), validLevel(in.SupervisionLevel),
		validConfirm("confirm", in.Confirm), validWindow("confirm_window_seconds", in.ConfirmWindowSeconds),
		ValidateWindows(in.Windows), validMaxDuration("max_duration_seconds", in.MaxDurationSeconds),
		validQuota("calls_per_day", in.CallsPerDay), validQuota("calls_per_week", in.CallsPerWeek),
		validQuota("calls_per_month", in.CallsPerMonth),
		validSuspension(in.Status, in.StatusReason, in.SuspendedUntil)); err != nil {
		return nil, err
	}
	cards := make([]string, 0, len(in.Cards))
	for _, c := range in.Cards {
		c = policy.NormalizeUID(c)
		if !ValidCardUID(c) {
			return nil, fmt.Errorf("%w: card uid must be 8 to 20 hex digits (4 to 10 bytes)", ErrInvalid)
		}
		cards = append(cards, c)
	}
	if err := validBlockName(in.Block); err != nil {
		return nil, err
	}
	var hash string
	if in.PIN != "" {
		if err := normalizePIN(in.PIN); err != nil {
			return nil, err
		}
		h, err := pin.Hash(in.PIN)
		if err != nil {
			return nil, fmt.Errorf("store: hash PIN: %w", err)
		}
		hash = h
	}
	id := newID("p_")
	now := ns(s.clk.Now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.blockExists(ctx, tx, in.Block); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO people (id, prison_number, name, block, status, language, pin_hash, created_ns, updated_ns,
				supervision_level, confirm, confirm_window_s, officer, windows, max_duration_s, status_reason, suspended_until_ns,
				calls_per_day, calls_per_week, calls_per_month)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (prison_number) DO NOTHING`,
			id, in.PrisonNumber, in.Name, in.Block, in.Status, in.Language, hash, now,
			in.SupervisionLevel, in.Confirm, in.ConfirmWindowSeconds, boolInt(in.Officer),
			windowsJSON(in.Windows), in.MaxDurationSeconds, in.StatusReason, nsOrZero(in.SuspendedUntil),
			in.CallsPerDay, in.CallsPerWeek, in.CallsPerMonth)
		if err != nil {
			return fmt.Errorf("store: insert person: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: prison number %s", ErrConflict, in.PrisonNumber)
		}
		if err := recordPersonBlock(ctx, tx, id, in.Block, now); err != nil {
			return err
		}
		for _, uid := range cards {
			res, err := tx.ExecContext(ctx, `INSERT INTO cards (uid, person_id, created_ns) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING`, uid, id, now)
			if err != nil {
				return fmt.Errorf("store: insert card: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("%w: card %s is already issued", ErrConflict, uid)
			}
		}
		if err := bumpPolicy(ctx, tx, in.Block); err != nil {
			return err
		}
		action := "inmate.create"
		if in.Officer {
			action = "officer.create"
		}
		return s.audit(ctx, tx, actor, action, id, fmt.Sprintf("prison_number=%s block=%s level=%s confirm=%s quota=%d,%d,%d cards=%s",
			in.PrisonNumber, in.Block, in.SupervisionLevel, in.Confirm, in.CallsPerDay, in.CallsPerWeek, in.CallsPerMonth, strings.Join(cards, ",")))
	})
	if err != nil {
		return nil, err
	}
	return s.Person(ctx, id)
}

// UpdatePerson changes a person. It returns the updated person and the
// blocks whose policy changed (the old and the new block when moved).
func (s *Store) UpdatePerson(ctx context.Context, actor, id string, up PersonUpdate) (*Person, []string, error) {
	var checks []error
	if up.Name != nil {
		*up.Name = strings.TrimSpace(*up.Name)
		checks = append(checks, validText("name", *up.Name, 200, true))
	}
	if up.Language != nil {
		checks = append(checks, validText("language", *up.Language, 16, false))
	}
	if up.Status != nil {
		checks = append(checks, validStatus(*up.Status))
	}
	if up.Block != nil {
		checks = append(checks, validBlockName(*up.Block))
	}
	if up.SupervisionLevel != nil {
		*up.SupervisionLevel = strings.TrimSpace(*up.SupervisionLevel)
		checks = append(checks, validLevel(*up.SupervisionLevel))
	}
	if up.Confirm != nil {
		checks = append(checks, validConfirm("confirm", *up.Confirm))
	}
	if up.ConfirmWindowSeconds != nil {
		checks = append(checks, validWindow("confirm_window_seconds", *up.ConfirmWindowSeconds))
	}
	if up.Windows != nil {
		checks = append(checks, ValidateWindows(*up.Windows))
	}
	if up.MaxDurationSeconds != nil {
		checks = append(checks, validMaxDuration("max_duration_seconds", *up.MaxDurationSeconds))
	}
	for _, q := range []struct {
		field string
		n     *int
	}{{"calls_per_day", up.CallsPerDay}, {"calls_per_week", up.CallsPerWeek}, {"calls_per_month", up.CallsPerMonth}} {
		if q.n != nil {
			checks = append(checks, validQuota(q.field, *q.n))
		}
	}
	if up.StatusReason != nil {
		checks = append(checks, validText("status_reason", *up.StatusReason, 500, false))
	}
	if up.Status != nil && *up.Status == wire.StatusSuspended {
		reason, until := "", time.Time{}
		if up.StatusReason != nil {
			reason = *up.StatusReason
		}
		if up.SuspendedUntil != nil {
			until = *up.SuspendedUntil
		}
		checks = append(checks, validSuspension(*up.Status, reason, until))
	}
	var hash *string
	if up.PIN != nil {
		if err := normalizePIN(*up.PIN); err != nil {
			checks = append(checks, err)
		} else {
			h, err := pin.Hash(*up.PIN)
			if err != nil {
				return nil, nil, fmt.Errorf("store: hash PIN: %w", err)
			}
			hash = &h
		}
	}
	if err := errors.Join(checks...); err != nil {
		return nil, nil, err
	}
	var changed []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var oldBlock string
		err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, id).Scan(&oldBlock)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: inmate %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: read person: %w", err)
		}
		var sets []string
		args := []any{id, ns(s.clk.Now())}
		var fields []string
		add := func(col string, v any) {
			args = append(args, v)
			sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
			fields = append(fields, col)
		}
		if up.Name != nil {
			add("name", *up.Name)
		}
		if up.Language != nil {
			add("language", *up.Language)
		}
		if up.Status != nil {
			add("status", *up.Status)
		}
		if hash != nil {
			add("pin_hash", *hash)
		}
		if up.SupervisionLevel != nil {
			add("supervision_level", *up.SupervisionLevel)
		}
		if up.Confirm != nil {
			add("confirm", *up.Confirm)
		}
		if up.ConfirmWindowSeconds != nil {
			add("confirm_window_s", *up.ConfirmWindowSeconds)
		}
		if up.Windows != nil {
			add("windows", windowsJSON(*up.Windows))
		}
		if up.MaxDurationSeconds != nil {
			add("max_duration_s", *up.MaxDurationSeconds)
		}
		if up.CallsPerDay != nil {
			add("calls_per_day", *up.CallsPerDay)
		}
		if up.CallsPerWeek != nil {
			add("calls_per_week", *up.CallsPerWeek)
		}
		if up.CallsPerMonth != nil {
			add("calls_per_month", *up.CallsPerMonth)
		}
		switch {
		case up.Status != nil && *up.Status == wire.StatusSuspended:
			reason := ""
			if up.StatusReason != nil {
				reason = strings.TrimSpace(*up.StatusReason)
			}
			add("status_reason", reason)
			var until time.Time
			if up.SuspendedUntil != nil {
				until = *up.SuspendedUntil
			}
			add("suspended_until_ns", nsOrZero(until))
		case up.Status != nil:
			reason := ""
			if up.StatusReason != nil {
				reason = strings.TrimSpace(*up.StatusReason)
			}
			add("status_reason", reason)
			add("suspended_until_ns", int64(0))
		case up.StatusReason != nil:
			add("status_reason", strings.TrimSpace(*up.StatusReason))
		}
		changed = []string{oldBlock}
		if up.Block != nil && *up.Block != oldBlock {
			if err := s.blockExists(ctx, tx, *up.Block); err != nil {
				return err
			}
			add("block", *up.Block)
			changed = append(changed, *up.Block)
			if err := recordPersonBlock(ctx, tx, id, *up.Block, args[1].(int64)); err != nil {
				return err
			}
		}
		if len(sets) == 0 {
			changed = nil
			return nil
		}
		q := `UPDATE people SET updated_ns = $2, ` + strings.Join(sets, ", ") + ` WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("store: update person: %w", err)
		}
		if err := bumpPolicy(ctx, tx, changed...); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "inmate.update", id, "fields="+strings.Join(fields, ","))
	})
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Person(ctx, id)
	return p, changed, err
}

// personCols are the columns scanPerson reads, from people (not aliased).
const personCols = `id, prison_number, name, block, status, language, pin_hash <> '', created_ns, updated_ns,
	supervision_level, confirm, confirm_window_s, officer, windows, max_duration_s, status_reason, suspended_until_ns,
	calls_per_day, calls_per_week, calls_per_month, EXISTS (SELECT 1 FROM person_photos ph WHERE ph.person_id = people.id)`

func scanPerson(sc interface{ Scan(...any) error }) (*Person, error) {
	var p Person
	var c, u, until int64
	var win string
	if err := sc.Scan(&p.ID, &p.PrisonNumber, &p.Name, &p.Block, &p.Status, &p.Language, &p.HasPIN, &c, &u,
		&p.SupervisionLevel, &p.Confirm, &p.ConfirmWindowSeconds, &p.Officer, &win, &p.MaxDurationSeconds,
		&p.StatusReason, &until, &p.CallsPerDay, &p.CallsPerWeek, &p.CallsPerMonth, &p.HasPhoto); err != nil {
		return nil, err
	}
	p.Created, p.Updated = fromNS(c), fromNS(u)
	p.Windows = parseWindowsJSON(win)
	if until > 0 {
		t := fromNS(until)
		p.SuspendedUntil = &t
	}
	p.Cards = []string{}
	return &p, nil
}

// Person returns one person with their cards.
func (s *Store) Person(ctx context.Context, id string) (*Person, error) {
	p, err := scanPerson(s.r.QueryRowContext(ctx, `SELECT `+personCols+` FROM people WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: inmate %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read person: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT uid FROM cards WHERE person_id = $1 ORDER BY uid`, id)
	if err != nil {
		return nil, fmt.Errorf("store: read cards: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid string
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("store: read cards: %w", err)
		}
		p.Cards = append(p.Cards, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read cards: %w", err)
	}
	return p, nil
}

// PeopleFilter selects people; empty fields match everything.
type PeopleFilter struct {
	Block  string
	Status string
	// Officers lists officers instead of inmates.
	Officers bool
	// Blocks, when not nil, restricts the list to these blocks (a block
	// officer's scope); an empty non-nil slice matches nobody.
	Blocks []string
	// Query matches a prison number prefix or part of a name
	// (case-insensitive for ASCII).
	Query  string
	Limit  int // default 100, at most 1000
	Offset int
}

// People lists people ordered by prison number, with their cards.
func (s *Store) People(ctx context.Context, f PeopleFilter) ([]Person, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	args := []any{f.Block, f.Status, f.Limit, max(f.Offset, 0), boolInt(f.Officers)}
	scope := ""
	if f.Blocks != nil {
		scope = " AND " + inList("block", f.Blocks, &args)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		args = append(args, likeEscape(strings.ToLower(q))+"%", "%"+likeEscape(strings.ToLower(q))+"%")
		scope += fmt.Sprintf(` AND (LOWER(prison_number) LIKE $%d ESCAPE '\' OR LOWER(name) LIKE $%d ESCAPE '\')`, len(args)-1, len(args))
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+personCols+` FROM people
		WHERE ($1 = '' OR block = $1) AND ($2 = '' OR status = $2) AND officer = $5`+scope+`
		ORDER BY prison_number LIMIT $3 OFFSET $4`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: people: %w", err)
	}
	out := []Person{}
	idx := map[string]int{}
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: people: %w", err)
		}
		idx[p.ID] = len(out)
		out = append(out, *p)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: people: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	crows, err := s.r.QueryContext(ctx, `SELECT c.person_id, c.uid FROM cards c JOIN people p ON p.id = c.person_id
		WHERE ($1 = '' OR p.block = $1) AND ($2 = '' OR p.status = $2) ORDER BY c.uid`, f.Block, f.Status)
	if err != nil {
		return nil, fmt.Errorf("store: people cards: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var pid, uid string
		if err := crows.Scan(&pid, &uid); err != nil {
			return nil, fmt.Errorf("store: people cards: %w", err)
		}
		if i, ok := idx[pid]; ok {
			out[i].Cards = append(out[i].Cards, uid)
		}
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("store: people cards: %w", err)
	}
	return out, nil
}

// ValidCardUID reports whether uid (after policy.NormalizeUID) is 4 to 10
// bytes of hex, as ISO 14443 / MIFARE UIDs are.
func ValidCardUID(uid string) bool {
	if len(uid) < 8 || len(uid) > 20 || len(uid)%2 != 0 {
		return false
	}
	for i := 0; i < len(uid); i++ {
		c := uid[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// AddCard gives a person a card. A UID held by anyone already gives
// ErrConflict. It returns the person's block (whose policy changed).
func (s *Store) AddCard(ctx context.Context, actor, personID, uid string) (block string, err error) {
	uid = policy.NormalizeUID(uid)
	if !ValidCardUID(uid) {
		return "", fmt.Errorf("%w: card uid must be 8 to 20 hex digits (4 to 10 bytes)", ErrInvalid)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, personID).Scan(&block); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: inmate %s", ErrNotFound, personID)
		} else if err != nil {
			return fmt.Errorf("store: read person: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO cards (uid, person_id, created_ns) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING`, uid, personID, ns(s.clk.Now()))
		if err != nil {
			return fmt.Errorf("store: insert card: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: card %s is already issued", ErrConflict, uid)
		}
		if err := bumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "card.add", personID, "uid="+uid)
	})
	if err != nil {
		return "", err
	}
	return block, nil
}

// AddContact adds a number to a person's list. The same number twice for one
// person gives ErrConflict. Status defaults to approved (the caller is then
// the decider, recorded with Reason); the console adds contacts as
// requested. A person holding the setting max_contacts contacts that are
// not rejected already gets ErrTooManyContacts (wrapped in ErrInvalid). It
// returns the contact and the person's block.
func (s *Store) AddContact(ctx context.Context, actor, personID string, in NewContact) (*Contact, string, error) {
	num := policy.NormalizeNumber(in.Number)
	if num == "" || len(strings.TrimPrefix(num, "+")) < 3 {
		return nil, "", fmt.Errorf("%w: number %q is not a phone number", ErrInvalid, in.Number)
	}
	if in.Status == "" {
		in.Status = ContactApproved
	}
	switch in.Status {
	case ContactApproved, ContactRequested, ContactRejected:
	default:
		return nil, "", fmt.Errorf("%w: contact status must be approved, requested or rejected", ErrInvalid)
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Identity = strings.TrimSpace(in.Identity)
	in.Reason = strings.TrimSpace(in.Reason)
	if err := errors.Join(validText("name", in.Name, 200, true), validText("relationship", in.Relationship, 64, false),
		validText("identity", in.Identity, 500, false), validText("reason", in.Reason, 500, false)); err != nil {
		return nil, "", err
	}
	now := s.clk.Now().UTC()
	c := &Contact{ID: newID("c_"), PersonID: personID, Number: num, Name: in.Name, Relationship: in.Relationship,
		Status: in.Status, Privileged: in.Privileged, Created: now, Identity: in.Identity, RequestedBy: actor}
	if in.Status != ContactRequested {
		c.DecidedBy, c.Decided, c.DecisionReason = actor, &now, in.Reason
		if c.DecisionReason == "" {
			c.DecisionReason = in.Status + " when added"
		}
	}
	var block string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		block, err = s.addContactTx(ctx, tx, actor, c)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return c, block, nil
}

// addContactTx inserts c (already validated) for c.PersonID, enforcing the
// contact limit, bumps the block's policy and audits.
func (s *Store) addContactTx(ctx context.Context, tx *sql.Tx, actor string, c *Contact) (string, error) {
	var block string
	if err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, c.PersonID).Scan(&block); errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: inmate %s", ErrNotFound, c.PersonID)
	} else if err != nil {
		return "", fmt.Errorf("store: read person: %w", err)
	}
	if c.Status != ContactRejected {
		limit, err := maxContacts(ctx, tx)
		if err != nil {
			return "", err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE person_id = $1 AND status <> $2`, c.PersonID, ContactRejected).Scan(&n); err != nil {
			return "", fmt.Errorf("store: count contacts: %w", err)
		}
		if n >= limit {
			return "", fmt.Errorf("%w: %w: this person already has %d contacts (the maximum is %d); reject or remove one first", ErrInvalid, ErrTooManyContacts, n, limit)
		}
	}
	var decided int64
	if c.Decided != nil {
		decided = ns(*c.Decided)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, person_id, number, name, relationship, status, privileged, created_ns,
			identity, requested_by, decided_by, decided_ns, decision_reason, updated_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $8) ON CONFLICT (person_id, number) DO NOTHING`,
		c.ID, c.PersonID, c.Number, c.Name, c.Relationship, c.Status, boolInt(c.Privileged), ns(c.Created),
		c.Identity, c.RequestedBy, c.DecidedBy, decided, c.DecisionReason)
	if err != nil {
		return "", fmt.Errorf("store: insert contact: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("%w: number %s is already on this person's list", ErrConflict, c.Number)
	}
	if err := bumpPolicy(ctx, tx, block); err != nil {
		return "", err
	}
	return block, s.audit(ctx, tx, actor, "contact.add", c.PersonID, fmt.Sprintf("contact=%s number=%s privileged=%t status=%s",
		c.ID, c.Number, c.Privileged, c.Status))
}

const contactCols = `id, person_id, number, name, relationship, status, privileged, created_ns,
	identity, requested_by, decided_by, decided_ns, decision_reason, self_blocked`

func scanContact(sc interface{ Scan(...any) error }) (*Contact, error) {
	var c Contact
	var t, d int64
	if err := sc.Scan(&c.ID, &c.PersonID, &c.Number, &c.Name, &c.Relationship, &c.Status, &c.Privileged, &t,
		&c.Identity, &c.RequestedBy, &c.DecidedBy, &d, &c.DecisionReason, &c.SelfBlocked); err != nil {
		return nil, err
	}
	c.Created = fromNS(t)
	if d > 0 {
		dt := fromNS(d)
		c.Decided = &dt
	}
	return &c, nil
}

// Contacts lists a person's contacts (ErrNotFound for an unknown person).
func (s *Store) Contacts(ctx context.Context, personID string) ([]Contact, error) {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM people WHERE id = $1`, personID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: inmate %s", ErrNotFound, personID)
	} else if err != nil {
		return nil, fmt.Errorf("store: read person: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE person_id = $1 ORDER BY created_ns, id`, personID)
	if err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	defer rows.Close()
	out := []Contact{}
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: contacts: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	return out, nil
}

// PolicyFor builds the current policy snapshot for an appliance: the active
// people housed in its block (inmates and officers), their cards, PIN
// hashes, approved numbers (not those whose owner self-blocked; flagged
// privileged, free or hidden by the global numbers list), windows, maximum
// durations and dual-authorization settings, the block's call rules and
// windows, the prison-wide number list and the prison's name and time zone;
// each person's own call quotas too (replacing their rule's per period).
// Version strictly increases whenever that content may have changed and never
// goes back, also across restarts (it comes from a persisted counter bumped in
// the same transaction as every change). The snapshot is read in one
// transaction, so version and content belong together.
func (s *Store) PolicyFor(ctx context.Context, applianceID string) (*wire.Policy, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: policy: %w", err)
	}
	defer tx.Rollback()
	var block sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT block FROM appliances WHERE id = $1`, applianceID).Scan(&block)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: appliance %s", ErrNotFound, applianceID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: policy: %w", err)
	}
	if !block.Valid || block.String == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoBlock, applianceID)
	}
	p := &wire.Policy{V: wire.ProtocolVersion, ApplianceID: applianceID, Block: block.String, IssuedAt: s.clk.Now().UTC(), People: []wire.Person{}}
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT policy_version FROM blocks WHERE name = $1`, block.String).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: policy version: %w", err)
	}
	p.Version = uint64(v)

	if p.Rules, err = readRules(ctx, tx, block.String); err != nil {
		return nil, err
	}
	if err := s.policyManage(ctx, tx, block.String, p); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, prison_number, name, status, language, pin_hash,
			supervision_level, confirm, confirm_window_s, officer, windows, max_duration_s,
			calls_per_day, calls_per_week, calls_per_month FROM people
		WHERE block = $1 AND status = $2 ORDER BY prison_number`, block.String, wire.StatusActive)
	if err != nil {
		return nil, fmt.Errorf("store: policy people: %w", err)
	}
	idx := map[string]int{}
	for rows.Next() {
		var pp wire.Person
		var win string
		if err := rows.Scan(&pp.ID, &pp.PrisonNumber, &pp.Name, &pp.Status, &pp.Language, &pp.PINHash,
			&pp.SupervisionLevel, &pp.Confirm, &pp.ConfirmWindowSeconds, &pp.Officer, &win, &pp.MaxDurationSeconds,
			&pp.CallsPerDay, &pp.CallsPerWeek, &pp.CallsPerMonth); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: policy people: %w", err)
		}
		if ws := parseWindowsJSON(win); len(ws) > 0 {
			pp.Windows = ws
		}
		pp.Cards, pp.Numbers = []string{}, []wire.ApprovedNumber{}
		idx[pp.ID] = len(p.People)
		p.People = append(p.People, pp)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: policy people: %w", err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT c.person_id, c.uid FROM cards c JOIN people p ON p.id = c.person_id
		WHERE p.block = $1 AND p.status = $2 ORDER BY c.uid`, block.String, wire.StatusActive)
	if err != nil {
		return nil, fmt.Errorf("store: policy cards: %w", err)
	}
	for rows.Next() {
		var pid, uid string
		if err := rows.Scan(&pid, &uid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: policy cards: %w", err)
		}
		if i, ok := idx[pid]; ok {
			p.People[i].Cards = append(p.People[i].Cards, uid)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: policy cards: %w", err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT c.person_id, c.number, c.name, c.relationship, c.privileged FROM contacts c
		JOIN people p ON p.id = c.person_id
		WHERE p.block = $1 AND p.status = $2 AND c.status = $3 AND c.self_blocked = 0 ORDER BY c.number`, block.String, wire.StatusActive, ContactApproved)
	if err != nil {
		return nil, fmt.Errorf("store: policy numbers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid string
		var n wire.ApprovedNumber
		if err := rows.Scan(&pid, &n.Number, &n.Name, &n.Relationship, &n.Privileged); err != nil {
			return nil, fmt.Errorf("store: policy numbers: %w", err)
		}
		if i, ok := idx[pid]; ok {
			applyNumberAttrs(&n, p.Numbers)
			p.People[i].Numbers = append(p.People[i].Numbers, n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: policy numbers: %w", err)
	}
	slices.SortFunc(p.People, func(a, b wire.Person) int { return strings.Compare(a.PrisonNumber, b.PrisonNumber) })
	if err := s.policyMoney(ctx, tx, applianceID, p); err != nil {
		return nil, err
	}
	return p, nil
}

// inList is "col IN ($n, ...)" over vals, appending them to args; with no
// values it is a condition that is never true.
func inList(col string, vals []string, args *[]any) string {
	if len(vals) == 0 {
		return "1 = 0"
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		*args = append(*args, v)
		ph[i] = fmt.Sprintf("$%d", len(*args))
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")"
}
