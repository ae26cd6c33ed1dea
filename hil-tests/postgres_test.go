package hiltests

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/tools/stack"
)

// TestCentralOnPostgres runs the real kinline-central with database.driver
// postgres against a throwaway PostgreSQL server: the appliance's calls (a
// refusal and an answered, recorded call) come in over MQTT, the API lists
// them with their recording, they are rows in PostgreSQL (and no SQLite
// file exists), and they are all still there after central restarts.
func TestCentralOnPostgres(t *testing.T) {
	pgtest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	e := newEnv(t, family.Addr().String(), func(dir string, o *stack.Options) { o.CentralDSN = srv.DSN() })
	personID := seed(t, e)
	port := newPort(t, e)

	e.tap(t, card)
	wantRefused(t, call(t, e, port, unapproved, time.Second), "number not approved")
	e.tap(t, card) // the refusal used the tap up
	if res := call(t, e, port, approved, 2*time.Second); !res.Answered {
		t.Fatalf("approved call: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].Disposition != "completed" || calls[0].Number != approved || calls[0].PersonID != personID ||
		calls[1].Disposition != "refused" || calls[1].Reason != "number not approved" {
		t.Fatalf("calls listed by the API: %+v", calls)
	}
	data, err := e.WaitRecording(e.ctx, calls[0].ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if calls[0].Recording == nil || calls[0].Recording.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("recording sha256 %x, call record %+v", sum, calls[0].Recording)
	}

	// Central's state is in PostgreSQL.
	db, err := sql.Open("pgx", srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, events int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM calls`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("%d calls in PostgreSQL (%v), want 2", rows, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE appliance_id = $1`, stack.ApplianceID).Scan(&events); err != nil || events == 0 {
		t.Fatalf("%d events of the appliance in PostgreSQL (%v)", events, err)
	}
	if _, err := os.Stat(filepath.Join(e.Opts.Dir, "central", "central.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("central.db exists beside a PostgreSQL database (%v)", err)
	}

	// A restarted central reads the same state back.
	e.KillCentral(syscall.SIGTERM)
	if err := e.StartCentral(e.ctx); err != nil {
		t.Fatal(err)
	}
	again, err := e.Calls(e.ctx, nil)
	if err != nil || len(again) != 2 || again[0].ID != calls[0].ID || again[1].ID != calls[1].ID {
		t.Fatalf("calls after restart: %+v %v", again, err)
	}
	if got, err := e.Recording(e.ctx, calls[0].ID); err != nil || sha256.Sum256(got) != sum {
		t.Fatalf("recording after restart: %d bytes, %v", len(got), err)
	}
}
