package store

// Blocks and appliances: the cell blocks a policy is published for, their
// policy versions (one persisted counter, bumped in the transaction of every
// change a policy shows), the appliances registered in them and the
// terminals they reported. They stay in the core: the event projection,
// ingest and every domain package that changes what a policy holds use
// them (the people's records are in central/store/people).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store/eventlog"
	"time"

	"github.com/kinline/kinline/shared/wire"
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
	// Retired is when it was retired (nil while enrolled).
	Retired *time.Time `json:"retired,omitempty"`
	// CertNotAfter is when the certificate it last connected with
	// expires (nil when central has not seen one).
	CertNotAfter *time.Time `json:"cert_not_after,omitempty"`
}

// OnlineWithin is how recently an appliance must have been heard from to
// count as online: four of the heartbeats a connected appliance sends
// every wire.HeartbeatInterval, so that a connected idle appliance stays
// online and one whose connection dropped goes offline within a minute
// (docs/decisions/0037-appliance-presence.md).
const OnlineWithin = 4 * wire.HeartbeatInterval

// ApplianceHeard records that appliance id was heard from now (on the
// store's clock): central got its heartbeat. last_seen only moves forward;
// an unknown id changes nothing.
func (s *Store) ApplianceHeard(ctx context.Context, id string) error {
	if _, err := s.ExecUnserialized(ctx, `UPDATE appliances SET last_seen_ns = $2
		WHERE id = $1 AND (last_seen_ns IS NULL OR last_seen_ns < $2)`, id, ns(s.clk.Now())); err != nil {
		return fmt.Errorf("store: appliance heard: %w", err)
	}
	return nil
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

// AppliancesInBlock lists the enrolled appliance ids of a block ("" = all
// appliances); retired ones are left out (no policy goes to them).
func (s *Store) AppliancesInBlock(ctx context.Context, block string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM appliances WHERE ($1 = '' OR block = $1) AND retired_ns IS NULL ORDER BY id`, block)
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
			(SELECT COUNT(*) FROM alarms al WHERE al.appliance_id = a.id AND al.cleared_ns IS NULL), a.retired_ns, a.cert_not_after_ns
		FROM appliances a LEFT JOIN blocks b ON b.name = a.block ORDER BY a.id`)
	if err != nil {
		return nil, fmt.Errorf("store: appliances: %w", err)
	}
	defer rows.Close()
	out := []Appliance{}
	for rows.Next() {
		var a Appliance
		var seen, retired, cert sql.NullInt64
		var applied, current, acked int64
		if err := rows.Scan(&a.ID, &a.Block, &seen, &applied, &current, &a.Software, &acked, &a.OpenAlarms, &retired, &cert); err != nil {
			return nil, fmt.Errorf("store: appliances: %w", err)
		}
		a.LastSeen, a.PolicyVersionApplied, a.PolicyVersionCurrent, a.AckedSeq = nullNS(seen), uint64(applied), uint64(current), uint64(acked)&(eventlog.ChainSpan-1)
		a.Online = a.LastSeen != nil && s.clk.Now().Sub(*a.LastSeen) <= OnlineWithin
		a.PolicyCurrent = a.PolicyVersionApplied >= a.PolicyVersionCurrent
		a.Retired, a.CertNotAfter = nullNS(retired), nullNS(cert)
		a.Online = a.Online && a.Retired == nil
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: appliances: %w", err)
	}
	return out, nil
}

// Terminal is a phone terminal an appliance reported.
type Terminal struct {
	ApplianceID string     `json:"appliance_id"`
	Block       string     `json:"block"`
	Terminal    string     `json:"terminal"`
	Reader      string     `json:"reader,omitempty"`
	LastSeen    *time.Time `json:"last_seen,omitempty"`
}

// Terminals lists the terminals appliances reported, with their block.
func (s *Store) Terminals(ctx context.Context) ([]Terminal, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT t.appliance_id, COALESCE(a.block, ''), t.terminal, t.reader, t.last_seen_ns
		FROM terminals t LEFT JOIN appliances a ON a.id = t.appliance_id ORDER BY t.appliance_id, t.terminal`)
	if err != nil {
		return nil, fmt.Errorf("store: terminals: %w", err)
	}
	defer rows.Close()
	out := []Terminal{}
	for rows.Next() {
		var t Terminal
		var seen int64
		if err := rows.Scan(&t.ApplianceID, &t.Block, &t.Terminal, &t.Reader, &seen); err != nil {
			return nil, fmt.Errorf("store: terminals: %w", err)
		}
		if seen > 0 {
			ts := fromNS(seen)
			t.LastSeen = &ts
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: terminals: %w", err)
	}
	return out, nil
}

// allBlocks lists every block's name inside tx.
func allBlocks(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM blocks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("store: blocks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	return out, nil
}
