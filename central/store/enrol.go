package store

// Enrolment: the appliances central accepts are rows of the appliances
// table, added, moved between blocks and retired through the console and
// the JSON API (each change audited). An id that has no row, or whose row
// is retired, is not enrolled: the embedded broker refuses its connection,
// ingest refuses its messages, and both raise AlarmUnknownAppliance. A
// retired id is never enrolled again (its certificate may be in the wrong
// hands): provision a new id.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// Central alarms about the estate (raised by central/server and its
// watcher).
const (
	// AlarmUnknownAppliance: an appliance that is not enrolled (never
	// added, or retired) connected or sent messages; source "enrolment",
	// the message saying where it was refused (at connect, with its
	// address, or at ingest). One open alarm per id.
	AlarmUnknownAppliance = "unknown_appliance"
	// AlarmApplianceUnseen: an enrolled appliance has not been heard from
	// for the configured time; cleared when it is heard from again.
	AlarmApplianceUnseen = "appliance_unseen"
	// AlarmCertificateExpiring: a certificate expires within
	// CertificateWarning (or has expired); cleared when a renewed one is
	// seen. Central's own and the CA's are raised on wire.CentralIdentity.
	AlarmCertificateExpiring = "certificate_expiring"
)

// CertificateWarning is how long before a certificate expires its alarm is
// raised.
const CertificateWarning = 30 * 24 * time.Hour

// EnrolAppliance adds appliance id to block (which must exist), audited as
// actor's "appliance.enrol"; the block's policy version is bumped so the
// appliance gets it. An id already enrolled or retired is ErrConflict.
func (s *Store) EnrolAppliance(ctx context.Context, actor, id, block string) error {
	if err := wire.ValidApplianceID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := validBlockName(block); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.blockExists(ctx, tx, block); err != nil {
			return err
		}
		var retired sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT retired_ns FROM appliances WHERE id = $1`, id).Scan(&retired)
		switch {
		case err == nil && retired.Valid:
			return fmt.Errorf("%w: appliance %q was retired; provision a new id", ErrConflict, id)
		case err == nil:
			return fmt.Errorf("%w: appliance %q is already enrolled (move it instead)", ErrConflict, id)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: read appliance: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO appliances (id, block, created_ns) VALUES ($1, $2, $3)`, id, block, ns(s.clk.Now())); err != nil {
			return fmt.Errorf("store: enrol appliance: %w", err)
		}
		if err := bumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "appliance.enrol", id, "block="+block)
	})
}

// MoveAppliance moves an enrolled appliance to block (which must exist),
// audited as actor's "appliance.move", and returns the block it left ("" if
// none). The new block's policy version is bumped so the appliance's
// version grows. A retired appliance is ErrConflict, an unknown one
// ErrNotFound.
func (s *Store) MoveAppliance(ctx context.Context, actor, id, block string) (string, error) {
	if err := validBlockName(block); err != nil {
		return "", err
	}
	var from string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.blockExists(ctx, tx, block); err != nil {
			return err
		}
		old, err := enrolledBlockTx(ctx, tx, id)
		if err != nil {
			return err
		}
		from = old
		if old == block {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE appliances SET block = $2 WHERE id = $1`, id, block); err != nil {
			return fmt.Errorf("store: move appliance: %w", err)
		}
		if err := bumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		return s.audit(ctx, tx, actor, "appliance.move", id, "from="+old+" to="+block)
	})
	return from, err
}

// RetireAppliance retires an enrolled appliance, audited as actor's
// "appliance.retire", and returns its block: no policy is published to it
// any more and its connections and messages are refused. Its calls,
// recordings and alarms stay. An unknown one is ErrNotFound, one already
// retired ErrConflict.
func (s *Store) RetireAppliance(ctx context.Context, actor, id string) (string, error) {
	var block string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		b, err := enrolledBlockTx(ctx, tx, id)
		if err != nil {
			return err
		}
		block = b
		if _, err := tx.ExecContext(ctx, `UPDATE appliances SET retired_ns = $2 WHERE id = $1`, id, ns(s.clk.Now())); err != nil {
			return fmt.Errorf("store: retire appliance: %w", err)
		}
		return s.audit(ctx, tx, actor, "appliance.retire", id, "block="+b)
	})
	return block, err
}

// enrolledBlockTx returns an enrolled appliance's block: ErrNotFound when
// unknown, ErrConflict when retired.
func enrolledBlockTx(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	var block sql.NullString
	var retired sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT block, retired_ns FROM appliances WHERE id = $1`, id).Scan(&block, &retired)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: appliance %q", ErrNotFound, id)
	}
	if err != nil {
		return "", fmt.Errorf("store: read appliance: %w", err)
	}
	if retired.Valid {
		return "", fmt.Errorf("%w: appliance %q is retired", ErrConflict, id)
	}
	return block.String, nil
}

// ImportAppliance enrols an appliance listed in central.yaml (creating its
// block if needed) when central has no row for it yet, audited as
// "system"'s "appliance.import"; it reports whether it did. An appliance
// central already knows (enrolled, moved or retired through the console)
// is left as it is: the console, not the file, is the authority once an
// appliance is in.
func (s *Store) ImportAppliance(ctx context.Context, id, block string) (bool, error) {
	if err := wire.ValidApplianceID(id); err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := validBlockName(block); err != nil {
		return false, err
	}
	var added bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM appliances WHERE id = $1`, id).Scan(&one)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: read appliance: %w", err)
		}
		now := ns(s.clk.Now())
		if err := ensureBlock(ctx, tx, block, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO appliances (id, block, created_ns) VALUES ($1, $2, $3)`, id, block, now); err != nil {
			return fmt.Errorf("store: import appliance: %w", err)
		}
		if err := bumpPolicy(ctx, tx, block); err != nil {
			return err
		}
		added = true
		return s.audit(ctx, tx, "system", "appliance.import", id, "block="+block+" (from central.yaml)")
	})
	return added, err
}

// ApplianceEnrolled reports whether id is enrolled: it has a row and is
// not retired.
func (s *Store) ApplianceEnrolled(ctx context.Context, id string) (bool, error) {
	var retired sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT retired_ns FROM appliances WHERE id = $1`, id).Scan(&retired)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: appliance enrolled: %w", err)
	}
	return !retired.Valid, nil
}

// RecordCertificate keeps when the certificate an enrolled appliance
// connected with expires (the embedded broker sees it at connect).
func (s *Store) RecordCertificate(ctx context.Context, id string, notAfter time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE appliances SET cert_not_after_ns = $2 WHERE id = $1 AND retired_ns IS NULL`, id, ns(notAfter)); err != nil {
			return fmt.Errorf("store: record certificate: %w", err)
		}
		return nil
	})
}

// Enrolled is an enrolled appliance as central's watcher sees it.
type Enrolled struct {
	ID       string
	Block    string
	Enrolled time.Time
	// LastSeen is nil until it is heard from.
	LastSeen *time.Time
	// CertNotAfter is nil until it has connected with a certificate.
	CertNotAfter *time.Time
}

// EnrolledAppliances lists the enrolled (not retired) appliances.
func (s *Store) EnrolledAppliances(ctx context.Context) ([]Enrolled, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, COALESCE(block, ''), created_ns, last_seen_ns, cert_not_after_ns
		FROM appliances WHERE retired_ns IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: enrolled appliances: %w", err)
	}
	defer rows.Close()
	out := []Enrolled{}
	for rows.Next() {
		var e Enrolled
		var created int64
		var seen, cert sql.NullInt64
		if err := rows.Scan(&e.ID, &e.Block, &created, &seen, &cert); err != nil {
			return nil, fmt.Errorf("store: enrolled appliances: %w", err)
		}
		e.Enrolled, e.LastSeen, e.CertNotAfter = fromNS(created), nullNS(seen), nullNS(cert)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: enrolled appliances: %w", err)
	}
	return out, nil
}

// ResolveAlarms clears the open central alarms of subject with code and,
// unless source is "", that source (the condition is gone: the appliance
// was heard from again, a certificate was renewed), and reports how many.
// It writes only when there is one to clear (the watcher asks every
// round). Nothing is audited: no one acted, and the alarm row keeps when
// it was cleared.
func (s *Store) ResolveAlarms(ctx context.Context, subject, code, source string) (int, error) {
	const match = `appliance_id = $1 AND code = $2 AND ($3 = '' OR source = $3) AND origin = $4 AND cleared_ns IS NULL`
	var open int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM alarms WHERE `+match, subject, code, source, originCentral).Scan(&open); err != nil {
		return 0, fmt.Errorf("store: resolve alarms: %w", err)
	}
	if open == 0 {
		return 0, nil
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alarms SET cleared_ns = $5 WHERE `+match, subject, code, source, originCentral, ns(s.clk.Now()))
		if err != nil {
			return fmt.Errorf("store: resolve alarms: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: resolve alarms: %w", err)
		}
		return nil
	})
	return int(n), err
}
