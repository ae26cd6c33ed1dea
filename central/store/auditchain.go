package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ErrAuditTampered is returned by VerifyAudit when the audit chain is broken:
// a row was changed, removed or inserted other than through the store.
var ErrAuditTampered = errors.New("store: audit log tampered")

// auditCanonical is the canonical encoding of a row that its hash covers: a
// JSON array of id, time (Unix ns), actor, action, target and detail.
func auditCanonical(e *AuditEntry) []byte {
	b, _ := json.Marshal([]any{e.ID, e.Time.UnixNano(), e.Actor, e.Action, e.Target, e.Detail})
	return b
}

// auditHash is hex(sha256(prev || canonical row)).
func auditHash(prev string, e *AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(auditCanonical(e))
	return hex.EncodeToString(h.Sum(nil))
}

// chainLegacyAudit hashes audit rows written before migration 4 (empty hash),
// in id order, so the whole log is one chain.
func (s *Store) chainLegacyAudit(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, time_ns, actor, action, target, detail FROM audit_log WHERE hash = '' ORDER BY id`)
		if err != nil {
			return fmt.Errorf("store: chain audit: %w", err)
		}
		var es []AuditEntry
		for rows.Next() {
			var e AuditEntry
			var t int64
			if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
				rows.Close()
				return fmt.Errorf("store: chain audit: %w", err)
			}
			e.Time = fromNS(t)
			es = append(es, e)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: chain audit: %w", err)
		}
		if len(es) == 0 {
			return nil
		}
		var prev string
		err = tx.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT 1`, es[0].ID).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: chain audit: %w", err)
		}
		for i := range es {
			h := auditHash(prev, &es[i])
			if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3 AND hash = ''`, prev, h, es[i].ID); err != nil {
				return fmt.Errorf("store: chain audit: %w", err)
			}
			prev = h
		}
		s.log.Info("store: chained legacy audit rows", "rows", len(es))
		return nil
	})
}

// VerifyAudit walks the whole audit log in id order and checks that ids are
// contiguous from 1, that each row's prev_hash is the previous row's hash,
// that each hash is sha256(prev_hash || canonical row) and that the newest
// id is the audit counter. The first break is returned wrapping
// ErrAuditTampered, naming the row.
func (s *Store) VerifyAudit(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, time_ns, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY id`)
	if err != nil {
		return fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	var prev string
	var last int64
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("store: verify audit: %w", err)
		}
		e.Time = fromNS(t)
		switch {
		case e.ID != last+1:
			return fmt.Errorf("%w: row %d follows row %d (rows removed or inserted)", ErrAuditTampered, e.ID, last)
		case e.PrevHash != prev:
			return fmt.Errorf("%w: row %d does not chain to row %d", ErrAuditTampered, e.ID, last)
		case auditHash(prev, &e) != e.Hash:
			return fmt.Errorf("%w: row %d was changed", ErrAuditTampered, e.ID)
		}
		prev, last = e.Hash, e.ID
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: verify audit: %w", err)
	}
	var counter int64
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'audit'`).Scan(&counter); err != nil {
		return fmt.Errorf("store: verify audit: %w", err)
	}
	if counter != last {
		return fmt.Errorf("%w: newest row is %d but %d were written (rows removed from the end)", ErrAuditTampered, last, counter)
	}
	return nil
}

// CSVFormulaStarts are the leading characters that make a spreadsheet
// read a CSV cell as a formula (OWASP's CSV injection list).
const CSVFormulaStarts = "=+-@\t\r"

// CSVCell is v made safe to write to a CSV file a spreadsheet may open,
// the one guard every CSV export uses: a cell starting with any of
// CSVFormulaStarts gets a leading apostrophe, so it is read as text.
// A plain decimal number ("-0.06", "+447700900123": an optional sign,
// digits, at most one point) is left alone: it cannot hold a formula, and
// a spreadsheet must still add up negative amounts.
func CSVCell(v string) string {
	if v == "" || !strings.ContainsRune(CSVFormulaStarts, rune(v[0])) || CSVNumber(v) {
		return v
	}
	return "'" + v
}

// CSVNumber reports whether v is a plain decimal number: an optional
// sign, then digits with at most one '.' between them.
func CSVNumber(v string) bool {
	if v != "" && v[0] == '+' || v[0] == '-' {
		v = v[1:]
	}
	whole, frac, dot := strings.Cut(v, ".")
	return allDigits(whole) && (!dot || allDigits(frac))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ExportAuditCSV writes the audit entries matching f's Actor, Action,
// Target, From and To (all of them, oldest first; Limit and Offset are ignored) to w as
// CSV with a header row, after auditing the export itself ("audit.export"
// by actor, detail the filter) so the export appears in what it exports.
func (s *Store) ExportAuditCSV(ctx context.Context, actor string, f AuditFilter, w io.Writer) error {
	detail := fmt.Sprintf("actor=%q action=%q target=%q", f.Actor, f.Action, f.Target)
	if !f.From.IsZero() || !f.To.IsZero() {
		detail += fmt.Sprintf(" from=%s to=%s", f.From.UTC().Format(time.RFC3339), f.To.UTC().Format(time.RFC3339))
	}
	if err := s.Audit(ctx, actor, "audit.export", "audit_log", detail); err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, time_ns, actor, action, target, detail, prev_hash, hash FROM audit_log
		WHERE `+auditWhere+` ORDER BY id`, f.args()...)
	if err != nil {
		return fmt.Errorf("store: export audit: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "time", "actor", "action", "target", "detail", "prev_hash", "hash"})
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("store: export audit: %w", err)
		}
		cw.Write([]string{strconv.FormatInt(e.ID, 10), fromNS(t).Format(time.RFC3339Nano), CSVCell(e.Actor), CSVCell(e.Action),
			CSVCell(e.Target), CSVCell(e.Detail), e.PrevHash, e.Hash})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: export audit: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("store: export audit: %w", err)
	}
	return nil
}
