package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawDB opens the store's database directly, behind the store's back.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	return rawSQL(t, filepath.Join(dir, "central.db"))
}

func TestAuditChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"update detail", `UPDATE audit_log SET detail = 'nothing to see' WHERE id = 3`, "row 3 was changed"},
		{"update actor and rehash", `UPDATE audit_log SET actor = 'someone', hash = 'ab' WHERE id = 2`, "row 2 was changed"},
		{"delete middle", `DELETE FROM audit_log WHERE id = 2`, "row 3 follows row 1"},
		{"delete newest", `DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)`, "rows removed from the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk, dir := openTest(t)
			for i := range 5 {
				clk.Advance(time.Second)
				if err := s.Audit(ctx, "user:ann", "calls.search", "calls", strings.Repeat("x", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.VerifyAudit(ctx); err != nil {
				t.Fatalf("intact log: %v", err)
			}
			// The database refuses it (TestAuditLogAppendOnlyInDatabase)
			// unless its owner drops the guard first.
			dropAuditGuard(t, s)
			if _, err := rawDB(t, dir).Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			err := s.VerifyAudit(ctx)
			if !errors.Is(err, ErrAuditTampered) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAuditChainLinksAndLegacyRows(t *testing.T) {
	s, _, dir := openTest(t)
	ctx := context.Background()
	for range 3 {
		if err := s.Audit(ctx, "a", "b", "c", "d"); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := s.AuditLog(ctx, AuditFilter{})
	if len(log) != 3 || log[2].PrevHash != "" || log[1].PrevHash != log[2].Hash || log[0].PrevHash != log[1].Hash || len(log[0].Hash) != 64 {
		t.Fatalf("chain %+v", log)
	}
	// Rows from before the chain (no hash) are chained when the store opens
	// (with the guard in place: TestAuditGuardLetsLegacyRowsChain).
	dropAuditGuard(t, s)
	if _, err := rawDB(t, dir).Exec(`UPDATE audit_log SET hash = '', prev_hash = ''`); err != nil {
		t.Fatal(err)
	}
	s2, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), s.clk)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := s2.AuditLog(ctx, AuditFilter{})
	if again[0].Hash != log[0].Hash {
		t.Fatal("re-chained hashes differ")
	}
}

func TestExportAuditCSVIsAudited(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	s.Audit(ctx, "user:ann", "calls.search", "calls", "=HYPERLINK(\"x\")")
	s.Audit(ctx, "user:bob", "recording.play", "c1", "sha256=ab")
	var buf bytes.Buffer
	if err := s.ExportAuditCSV(ctx, "user:root", AuditFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || strings.Join(recs[0], ",") != "id,time,actor,action,target,detail,prev_hash,hash" {
		t.Fatalf("csv %q", recs)
	}
	if recs[1][5] != "'=HYPERLINK(\"x\")" {
		t.Fatalf("formula not neutralised: %q", recs[1][5])
	}
	last := recs[3]
	if last[2] != "user:root" || last[3] != "audit.export" || len(last[7]) != 64 || last[6] != recs[2][7] {
		t.Fatalf("export not audited in the export: %q", last)
	}
	// Filtered export.
	buf.Reset()
	if err := s.ExportAuditCSV(ctx, "user:root", AuditFilter{Action: "recording.play"}, &buf); err != nil {
		t.Fatal(err)
	}
	recs, _ = csv.NewReader(&buf).ReadAll()
	if len(recs) != 2 || recs[1][4] != "c1" {
		t.Fatalf("filtered %q", recs)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAuditCSVEscapesFormulas: no field of the audit CSV starts a live
// formula, whichever of OWASP's characters it begins with.
func TestAuditCSVEscapesFormulas(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	var want []string
	for _, c := range CSVFormulaStarts {
		v := string(c) + `cmd|' /C calc'!A0`
		want = append(want, v)
		s.Audit(ctx, "user:ann", "calls.search", v, v)
	}
	var buf bytes.Buffer
	if err := s.ExportAuditCSV(ctx, "user:root", AuditFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want {
		if r := recs[i+1]; r[4] != "'"+v || r[5] != "'"+v {
			t.Errorf("%q exported as %q", v, r[4:6])
		}
	}
}

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "Ann": "Ann", "=1+1": "'=1+1", "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0", "-2+3": "'-2+3",
		"@SUM(A1)": "'@SUM(A1)", "\t=1": "'\t=1", "\r=1": "'\r=1", "-0.06": "-0.06", "+447700900123": "+447700900123",
		"-": "'-", "+": "'+", "-.5": "'-.5", "1.": "1.", "-1.": "'-1.", "-1e5": "'-1e5", "- 1": "'- 1", "a=1": "a=1",
	} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}
