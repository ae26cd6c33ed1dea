package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Fixtures for the core's tests that need people, contacts or the
// prison-wide number list. Those records are central/store/people's, which
// a core test cannot import (people imports the core): the fixtures write
// the rows as people.Store does (with the person's block history, the
// policy bump and the audit entry in the same transaction) but check
// nothing; the people's own tests check their rules. The policy's money
// part is the core's (policyMoney); the rest of the policy is built and
// tested in central/ingest/policysnap.

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newPerson is a person to create (people.NewPerson's fields the core's
// tests use).
type newPerson struct {
	PrisonNumber, Name, Block string
	Officer                   bool
}

// person is a created person.
type person struct {
	ID string
	newPerson
}

// createPerson adds an active person as people.Store.CreatePerson does.
func createPerson(ctx context.Context, s *Store, actor string, in newPerson) (*person, error) {
	p := &person{ID: newID("p_"), newPerson: in}
	now := ns(s.clk.Now())
	return p, s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, prison_number, name, block, status, language, pin_hash, created_ns, updated_ns, officer)
			VALUES ($1, $2, $3, $4, $5, '', '', $6, $6, $7)`, p.ID, in.PrisonNumber, in.Name, in.Block, wire.StatusActive, now, boolInt(in.Officer)); err != nil {
			return fmt.Errorf("insert person: %w", err)
		}
		if err := recordPersonBlock(ctx, tx, p.ID, in.Block, now); err != nil {
			return err
		}
		if err := bumpPolicy(ctx, tx, in.Block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "inmate.create", p.ID, "prison_number="+in.PrisonNumber)
	})
}

// movePerson houses person id in block from now on, as
// people.Store.UpdatePerson does when it changes the block.
func movePerson(ctx context.Context, s *Store, actor, id, block string) error {
	now := ns(s.clk.Now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, id).Scan(&old); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET block = $2, updated_ns = $3 WHERE id = $1`, id, block, now); err != nil {
			return err
		}
		if err := recordPersonBlock(ctx, tx, id, block, now); err != nil {
			return err
		}
		if err := bumpPolicy(ctx, tx, old, block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "inmate.update", id, "fields=block")
	})
}

// newContact is an approved contact to add.
type newContact struct {
	Number, Name, Relationship string
	Privileged                 bool
}

// contact is an added contact.
type contact struct {
	ID, PersonID, Number string
}

// addContact adds an approved contact (the number normalized) as
// people.Store.AddContact does.
func addContact(ctx context.Context, s *Store, actor, personID string, in newContact) (*contact, error) {
	c := &contact{ID: newID("c_"), PersonID: personID, Number: policy.NormalizeNumber(in.Number)}
	now := ns(s.clk.Now())
	return c, s.inTx(ctx, func(tx *sql.Tx) error {
		var block string
		if err := tx.QueryRowContext(ctx, `SELECT block FROM people WHERE id = $1`, personID).Scan(&block); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, person_id, number, name, relationship, status, privileged, created_ns,
				identity, requested_by, decided_by, decided_ns, decision_reason, updated_ns)
			VALUES ($1, $2, $3, $4, $5, 'approved', $6, $7, '', $8, $8, $7, 'approved when added', $7)`,
			c.ID, personID, c.Number, in.Name, in.Relationship, boolInt(in.Privileged), now, actor); err != nil {
			return fmt.Errorf("insert contact: %w", err)
		}
		if err := bumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "contact.add", personID, "contact="+c.ID)
	})
}

// globalNumber is number as the prison-wide list keeps it (a trailing
// '*' kept), as people.NormalizeGlobalNumber makes it.
func globalNumber(number string) string {
	body, prefix := strings.CutSuffix(strings.TrimSpace(number), "*")
	if prefix {
		return policy.NormalizeNumber(body) + "*"
	}
	return policy.NormalizeNumber(body)
}

// addGlobalNumber puts number on the prison-wide list as kind, as
// people.Store.AddGlobalNumber does.
func addGlobalNumber(ctx context.Context, s *Store, actor, number, kind, note string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n := globalNumber(number)
		if _, err := tx.ExecContext(ctx, `INSERT INTO global_numbers (number, kind, note, created_by, created_ns) VALUES ($1, $2, $3, $4, $5)`,
			n, kind, note, actor, ns(s.clk.Now())); err != nil {
			return fmt.Errorf("add global number: %w", err)
		}
		return globalNumberChanged(ctx, s, tx, actor, "number.add", n)
	})
}

// removeGlobalNumber takes number off the list for kind, as
// people.Store.RemoveGlobalNumber does.
func removeGlobalNumber(ctx context.Context, s *Store, actor, number, kind, note string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n := globalNumber(number)
		res, err := tx.ExecContext(ctx, `DELETE FROM global_numbers WHERE number = $1 AND kind = $2`, n, kind)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return errors.New("not on the list")
		}
		return globalNumberChanged(ctx, s, tx, actor, "number.remove", n)
	})
}

func globalNumberChanged(ctx context.Context, s *Store, tx *sql.Tx, actor, action, number string) error {
	blocks, err := allBlocks(ctx, tx)
	if err != nil {
		return err
	}
	if err := bumpPolicy(ctx, tx, blocks...); err != nil {
		return err
	}
	return s.audit(ctx, tx, actor, action, number, "")
}

// testPolicy is the part of app's policy the core builds: its block, the
// block's policy version and the money (policyMoney), read in one
// transaction as central/ingest/policysnap reads the whole policy.
func (s *Store) testPolicy(ctx context.Context, app string) (*wire.Policy, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p := &wire.Policy{V: wire.ProtocolVersion, ApplianceID: app, IssuedAt: s.clk.Now().UTC()}
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT a.block, b.policy_version FROM appliances a JOIN blocks b ON b.name = a.block WHERE a.id = $1`,
		app).Scan(&p.Block, &v); err != nil {
		return nil, fmt.Errorf("policy of %s: %w", app, err)
	}
	p.Version = uint64(v)
	return p, s.policyMoney(ctx, tx, app, p)
}
