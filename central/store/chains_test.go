package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// epochChain is chain() for a chain of epoch: events from..to, the first
// chained to prev ("" for a chain's first event), times from at on.
func epochChain(app, epoch string, from, to uint64, prev string, at time.Time, mk func(seq uint64) (wire.EventType, any)) []wire.Event {
	evs := chain(app, from, to, prev, mk)
	for i := range evs {
		evs[i].Epoch, evs[i].Time, evs[i].PrevHash = epoch, at.Add(time.Duration(i)*time.Second), prev
		evs[i].Seal()
		prev = evs[i].Hash
	}
	return evs
}

func storeBatch(t *testing.T, s *Store, app string, b *wire.Batch) wire.Ack {
	t.Helper()
	if b.ApplianceID == "" {
		b.ApplianceID = app
	}
	ack, err := s.StoreBatch(context.Background(), app, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitAllProjected(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ack
}

// A replacement box under the same id starts its own chain at seq 1: its
// events are stored beside the old box's (not taken for conflicting
// copies), acknowledged in its own numbers, projected, and alarmed once.
func TestReplacementChainKeptApart(t *testing.T) {
	s, _, _ := openTest(t)
	old := chain("app1", 1, 5, "", callEvent)
	if ack := storeBatch(t, s, "app1", &wire.Batch{Events: old}); ack.UpTo != 5 || ack.Hash != old[4].Hash || ack.Epoch != "" {
		t.Fatalf("old box's ack %+v", ack)
	}
	fresh := epochChain("app1", "e2", 1, 3, "", t0.Add(time.Hour), func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		c := p.(wire.CallRecord)
		c.CallID = "new-" + c.CallID
		return typ, c
	})
	ack := storeBatch(t, s, "app1", &wire.Batch{V: wire.BatchVersion, Events: fresh})
	if ack.UpTo != 3 || ack.Epoch != "e2" || ack.Hash != fresh[2].Hash || ack.Conflict != 0 {
		t.Fatalf("new box's ack %+v, want up to 3 of epoch e2", ack)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls WHERE call_id LIKE 'new-%'`); n != 3 {
		t.Fatalf("%d of the new box's calls projected, want 3", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls`); n != 8 {
		t.Fatalf("%d calls, want 8 (none of the old box's lost)", n)
	}
	if n := openAlarms(t, s, "app1", AlarmChainRestarted); n != 1 {
		t.Fatalf("%d chain-restarted alarms, want 1", n)
	}
	for _, code := range []string{AlarmEventConflict, AlarmChainBroken, AlarmEventGap} {
		if n := openAlarms(t, s, "app1", code); n != 0 {
			t.Fatalf("%d %s alarms", n, code)
		}
	}
	// Redelivered: nothing more.
	storeBatch(t, s, "app1", &wire.Batch{V: wire.BatchVersion, Events: fresh})
	if n := count(t, s, `SELECT COUNT(*) FROM events`); n != 8 {
		t.Fatalf("%d events after redelivery", n)
	}
	if n := openAlarms(t, s, "app1", AlarmChainRestarted); n != 1 {
		t.Fatalf("%d chain-restarted alarms after redelivery", n)
	}
	if _, acked, err := s.StoredEvents(context.Background(), "app1"); err != nil || acked != 3 {
		t.Fatalf("stored events: acked %d, %v; want the new chain's 3", acked, err)
	}
	// A late event of the old chain still lands in the old chain.
	late := chain("app1", 6, 6, old[4].Hash, callEvent)
	if ack := storeBatch(t, s, "app1", &wire.Batch{Events: late}); ack.UpTo != 6 || ack.Epoch != "" {
		t.Fatalf("late old-chain ack %+v", ack)
	}
}

// A data directory put back from a backup: the box resends what central
// has (no-ops) and events of its own under seqs central holds others for.
// Central refuses those and says so (Conflict); the box then starts a new
// chain with its whole outbox, and central stores the events it had
// already as copies (not projected again) and the new ones as new.
func TestRestoredBackupChain(t *testing.T) {
	s, _, _ := moneyFixture(t)
	callOf := func(id string) func(uint64) (wire.EventType, any) {
		return func(seq uint64) (wire.EventType, any) {
			typ, p := callEvent(seq)
			c := p.(wire.CallRecord)
			c.CallID, c.PersonID = id+c.CallID, ""
			return typ, c
		}
	}
	orig := chain("appA", 1, 8, "", callOf("orig-"))
	storeBatch(t, s, "appA", &wire.Batch{Events: orig})
	// The backup was taken with seq 1..5 written, 4..5 unacknowledged.
	backup := orig[3:5]
	mine := chain("appA", 6, 7, orig[4].Hash, callOf("after-restore-"))
	ack := storeBatch(t, s, "appA", &wire.Batch{V: wire.BatchVersion, Acked: 3, Events: append(append([]wire.Event(nil), backup...), mine...)})
	if ack.Conflict != 6 || ack.UpTo != 8 || ack.Hash != orig[7].Hash {
		t.Fatalf("ack %+v, want up to 8 with central's hash and conflict 6", ack)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls WHERE call_id LIKE 'after-restore-%'`); n != 0 {
		t.Fatal("conflicting events projected")
	}
	// The box starts chain "e2" at its first unacknowledged seq, 4.
	var again []wire.Event
	prev := ""
	for _, ev := range append(append([]wire.Event(nil), backup...), mine...) {
		ev.Epoch, ev.PrevHash = "e2", prev
		ev.Seal()
		prev = ev.Hash
		again = append(again, ev)
	}
	ack = storeBatch(t, s, "appA", &wire.Batch{V: wire.BatchVersion, Acked: 3, Events: again})
	if ack.UpTo != 7 || ack.Epoch != "e2" || ack.Conflict != 0 {
		t.Fatalf("new chain's ack %+v, want up to 7 of e2", ack)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls WHERE call_id LIKE 'after-restore-%'`); n != 2 {
		t.Fatalf("%d of the box's new calls projected, want 2", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM events WHERE copy_of <> 0`); n != 2 {
		t.Fatalf("%d events stored as copies, want 2 (seq 4 and 5)", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls`); n != 10 {
		t.Fatalf("%d calls, want 10", n)
	}
	if n := openAlarms(t, s, "appA", AlarmChainRestarted); n != 1 {
		t.Fatalf("%d chain-restarted alarms", n)
	}
}

// A batch of version 2 sent again after the appliance reported its events
// acknowledged is a replay: one alarm, nothing else changes. A resend of
// events the appliance has not had acknowledged is not.
func TestReplayedBatchAlarm(t *testing.T) {
	s, _, _ := openTest(t)
	evs := chain("app1", 1, 6, "", callEvent)
	first := &wire.Batch{V: wire.BatchVersion, Acked: 0, Events: evs[:3]}
	storeBatch(t, s, "app1", first)
	storeBatch(t, s, "app1", first) // a resend: the appliance has no ack yet
	if n := openAlarms(t, s, "app1", AlarmBatchReplayed); n != 0 {
		t.Fatalf("a resend raised %d replay alarms", n)
	}
	storeBatch(t, s, "app1", &wire.Batch{V: wire.BatchVersion, Acked: 3, Events: evs[3:]})
	storeBatch(t, s, "app1", first) // replayed after the appliance reported 3 acknowledged
	storeBatch(t, s, "app1", first) // and again: the same alarm
	if n := openAlarms(t, s, "app1", AlarmBatchReplayed); n != 1 {
		t.Fatalf("%d replay alarms, want 1", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls`); n != 6 {
		t.Fatalf("%d calls, want 6", n)
	}
}

// An installation upgraded to migration 14 keeps its appliances' streams
// as their first chain: acknowledged where they were, continued by the
// next event, no chain-restarted alarm.
func TestChainsMigration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	ctx := context.Background()
	s, err := openAt(t, ctx, path, filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	evs := chain("app1", 1, 4, "", callEvent)
	if ack, err := s.StoreEvents(ctx, "app1", evs[:3]); err != nil || ack != 3 {
		t.Fatalf("ack %d, %v", ack, err)
	}
	s.Close()
	// Back to schema 13, as before this change.
	db := rawSQL(t, path)
	for _, q := range []string{`CREATE TABLE api_tokens (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, created_ns BIGINT NOT NULL)`,
		`INSERT INTO api_tokens VALUES ('aa', 'admin', 'admin', 1)`, `DROP TABLE tokens`, `ALTER TABLE sessions DROP COLUMN token_id`,
		`DROP TABLE event_chains`, `ALTER TABLE events DROP COLUMN copy_of`, `ALTER TABLE calls DROP COLUMN trunk`,
		`ALTER TABLE appliances DROP COLUMN retired_ns`, `ALTER TABLE appliances DROP COLUMN cert_not_after_ns`, `DELETE FROM settings WHERE name = 'charging'`,
		`UPDATE schema_version SET version = 13`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err = openAt(t, ctx, path, filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Migration 16 carries the tokens over to the bootstrap administrator.
	var owner, role string
	var boot int
	if err := s.r.QueryRow(`SELECT owner, role, bootstrap FROM tokens WHERE sha256 = 'aa'`).Scan(&owner, &role, &boot); err != nil || owner != "u_bootstrap" || role != RoleSystemAdmin || boot != 1 {
		t.Fatalf("token after migration 18: %s %s %d %v", owner, role, boot, err)
	}
	chains, err := s.EventChains(ctx, "app1")
	if err != nil || len(chains) != 1 || chains[0].Epoch != "" || chains[0].Start != 1 || chains[0].Acked != 3 {
		t.Fatalf("chains after the migration %+v, %v", chains, err)
	}
	if ack, err := s.StoreEvents(ctx, "app1", evs[3:]); err != nil || ack != 4 {
		t.Fatalf("ack %d, %v after the migration", ack, err)
	}
	if n := openAlarms(t, s, "app1", AlarmChainRestarted); n != 0 {
		t.Fatalf("%d chain-restarted alarms after the migration", n)
	}
}
