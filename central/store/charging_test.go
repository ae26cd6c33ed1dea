package store

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// chargingMigration is the schema migration that made charging a setting.
const chargingMigration = 17

// TestChargingMigration: an installation from before the setting that had
// rates keeps charging (and its policies keep their money part); one
// without rates gets charging off, as its calls were free; a fresh one
// starts with charging off. The setting, once there, is what decides:
// rates added later do not turn it on.
func TestChargingMigration(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rates bool
		want  string
	}{{"with rates", true, ChargingOn}, {"without rates", false, ChargingOff}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "central.db")
			db := rawSQL(t, path)
			stmts := []string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
				`INSERT INTO schema_version VALUES (` + strconv.Itoa(chargingMigration-1) + `)`}
			for v := 1; v < chargingMigration; v++ {
				stmts = append(stmts, schema.Migrations[v-1]...)
				stmts = append(stmts, schema.After(testDialect().Name, v)...)
			}
			stmts = append(stmts, `INSERT INTO blocks (name, policy_version, created_ns) VALUES ('A', 1, 0)`,
				`INSERT INTO appliances (id, block, created_ns) VALUES ('appA', 'A', 0)`)
			if tc.rates {
				stmts = append(stmts, `INSERT INTO rates (prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding, updated_by, updated_ns)
					VALUES ('+44', 'national', '', 10, 60, 0, '', 'test', 0)`)
			}
			for _, q := range stmts {
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
			set, err := ReadMoneySettings(ctx, s.Reader())
			if err != nil || set.Charging != tc.want {
				t.Fatalf("charging %q, %v; want %q", set.Charging, err, tc.want)
			}
			p, err := s.testPolicy(ctx, "appA")
			if err != nil {
				t.Fatal(err)
			}
			if tc.rates != (p.Money != nil) || tc.rates && (p.Money.Charging != wire.ChargingOn || len(p.Money.Rates) != 1) {
				t.Fatalf("policy money %+v after the migration, want money %v", p.Money, tc.rates)
			}
		})
	}

	// A fresh installation: off, and a rate does not change that.
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "appA", "A"); err != nil {
		t.Fatal(err)
	}
	if set, err := ReadMoneySettings(ctx, s.Reader()); err != nil || set.Charging != ChargingOff {
		t.Fatalf("fresh installation: charging %q, %v; want off", set.Charging, err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO rates (prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding, updated_by, updated_ns)
		VALUES ('+44', $1, '', 10, 60, 0, '', 'test', 0)`, wire.DestNational); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM settings WHERE name = 'charging'`); n != 1 {
		t.Fatalf("%d charging settings in a fresh database", n)
	}
	p, err := s.testPolicy(ctx, "appA")
	if err != nil || p.Money != nil {
		t.Fatalf("fresh installation with a rate and charging off: money %+v, %v", p.Money, err)
	}

	// A value written behind the store's back is neither on nor off: an
	// error, not a guess (no policy is built on it).
	if _, err := s.w.ExecContext(ctx, `UPDATE settings SET value = 'ON' WHERE name = $1`, SettingCharging); err != nil {
		t.Fatal(err)
	}
	if set, err := ReadMoneySettings(ctx, s.Reader()); err == nil {
		t.Fatalf("charging 'ON' read as %+v, want an error", set)
	}
	if _, err := s.testPolicy(ctx, "appA"); err == nil {
		t.Fatal("a policy was built on a charging setting of 'ON'")
	}
}
