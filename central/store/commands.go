package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// States of a Command as Commands lists them.
const (
	// CommandPending: sent, not answered, not expired.
	CommandPending = "pending"
	// CommandAnswered: the appliance answered (OK or with an error).
	CommandAnswered = "answered"
	// CommandExpired: not answered before it expired.
	CommandExpired = "expired"
)

// Command is a command central issued to an appliance (wire.Command) and
// what became of it.
type Command struct {
	ID          string     `json:"id"`
	ApplianceID string     `json:"appliance_id"`
	Kind        string     `json:"kind"`
	CallID      string     `json:"call_id,omitempty"`
	Issued      time.Time  `json:"issued"`
	Expires     time.Time  `json:"expires"`
	IssuedBy    string     `json:"issued_by"`
	State       string     `json:"state"`
	OK          bool       `json:"ok"`
	Error       string     `json:"error,omitempty"`
	AnsweredAt  *time.Time `json:"answered_at,omitempty"`
}

// CreateCommand records a command issued by actor, with its audit entry, in
// one transaction. The command must pass wire.Command.Check and name a
// known appliance (else ErrInvalid / ErrNotFound); an id already used is
// ErrConflict.
func (s *Store) CreateCommand(ctx context.Context, actor string, c *wire.Command) error {
	if err := c.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM appliances WHERE id = $1`, c.ApplianceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: appliance %q", ErrNotFound, c.ApplianceID)
		}
		if err != nil {
			return fmt.Errorf("store: create command: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO commands (id, appliance_id, kind, call_id, issued_ns, expires_ns, issued_by, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.ApplianceID, c.Kind, c.CallID, ns(c.Issued), ns(c.Expires), actor, CommandPending)
		if err != nil {
			return fmt.Errorf("store: create command: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: create command: %w", err)
		} else if n == 0 {
			return fmt.Errorf("%w: command %q", ErrConflict, c.ID)
		}
		detail := "kind=" + c.Kind + " id=" + c.ID
		if c.CallID != "" {
			detail += " call=" + c.CallID
		}
		return s.audit(ctx, tx, actor, "command.create", c.ApplianceID, detail)
	})
}

// Commands lists the commands issued to an appliance, newest first, with
// their state derived from the answer and the injected clock.
func (s *Store) Commands(ctx context.Context, applianceID string) ([]Command, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, appliance_id, kind, call_id, issued_ns, expires_ns, issued_by, state, ok, error, answered_ns
		FROM commands WHERE appliance_id = $1 ORDER BY issued_ns DESC, id DESC LIMIT 1000`, applianceID)
	if err != nil {
		return nil, fmt.Errorf("store: commands: %w", err)
	}
	defer rows.Close()
	now := s.clk.Now()
	out := []Command{}
	for rows.Next() {
		var c Command
		var issued, expires int64
		var ok int
		var answered sql.NullInt64
		if err := rows.Scan(&c.ID, &c.ApplianceID, &c.Kind, &c.CallID, &issued, &expires, &c.IssuedBy, &c.State, &ok, &c.Error, &answered); err != nil {
			return nil, fmt.Errorf("store: commands: %w", err)
		}
		c.Issued, c.Expires, c.OK, c.AnsweredAt = fromNS(issued), fromNS(expires), ok != 0, nullNS(answered)
		switch {
		case c.AnsweredAt != nil:
			c.State = CommandAnswered
		case !now.Before(c.Expires):
			c.State = CommandExpired
		default:
			c.State = CommandPending
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: commands: %w", err)
	}
	return out, nil
}

// AnswerCommand records an appliance's answer to one of its commands. The
// first answer wins: later ones (an appliance answers a replayed command
// again) change nothing and return nil. An answer to an id that was not
// issued to that appliance is ErrNotFound.
func (s *Store) AnswerCommand(ctx context.Context, a *wire.CommandAnswer) error {
	at := a.At
	if at.IsZero() {
		at = s.clk.Now()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE commands SET state = $3, ok = $4, error = $5, answered_ns = $6
			WHERE id = $1 AND appliance_id = $2 AND answered_ns IS NULL`,
			a.ID, a.ApplianceID, CommandAnswered, boolInt(a.OK), a.Error, ns(at))
		if err != nil {
			return fmt.Errorf("store: answer command: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: answer command: %w", err)
		}
		if n > 0 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM commands WHERE id = $1 AND appliance_id = $2`, a.ID, a.ApplianceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: command %q of appliance %q", ErrNotFound, a.ID, a.ApplianceID)
		}
		if err != nil {
			return fmt.Errorf("store: answer command: %w", err)
		}
		return nil
	})
}

// Now is the store's (injected) clock: the time commands are issued at and
// compared with to derive their state.
func (s *Store) Now() time.Time { return s.clk.Now() }

// ApplianceBlock returns the block an appliance is assigned to ("" when
// none), or ErrNotFound for an unknown appliance.
func (s *Store) ApplianceBlock(ctx context.Context, id string) (string, error) {
	var block sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT block FROM appliances WHERE id = $1`, id).Scan(&block)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: appliance %q", ErrNotFound, id)
	}
	if err != nil {
		return "", fmt.Errorf("store: appliance block: %w", err)
	}
	return block.String, nil
}
