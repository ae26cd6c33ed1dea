package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/shared/clock"
)

// TestMigration2KeepsData: a database at schema 1 with people and calls
// migrates to 2 without losing a row; the new columns read as "no officer".
func TestMigration2KeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	db := rawSQL(t, path)
	schema1 := append(append([]string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version VALUES (1)`}, schema.Migrations[0]...), schema.After(testDialect().Name, 1)...)
	for _, q := range schema1 {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO blocks VALUES ('A', 1, 0)`,
		`INSERT INTO appliances (id, block, created_ns) VALUES ('app1', 'A', 0)`,
		`INSERT INTO people (id, prison_number, name, block, status, created_ns, updated_ns) VALUES ('p1', 'A1', 'Ann', 'A', 'active', 0, 0)`,
		`INSERT INTO calls (call_id, appliance_id, seq, person_id, start_ns, end_ns, disposition) VALUES ('c1', 'app1', 1, 'p1', 0, 1, 'completed')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := openAt(t, ctx, path, filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(ctx); v != len(schema.Migrations) {
		t.Fatalf("schema %d after migrating (migrations %d)", v, len(schema.Migrations))
	}
	// Read as people.Store.Person reads them (central/store/people).
	var name, level, confirm string
	var officer bool
	err = s.r.QueryRowContext(ctx, `SELECT name, officer, supervision_level, confirm FROM people WHERE id = 'p1'`).Scan(&name, &officer, &level, &confirm)
	if err != nil || name != "Ann" || officer || level != "" || confirm != "" {
		t.Fatalf("person after migration: %s %t %q %q %v", name, officer, level, confirm, err)
	}
	c, err := s.Call(ctx, "c1")
	if err != nil || c.Disposition != "completed" || c.OfficerID != "" || c.EndedBy != "" {
		t.Fatalf("call after migration: %+v %v", c, err)
	}
	// What the policy of app1 holds (central/ingest/policysnap builds it):
	// the active person of its block and no call rules.
	pol, err := s.testPolicy(ctx, "app1")
	if err != nil {
		t.Fatalf("policy after migration: %v", err)
	}
	if n, r := count(t, s, `SELECT COUNT(*) FROM people WHERE block = $1 AND status = 'active'`, pol.Block),
		count(t, s, `SELECT COUNT(*) FROM call_rules WHERE block = $1`, pol.Block); n != 1 || r != 0 {
		t.Fatalf("policy after migration: %d people, %d rules", n, r)
	}
}
