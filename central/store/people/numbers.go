package people

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"strings"
	"time"

	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// GlobalNumber is an entry of the prison-wide number list (see
// wire.NumberAttr): blocked, privileged, free or hidden.
type GlobalNumber struct {
	Number    string    `json:"number"`
	Kind      string    `json:"kind"`
	Note      string    `json:"note"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
}

// GlobalNumberKinds are the kinds of the prison-wide list.
var GlobalNumberKinds = []string{wire.NumberKindBlocked, wire.NumberKindPrivileged, wire.NumberKindFree, wire.NumberKindHidden}

func validKind(k string) error {
	switch k {
	case wire.NumberKindBlocked, wire.NumberKindPrivileged, wire.NumberKindFree, wire.NumberKindHidden:
		return nil
	}
	return fmt.Errorf("%w: kind must be blocked, privileged, free or hidden", store.ErrInvalid)
}

// NormalizeGlobalNumber normalizes a number (policy.NormalizeNumber) and
// keeps a trailing '*' that makes it a prefix.
func NormalizeGlobalNumber(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	body, prefix := strings.CutSuffix(raw, "*")
	n := policy.NormalizeNumber(body)
	if n == "" || len(strings.TrimPrefix(n, "+")) < 2 || !prefix && len(strings.TrimPrefix(n, "+")) < 3 {
		return "", fmt.Errorf("%w: number %q is not a phone number (or a prefix ending in *)", store.ErrInvalid, raw)
	}
	if prefix {
		n += "*"
	}
	return n, nil
}

func readGlobalNumbers(ctx context.Context, q rowQuerier) ([]GlobalNumber, error) {
	rows, err := q.QueryContext(ctx, `SELECT number, kind, note, created_by, created_ns FROM global_numbers ORDER BY number, kind`)
	if err != nil {
		return nil, fmt.Errorf("store: global numbers: %w", err)
	}
	defer rows.Close()
	out := []GlobalNumber{}
	for rows.Next() {
		var g GlobalNumber
		var t int64
		if err := rows.Scan(&g.Number, &g.Kind, &g.Note, &g.CreatedBy, &t); err != nil {
			return nil, fmt.Errorf("store: global numbers: %w", err)
		}
		g.Created = store.FromNS(t)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: global numbers: %w", err)
	}
	return out, nil
}

// GlobalNumbers lists the prison-wide number list.
func (s *Store) GlobalNumbers(ctx context.Context) ([]GlobalNumber, error) {
	return readGlobalNumbers(ctx, s.core.Reader())
}

// AddGlobalNumber puts a number (or prefix ending in '*') on the list as
// kind, with a required note. The same number and kind twice gives
// store.ErrConflict. Every block's policy is bumped; it returns the blocks.
func (s *Store) AddGlobalNumber(ctx context.Context, actor, number, kind, note string) (*GlobalNumber, []string, error) {
	n, err := NormalizeGlobalNumber(number)
	note = strings.TrimSpace(note)
	if err := errors.Join(err, validKind(kind), store.ValidText("note", note, 500, true)); err != nil {
		return nil, nil, err
	}
	g := &GlobalNumber{Number: n, Kind: kind, Note: note, CreatedBy: actor, Created: s.core.Clock().Now().UTC()}
	var blocks []string
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO global_numbers (number, kind, note, created_by, created_ns) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (number, kind) DO NOTHING`, n, kind, note, actor, store.NS(g.Created))
		if err != nil {
			return fmt.Errorf("store: add global number: %w", err)
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return fmt.Errorf("%w: %s is already %s", store.ErrConflict, n, kind)
		}
		if blocks, err = store.AllBlocks(ctx, tx); err != nil {
			return err
		}
		if err := store.BumpPolicy(ctx, tx, blocks...); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "number.add", n, fmt.Sprintf("kind=%s note=%s", kind, note))
	})
	if err != nil {
		return nil, nil, err
	}
	return g, blocks, nil
}

// RemoveGlobalNumber takes a number off the list for kind, with a required note
// saying why. store.ErrNotFound when it is not there. It returns the blocks
// whose policy was bumped.
func (s *Store) RemoveGlobalNumber(ctx context.Context, actor, number, kind, note string) ([]string, error) {
	n, err := NormalizeGlobalNumber(number)
	note = strings.TrimSpace(note)
	if err := errors.Join(err, validKind(kind), store.ValidText("note", note, 500, true)); err != nil {
		return nil, err
	}
	var blocks []string
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM global_numbers WHERE number = $1 AND kind = $2`, n, kind)
		if err != nil {
			return fmt.Errorf("store: remove global number: %w", err)
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return fmt.Errorf("%w: %s is not %s", store.ErrNotFound, n, kind)
		}
		if blocks, err = store.AllBlocks(ctx, tx); err != nil {
			return err
		}
		if err := store.BumpPolicy(ctx, tx, blocks...); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "number.remove", n, fmt.Sprintf("kind=%s note=%s", kind, note))
	})
	if err != nil {
		return nil, err
	}
	return blocks, nil
}
