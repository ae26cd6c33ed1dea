// Package people keeps central's records of the people an appliance
// serves: inmates and officers, their cards, PINs, photos and contacts (with
// the decisions on them and the called parties' self-blocks), the blocks'
// call rules and calling windows, the prison-wide number list and the
// prison's settings, and the officer panel's actions as appliances
// reported them. It is built on the core store (central/store): its tables
// are in the core's schema, its writes in the core's serialized
// transactions, each with its audit entry and the bump of the policy
// versions of the blocks it changes, and its errors are the core's
// sentinel errors (ErrInvalid, ErrNotFound, ErrConflict, ErrUnknownBlock,
// ...) plus ErrTooManyContacts, ErrNotAllowed and the photos' errors. The
// policy an appliance receives is built from these records by
// central/ingest/policysnap.
package people

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"strings"
	"time"

	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Store is the people's part of central's store. It is safe for
// concurrent use.
type Store struct {
	core *store.Store
}

// New returns the people's store on core.
func New(core *store.Store) *Store { return &Store{core: core} }

// Contact statuses.
const (
	ContactApproved  = "approved"
	ContactRequested = "requested"
	ContactRejected  = "rejected"
)

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
		return fmt.Errorf("%w: %s must be \"\", none, button, card or both", store.ErrInvalid, field)
	}
	return nil
}

func validWindow(field string, s int) error {
	if s < 0 || s > MaxConfirmWindowSeconds {
		return fmt.Errorf("%w: %s must be 0 to %d seconds", store.ErrInvalid, field, MaxConfirmWindowSeconds)
	}
	return nil
}

func validLevel(l string) error {
	return store.ValidText("supervision_level", l, 32, false)
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

func validStatus(s string) error {
	switch s {
	case wire.StatusActive, wire.StatusSuspended, wire.StatusReleased:
		return nil
	}
	return fmt.Errorf("%w: status must be active, suspended or released", store.ErrInvalid)
}

func normalizePIN(p string) error {
	if len(p) < 4 || len(p) > 8 {
		return fmt.Errorf("%w: PIN must be 4 to 8 digits", store.ErrInvalid)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return fmt.Errorf("%w: PIN must be 4 to 8 digits", store.ErrInvalid)
		}
	}
	return nil
}

// CreatePerson adds an inmate to an existing block. A prison number already in
// use gives store.ErrConflict, an unknown block store.ErrUnknownBlock. The
// change and its audit entry commit together.
func (s *Store) CreatePerson(ctx context.Context, actor string, in NewPerson) (*Person, error) {
	in.PrisonNumber = strings.TrimSpace(in.PrisonNumber)
	in.Name = strings.TrimSpace(in.Name)
	if in.Status == "" {
		in.Status = wire.StatusActive
	}
	in.SupervisionLevel = strings.TrimSpace(in.SupervisionLevel)
	if err := errors.Join(store.ValidText("prison_number", in.PrisonNumber, 32, true), store.ValidText("name", in.Name, 200, true),
		store.ValidText("language", in.Language, 16, false), validStatus(in.Status), validLevel(in.SupervisionLevel),
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
			return nil, fmt.Errorf("%w: card uid must be 8 to 20 hex digits (4 to 10 bytes)", store.ErrInvalid)
		}
		cards = append(cards, c)
	}
	if err := store.ValidBlockName(in.Block); err != nil {
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
	id := store.NewID("p_")
	now := store.NS(s.core.Clock().Now())
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.core.BlockExists(ctx, tx, in.Block); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO people (id, prison_number, name, block, status, language, pin_hash, created_ns, updated_ns,
				supervision_level, confirm, confirm_window_s, officer, windows, max_duration_s, status_reason, suspended_until_ns,
				calls_per_day, calls_per_week, calls_per_month)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (prison_number) DO NOTHING`,
			id, in.PrisonNumber, in.Name, in.Block, in.Status, in.Language, hash, now,
			in.SupervisionLevel, in.Confirm, in.ConfirmWindowSeconds, store.BoolInt(in.Officer),
			windowsJSON(in.Windows), in.MaxDurationSeconds, in.StatusReason, nsOrZero(in.SuspendedUntil),
			in.CallsPerDay, in.CallsPerWeek, in.CallsPerMonth)
		if err != nil {
			return fmt.Errorf("store: insert person: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: prison number %s", store.ErrConflict, in.PrisonNumber)
		}
		if err := store.RecordPersonBlock(ctx, tx, id, in.Block, now); err != nil {
			return err
		}
		for _, uid := range cards {
			res, err := tx.ExecContext(ctx, `INSERT INTO cards (uid, person_id, created_ns) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING`, uid, id, now)
			if err != nil {
				return fmt.Errorf("store: insert card: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("%w: card %s is already issued", store.ErrConflict, uid)
			}
		}
		if err := store.BumpPolicy(ctx, tx, in.Block); err != nil {
			return err
		}
		action := "inmate.create"
		if in.Officer {
			action = "officer.create"
		}
		return s.core.AuditTx(ctx, tx, actor, action, id, fmt.Sprintf("prison_number=%s block=%s level=%s confirm=%s quota=%d,%d,%d cards=%s",
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
	hash, err := checkUpdate(&up)
	if err != nil {
		return nil, nil, err
	}
	var changed []string
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		var oldBlock string
		err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, id).Scan(&oldBlock)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: inmate %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: read person: %w", err)
		}
		u := &personSets{args: []any{id, store.NS(s.core.Clock().Now())}}
		u.fields(up, hash)
		changed = []string{oldBlock}
		if up.Block != nil && *up.Block != oldBlock {
			if err := s.core.BlockExists(ctx, tx, *up.Block); err != nil {
				return err
			}
			u.add("block", *up.Block)
			changed = append(changed, *up.Block)
			if err := store.RecordPersonBlock(ctx, tx, id, *up.Block, u.args[1].(int64)); err != nil {
				return err
			}
		}
		if len(u.sets) == 0 {
			changed = nil
			return nil
		}
		q := `UPDATE people SET updated_ns = $2, ` + strings.Join(u.sets, ", ") + ` WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, u.args...); err != nil {
			return fmt.Errorf("store: update person: %w", err)
		}
		if err := store.BumpPolicy(ctx, tx, changed...); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "inmate.update", id, "fields="+strings.Join(u.names, ","))
	})
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Person(ctx, id)
	return p, changed, err
}

// checkUpdate trims and checks up's fields (all of them, the errors
// joined) and returns the new PIN's hash when up sets one.
func checkUpdate(up *PersonUpdate) (*string, error) {
	var checks []error
	if up.Name != nil {
		*up.Name = strings.TrimSpace(*up.Name)
		checks = append(checks, store.ValidText("name", *up.Name, 200, true))
	}
	if up.Language != nil {
		checks = append(checks, store.ValidText("language", *up.Language, 16, false))
	}
	if up.Status != nil {
		checks = append(checks, validStatus(*up.Status))
	}
	if up.Block != nil {
		checks = append(checks, store.ValidBlockName(*up.Block))
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
		checks = append(checks, store.ValidText("status_reason", *up.StatusReason, 500, false))
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
				return nil, fmt.Errorf("store: hash PIN: %w", err)
			}
			hash = &h
		}
	}
	return hash, errors.Join(checks...)
}

// personSets collects an UPDATE's "col = $n" terms, their arguments (after
// the id and the time, $1 and $2) and the columns' names for the audit.
type personSets struct {
	sets, names []string
	args        []any
}

func (u *personSets) add(col string, v any) {
	u.args = append(u.args, v)
	u.sets = append(u.sets, fmt.Sprintf("%s = $%d", col, len(u.args)))
	u.names = append(u.names, col)
}

// fields adds the columns up changes (but the block), hash the new PIN's.
func (u *personSets) fields(up PersonUpdate, hash *string) {
	if up.Name != nil {
		u.add("name", *up.Name)
	}
	if up.Language != nil {
		u.add("language", *up.Language)
	}
	if up.Status != nil {
		u.add("status", *up.Status)
	}
	if hash != nil {
		u.add("pin_hash", *hash)
	}
	if up.SupervisionLevel != nil {
		u.add("supervision_level", *up.SupervisionLevel)
	}
	if up.Confirm != nil {
		u.add("confirm", *up.Confirm)
	}
	if up.ConfirmWindowSeconds != nil {
		u.add("confirm_window_s", *up.ConfirmWindowSeconds)
	}
	if up.Windows != nil {
		u.add("windows", windowsJSON(*up.Windows))
	}
	if up.MaxDurationSeconds != nil {
		u.add("max_duration_s", *up.MaxDurationSeconds)
	}
	if up.CallsPerDay != nil {
		u.add("calls_per_day", *up.CallsPerDay)
	}
	if up.CallsPerWeek != nil {
		u.add("calls_per_week", *up.CallsPerWeek)
	}
	if up.CallsPerMonth != nil {
		u.add("calls_per_month", *up.CallsPerMonth)
	}
	u.status(up)
}

// status adds the status reason and suspension end up implies.
func (u *personSets) status(up PersonUpdate) {
	switch {
	case up.Status != nil && *up.Status == wire.StatusSuspended:
		reason := ""
		if up.StatusReason != nil {
			reason = strings.TrimSpace(*up.StatusReason)
		}
		u.add("status_reason", reason)
		var until time.Time
		if up.SuspendedUntil != nil {
			until = *up.SuspendedUntil
		}
		u.add("suspended_until_ns", nsOrZero(until))
	case up.Status != nil:
		reason := ""
		if up.StatusReason != nil {
			reason = strings.TrimSpace(*up.StatusReason)
		}
		u.add("status_reason", reason)
		u.add("suspended_until_ns", int64(0))
	case up.StatusReason != nil:
		u.add("status_reason", strings.TrimSpace(*up.StatusReason))
	}
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
	p.Created, p.Updated = store.FromNS(c), store.FromNS(u)
	p.Windows = parseWindowsJSON(win)
	if until > 0 {
		t := store.FromNS(until)
		p.SuspendedUntil = &t
	}
	p.Cards = []string{}
	return &p, nil
}

// Person returns one person with their cards.
func (s *Store) Person(ctx context.Context, id string) (*Person, error) {
	p, err := scanPerson(s.core.Reader().QueryRowContext(ctx, `SELECT `+personCols+` FROM people WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: inmate %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read person: %w", err)
	}
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT uid FROM cards WHERE person_id = $1 ORDER BY uid`, id)
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
	args := []any{f.Block, f.Status, f.Limit, max(f.Offset, 0), store.BoolInt(f.Officers)}
	scope := ""
	if f.Blocks != nil {
		scope = " AND " + store.InList("block", f.Blocks, &args)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		args = append(args, store.LikeEscape(strings.ToLower(q))+"%", "%"+store.LikeEscape(strings.ToLower(q))+"%")
		scope += fmt.Sprintf(` AND (LOWER(prison_number) LIKE $%d ESCAPE '\' OR LOWER(name) LIKE $%d ESCAPE '\')`, len(args)-1, len(args))
	}
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT `+personCols+` FROM people
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
	crows, err := s.core.Reader().QueryContext(ctx, `SELECT c.person_id, c.uid FROM cards c JOIN people p ON p.id = c.person_id
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
// store.ErrConflict. It returns the person's block (whose policy changed).
func (s *Store) AddCard(ctx context.Context, actor, personID, uid string) (block string, err error) {
	uid = policy.NormalizeUID(uid)
	if !ValidCardUID(uid) {
		return "", fmt.Errorf("%w: card uid must be 8 to 20 hex digits (4 to 10 bytes)", store.ErrInvalid)
	}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, personID).Scan(&block); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: inmate %s", store.ErrNotFound, personID)
		} else if err != nil {
			return fmt.Errorf("store: read person: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO cards (uid, person_id, created_ns) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING`, uid, personID, store.NS(s.core.Clock().Now()))
		if err != nil {
			return fmt.Errorf("store: insert card: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: card %s is already issued", store.ErrConflict, uid)
		}
		if err := store.BumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "card.add", personID, "uid="+uid)
	})
	if err != nil {
		return "", err
	}
	return block, nil
}

// AddContact adds a number to a person's list. The same number twice for one
// person gives store.ErrConflict. Status defaults to approved (the caller is
// then the decider, recorded with Reason); the console adds contacts as
// requested. A person holding the setting max_contacts contacts that are not
// rejected already gets ErrTooManyContacts (wrapped in store.ErrInvalid). It
// returns the contact and the person's block.
func (s *Store) AddContact(ctx context.Context, actor, personID string, in NewContact) (*Contact, string, error) {
	num := policy.NormalizeNumber(in.Number)
	if num == "" || len(strings.TrimPrefix(num, "+")) < 3 {
		return nil, "", fmt.Errorf("%w: number %q is not a phone number", store.ErrInvalid, in.Number)
	}
	if in.Status == "" {
		in.Status = ContactApproved
	}
	switch in.Status {
	case ContactApproved, ContactRequested, ContactRejected:
	default:
		return nil, "", fmt.Errorf("%w: contact status must be approved, requested or rejected", store.ErrInvalid)
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Identity = strings.TrimSpace(in.Identity)
	in.Reason = strings.TrimSpace(in.Reason)
	if err := errors.Join(store.ValidText("name", in.Name, 200, true), store.ValidText("relationship", in.Relationship, 64, false),
		store.ValidText("identity", in.Identity, 500, false), store.ValidText("reason", in.Reason, 500, false)); err != nil {
		return nil, "", err
	}
	now := s.core.Clock().Now().UTC()
	c := &Contact{ID: store.NewID("c_"), PersonID: personID, Number: num, Name: in.Name, Relationship: in.Relationship,
		Status: in.Status, Privileged: in.Privileged, Created: now, Identity: in.Identity, RequestedBy: actor}
	if in.Status != ContactRequested {
		c.DecidedBy, c.Decided, c.DecisionReason = actor, &now, in.Reason
		if c.DecisionReason == "" {
			c.DecisionReason = in.Status + " when added"
		}
	}
	var block string
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
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
		return "", fmt.Errorf("%w: inmate %s", store.ErrNotFound, c.PersonID)
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
			return "", fmt.Errorf("%w: %w: this person already has %d contacts (the maximum is %d); reject or remove one first", store.ErrInvalid, ErrTooManyContacts, n, limit)
		}
	}
	var decided int64
	if c.Decided != nil {
		decided = store.NS(*c.Decided)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, person_id, number, name, relationship, status, privileged, created_ns,
			identity, requested_by, decided_by, decided_ns, decision_reason, updated_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $8) ON CONFLICT (person_id, number) DO NOTHING`,
		c.ID, c.PersonID, c.Number, c.Name, c.Relationship, c.Status, store.BoolInt(c.Privileged), store.NS(c.Created),
		c.Identity, c.RequestedBy, c.DecidedBy, decided, c.DecisionReason)
	if err != nil {
		return "", fmt.Errorf("store: insert contact: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("%w: number %s is already on this person's list", store.ErrConflict, c.Number)
	}
	if err := store.BumpPolicy(ctx, tx, block); err != nil {
		return "", err
	}
	return block, s.core.AuditTx(ctx, tx, actor, "contact.add", c.PersonID, fmt.Sprintf("contact=%s number=%s privileged=%t status=%s",
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
	c.Created = store.FromNS(t)
	if d > 0 {
		dt := store.FromNS(d)
		c.Decided = &dt
	}
	return &c, nil
}

// Contacts lists a person's contacts (store.ErrNotFound for an unknown person).
func (s *Store) Contacts(ctx context.Context, personID string) ([]Contact, error) {
	var one int
	if err := s.core.Reader().QueryRowContext(ctx, `SELECT 1 FROM people WHERE id = $1`, personID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: inmate %s", store.ErrNotFound, personID)
	} else if err != nil {
		return nil, fmt.Errorf("store: read person: %w", err)
	}
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE person_id = $1 ORDER BY created_ns, id`, personID)
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
