package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/schema"
)

// TestAuditLogAppendOnlyInDatabase: the database itself refuses to change
// or remove audit rows, even through the store's own writer connection,
// and the refused statements leave the hash chain intact.
func TestAuditLogAppendOnlyInDatabase(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	for i := range 4 {
		clk.Advance(1e9)
		if err := s.Audit(ctx, "user:ann", "calls.search", "calls", strings.Repeat("q", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`UPDATE audit_log SET detail = 'nothing to see' WHERE id = 2`,
		`UPDATE audit_log SET actor = 'someone', hash = 'ab' WHERE id = 3`,
		`UPDATE audit_log SET hash = '', prev_hash = ''`,
		`UPDATE audit_log SET id = id + 100 WHERE id = 4`,
		`DELETE FROM audit_log WHERE id = 2`,
		`DELETE FROM audit_log`,
	} {
		_, err := s.w.ExecContext(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", q, err)
		}
	}
	if onPostgres() {
		if _, err := s.w.ExecContext(ctx, `TRUNCATE audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("TRUNCATE: %v, want refused", err)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM audit_log`); n != 4 {
		t.Fatalf("%d audit rows, want 4", n)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatalf("chain after refused changes: %v", err)
	}
	// Appending goes on as before.
	if err := s.Audit(ctx, "user:bob", "recording.play", "c1", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// dropAuditGuard removes the audit log's append-only triggers, as the
// database's owner could, so tests can tamper with the rows; the hash
// chain must still show it. restoreAuditGuard puts them back.
func dropAuditGuard(t *testing.T, s *Store) {
	t.Helper()
	stmts := []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}
	if onPostgres() {
		stmts = []string{`DROP TRIGGER audit_log_no_update ON audit_log`, `DROP TRIGGER audit_log_no_delete ON audit_log`,
			`DROP TRIGGER audit_log_no_truncate ON audit_log`, `DROP FUNCTION audit_log_append_only()`}
	}
	for _, q := range stmts {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func restoreAuditGuard(t *testing.T, s *Store) {
	t.Helper()
	for _, q := range schema.After(testDialect().Name, schema.AuditGuardVersion) {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestAuditGuardLetsLegacyRowsChain: rows from before the hash chain (no
// hash) are still chained when the store opens with the guard in place,
// and the guard lets nothing else through while doing so.
func TestAuditGuardLetsLegacyRowsChain(t *testing.T) {
	s, _, dir := openTest(t)
	ctx := context.Background()
	for range 3 {
		if err := s.Audit(ctx, "a", "b", "c", "d"); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := s.AuditLog(ctx, AuditFilter{})
	dropAuditGuard(t, s)
	if _, err := s.w.Exec(`UPDATE audit_log SET hash = '', prev_hash = ''`); err != nil {
		t.Fatal(err)
	}
	restoreAuditGuard(t, s)
	// An unchained row may get its hash, but not a changed content.
	if _, err := s.w.Exec(`UPDATE audit_log SET detail = 'x', hash = 'y' WHERE id = 1`); err == nil {
		t.Fatal("guard let an unchained row's detail change")
	}
	s2, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), s.clk)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s2.AuditLog(ctx, AuditFilter{})
	if len(got) != 3 || got[0].Hash != want[0].Hash {
		t.Fatal("legacy rows chained differently")
	}
	if _, err := s2.w.Exec(`UPDATE audit_log SET hash = '' WHERE id = 1`); err == nil {
		t.Fatal("guard let a chained row's hash be cleared")
	}
}
