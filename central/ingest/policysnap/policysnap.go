// Package policysnap builds the policy snapshot central publishes to an
// appliance (wire.Policy): the people housed in its block with their
// cards, PIN hashes and approved numbers, the block's call rules and
// windows, the prison-wide number list and settings, and the money part
// (rates, balances) from the core. It reads the records central/store/people
// keeps, and the core's money, in one read transaction, so a snapshot's
// version and content belong together. central/ingest publishes what it
// builds (through its Store interface); central/server wires it in.
package policysnap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// Builder builds appliances' policies from a core store. It is safe for
// concurrent use.
type Builder struct {
	core *store.Store
}

// New returns the policy builder on core.
func New(core *store.Store) *Builder { return &Builder{core: core} }

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
func (b *Builder) PolicyFor(ctx context.Context, applianceID string) (*wire.Policy, error) {
	tx, err := b.core.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: policy: %w", err)
	}
	defer tx.Rollback()
	p, err := b.policyHead(ctx, tx, applianceID)
	if err != nil {
		return nil, err
	}
	if p.Rules, err = people.ReadRules(ctx, tx, p.Block); err != nil {
		return nil, err
	}
	if err := policyManage(ctx, tx, p.Block, p); err != nil {
		return nil, err
	}
	idx, err := policyPeople(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	if err := policyCards(ctx, tx, p, idx); err != nil {
		return nil, err
	}
	if err := policyNumbers(ctx, tx, p, idx); err != nil {
		return nil, err
	}
	slices.SortFunc(p.People, func(a, b wire.Person) int { return strings.Compare(a.PrisonNumber, b.PrisonNumber) })
	if err := b.core.PolicyMoneyTx(ctx, tx, applianceID, p); err != nil {
		return nil, err
	}
	return p, nil
}

// policyHead starts the snapshot: the appliance's block and the block's
// policy version.
func (b *Builder) policyHead(ctx context.Context, tx *sql.Tx, applianceID string) (*wire.Policy, error) {
	var block sql.NullString
	var retired sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT block, retired_ns FROM appliances WHERE id = $1`, applianceID).Scan(&block, &retired)
	if errors.Is(err, sql.ErrNoRows) || retired.Valid {
		return nil, fmt.Errorf("%w: appliance %s", store.ErrNotFound, applianceID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: policy: %w", err)
	}
	if !block.Valid || block.String == "" {
		return nil, fmt.Errorf("%w: %s", store.ErrNoBlock, applianceID)
	}
	p := &wire.Policy{V: wire.ProtocolVersion, ApplianceID: applianceID, Block: block.String, IssuedAt: b.core.Clock().Now().UTC(), People: []wire.Person{}}
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT policy_version FROM blocks WHERE name = $1`, block.String).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: policy version: %w", err)
	}
	p.Version = uint64(v)
	return p, nil
}

// policyPeople adds the block's active people to p and returns their
// indexes in p.People by id.
func policyPeople(ctx context.Context, tx *sql.Tx, p *wire.Policy) (map[string]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, prison_number, name, status, language, pin_hash,
			supervision_level, confirm, confirm_window_s, officer, windows, max_duration_s,
			calls_per_day, calls_per_week, calls_per_month FROM people
		WHERE block = $1 AND status = $2 ORDER BY prison_number`, p.Block, wire.StatusActive)
	if err != nil {
		return nil, fmt.Errorf("store: policy people: %w", err)
	}
	defer rows.Close()
	idx := map[string]int{}
	for rows.Next() {
		var pp wire.Person
		var win string
		if err := rows.Scan(&pp.ID, &pp.PrisonNumber, &pp.Name, &pp.Status, &pp.Language, &pp.PINHash,
			&pp.SupervisionLevel, &pp.Confirm, &pp.ConfirmWindowSeconds, &pp.Officer, &win, &pp.MaxDurationSeconds,
			&pp.CallsPerDay, &pp.CallsPerWeek, &pp.CallsPerMonth); err != nil {
			return nil, fmt.Errorf("store: policy people: %w", err)
		}
		if ws := people.DecodeWindows(win); len(ws) > 0 {
			pp.Windows = ws
		}
		pp.Cards, pp.Numbers = []string{}, []wire.ApprovedNumber{}
		idx[pp.ID] = len(p.People)
		p.People = append(p.People, pp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: policy people: %w", err)
	}
	return idx, nil
}

// policyCards adds the cards of p's people.
func policyCards(ctx context.Context, tx *sql.Tx, p *wire.Policy, idx map[string]int) error {
	rows, err := tx.QueryContext(ctx, `SELECT c.person_id, c.uid FROM cards c JOIN people p ON p.id = c.person_id
		WHERE p.block = $1 AND p.status = $2 ORDER BY c.uid`, p.Block, wire.StatusActive)
	if err != nil {
		return fmt.Errorf("store: policy cards: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid, uid string
		if err := rows.Scan(&pid, &uid); err != nil {
			return fmt.Errorf("store: policy cards: %w", err)
		}
		if i, ok := idx[pid]; ok {
			p.People[i].Cards = append(p.People[i].Cards, uid)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: policy cards: %w", err)
	}
	return nil
}

// policyNumbers adds the approved numbers of p's people (not those whose
// owner self-blocked), flagged by the prison-wide list already in p.
func policyNumbers(ctx context.Context, tx *sql.Tx, p *wire.Policy, idx map[string]int) error {
	rows, err := tx.QueryContext(ctx, `SELECT c.person_id, c.number, c.name, c.relationship, c.privileged FROM contacts c
		JOIN people p ON p.id = c.person_id
		WHERE p.block = $1 AND p.status = $2 AND c.status = $3 AND c.self_blocked = 0 ORDER BY c.number`, p.Block, wire.StatusActive, people.ContactApproved)
	if err != nil {
		return fmt.Errorf("store: policy numbers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid string
		var n wire.ApprovedNumber
		if err := rows.Scan(&pid, &n.Number, &n.Name, &n.Relationship, &n.Privileged); err != nil {
			return fmt.Errorf("store: policy numbers: %w", err)
		}
		if i, ok := idx[pid]; ok {
			applyNumberAttrs(&n, p.Numbers)
			p.People[i].Numbers = append(p.People[i].Numbers, n)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: policy numbers: %w", err)
	}
	return nil
}

// policyManage fills the prison-wide parts of the snapshot inside its read
// transaction: prison name and time zone (settings), the block's windows
// and the global numbers list.
func policyManage(ctx context.Context, tx *sql.Tx, block string, p *wire.Policy) error {
	set, err := people.ReadSettings(ctx, tx)
	if err != nil {
		return err
	}
	p.Prison, p.TimeZone = set.PrisonName, set.TimeZone
	var win string
	if err := tx.QueryRowContext(ctx, `SELECT windows FROM blocks WHERE name = $1`, block).Scan(&win); err != nil {
		return fmt.Errorf("store: block windows: %w", err)
	}
	if ws := people.DecodeWindows(win); len(ws) > 0 {
		p.Windows = ws
	}
	nums, err := people.ReadGlobalNumbers(ctx, tx)
	if err != nil {
		return err
	}
	for _, n := range nums {
		p.Numbers = append(p.Numbers, wire.NumberAttr{Number: n.Number, Kind: n.Kind, Note: n.Note})
	}
	return nil
}

// applyNumberAttrs sets an approved number's flags from the global list.
func applyNumberAttrs(n *wire.ApprovedNumber, attrs []wire.NumberAttr) {
	for _, a := range attrs {
		if !store.NumberMatches(a.Number, n.Number) {
			continue
		}
		switch a.Kind {
		case wire.NumberKindPrivileged:
			n.Privileged = true
		case wire.NumberKindFree:
			n.Free = true
		case wire.NumberKindHidden:
			n.Hidden = true
		}
	}
}
