package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store/schema"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// openTest opens a store in a temp dir (on this run's database, see
// testDatabase) and, on SQLite, checks the database's integrity and
// foreign keys when the test ends.
func openTest(t testing.TB) (*Store, *clock.Fake, string) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	s, err := openAt(t, context.Background(), filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if onPostgres() {
			// PostgreSQL checks foreign keys as rows are written
			// and has no integrity_check.
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			return
		}
		var res string
		if err := s.w.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
			t.Errorf("integrity_check: %q %v", res, err)
		}
		rows, err := s.w.Query(`PRAGMA foreign_key_check`)
		if err != nil {
			t.Errorf("foreign_key_check: %v", err)
		} else {
			if rows.Next() {
				t.Errorf("foreign key violations present")
			}
			rows.Close()
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, clk, dir
}

// chain builds sealed, linked events seq from..to for app, with payloads
// from mk.
func chain(app string, from, to uint64, prev string, mk func(seq uint64) (wire.EventType, any)) []wire.Event {
	var out []wire.Event
	for seq := from; seq <= to; seq++ {
		typ, payload := mk(seq)
		b, _ := json.Marshal(payload)
		ev := wire.Event{ApplianceID: app, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Type: typ, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		out = append(out, ev)
	}
	return out
}

func callEvent(seq uint64) (wire.EventType, any) {
	start := t0.Add(time.Duration(seq) * time.Minute)
	ans := start.Add(5 * time.Second)
	return wire.EventCall, wire.CallRecord{CallID: fmt.Sprintf("call-%d", seq), PersonID: "p1", PrisonNumber: "A1",
		CardUID: "04a1b2c3", Terminal: "t1", Number: "+44 20 7946 0000", Start: start, Answer: &ans,
		End: ans.Add(time.Minute), Disposition: wire.DispCompleted}
}

func count(t *testing.T, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrations(t *testing.T) {
	s, clk, dir := openTest(t)
	ctx := context.Background()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != len(schema.Migrations) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(schema.Migrations))
	}
	if onPostgres() {
		var sync string
		if err := s.w.QueryRow(`SHOW synchronous_commit`).Scan(&sync); err != nil || sync == "off" {
			t.Fatalf("synchronous_commit %q %v: a commit must be durable before it is acknowledged", sync, err)
		}
	} else {
		var mode string
		if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode %q %v", mode, err)
		}
		var sync, fk int
		s.w.QueryRow(`PRAGMA synchronous`).Scan(&sync)
		s.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
		if sync != 2 || fk != 1 {
			t.Fatalf("synchronous=%d (want 2=FULL) foreign_keys=%d", sync, fk)
		}
	}
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	// Reopening applies nothing twice and keeps the data.
	s2, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, _ := s2.SchemaVersion(ctx); v != len(schema.Migrations) {
		t.Fatalf("reopened schema version %d", v)
	}
	ids, err := s2.AppliancesInBlock(ctx, "A")
	if err != nil || len(ids) != 1 || ids[0] != "app1" {
		t.Fatalf("after reopen: %v %v", ids, err)
	}
	// A database from a newer program is refused.
	if _, err := s.w.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	if _, err := openAt(t, ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clk); err == nil {
		t.Fatal("opened a database with a newer schema")
	}
	s.w.Exec(`UPDATE schema_version SET version = $1`, len(schema.Migrations))
}

func TestStoreEventsIdempotent(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	evs := chain("app1", 1, 10, "", callEvent)
	ack, err := s.StoreEvents(ctx, "app1", evs)
	if err != nil || ack != 10 {
		t.Fatalf("ack %d, %v", ack, err)
	}
	// Redelivery of all, and of a part, changes nothing.
	for _, batch := range [][]wire.Event{evs, evs[3:7], evs[9:]} {
		ack, err = s.StoreEvents(ctx, "app1", batch)
		if err != nil || ack != 10 {
			t.Fatalf("redelivery ack %d, %v", ack, err)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM events WHERE appliance_id = 'app1'`); n != 10 {
		t.Fatalf("%d events", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls`); n != 10 {
		t.Fatalf("%d calls", n)
	}
	if al, _ := s.Alarms(ctx, "app1", false); len(al) != 0 {
		t.Fatalf("alarms on clean redelivery: %+v", al)
	}
	// Empty batch reports the stored prefix.
	if ack, err = s.StoreEvents(ctx, "app1", nil); err != nil || ack != 10 {
		t.Fatalf("empty batch ack %d %v", ack, err)
	}
}

func TestStoreEventsGapAndOutOfOrder(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	evs := chain("app1", 1, 12, "", callEvent)
	ack, err := s.StoreEvents(ctx, "app1", evs[:3]) // 1..3
	if err != nil || ack != 3 {
		t.Fatalf("ack %d %v", ack, err)
	}
	ack, err = s.StoreEvents(ctx, "app1", evs[5:8]) // 6..8: gap at 4,5
	if err != nil || ack != 3 {
		t.Fatalf("ack with gap %d %v, want 3", ack, err)
	}
	open := openAlarms(t, s, "app1", AlarmEventGap)
	if open != 1 {
		t.Fatalf("%d open gap alarms, want 1", open)
	}
	ack, _ = s.StoreEvents(ctx, "app1", evs[10:12]) // 11, 12: still gap at 4
	if ack != 3 || openAlarms(t, s, "app1", AlarmEventGap) != 1 {
		t.Fatalf("ack %d, gap alarms %d", ack, openAlarms(t, s, "app1", AlarmEventGap))
	}
	// Reversed batch 4,5 fills the first gap; 9,10 still missing.
	ack, err = s.StoreEvents(ctx, "app1", []wire.Event{evs[4], evs[3]})
	if err != nil || ack != 8 {
		t.Fatalf("ack after filling 4,5: %d %v, want 8", ack, err)
	}
	if openAlarms(t, s, "app1", AlarmEventGap) != 1 {
		t.Fatal("gap alarm for 9 not open")
	}
	ack, err = s.StoreEvents(ctx, "app1", []wire.Event{evs[9], evs[8]})
	if err != nil || ack != 12 {
		t.Fatalf("ack after filling 9,10: %d %v, want 12", ack, err)
	}
	if openAlarms(t, s, "app1", AlarmEventGap) != 0 {
		t.Fatal("gap alarm not cleared after the gap was filled")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls`); n != 12 {
		t.Fatalf("%d calls", n)
	}
	if _, acked, _ := s.StoredEvents(ctx, "app1"); acked != 12 {
		t.Fatalf("persisted ack %d", acked)
	}
}

func TestStoreEventsLongRunAfterGap(t *testing.T) {
	// More events stored beyond the batch window than one walk page.
	s, _, _ := openTest(t)
	ctx := context.Background()
	evs := chain("app1", 1, 2500, "", callEvent)
	if ack, _ := s.StoreEvents(ctx, "app1", evs[1:]); ack != 0 {
		t.Fatalf("ack %d without seq 1", ack)
	}
	if ack, _ := s.StoreEvents(ctx, "app1", evs[:1]); ack != 2500 {
		t.Fatalf("ack %d after seq 1 arrived, want 2500", ack)
	}
}

func openAlarms(t *testing.T, s *Store, app, code string) int {
	return count(t, s, `SELECT COUNT(*) FROM alarms WHERE appliance_id = $1 AND code = $2 AND cleared_ns IS NULL`, app, code)
}

func TestStoreEventsBrokenChainAndBadEvents(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	evs := chain("app1", 1, 6, "", callEvent)
	// seq 3 relinked to a wrong prev_hash but self-consistent.
	evs[2].PrevHash = "00"
	evs[2].Seal()
	// seq 5 tampered after sealing: its hash no longer matches.
	evs[4].Payload = json.RawMessage(`{"call_id":"forged","disposition":"completed"}`)
	ack, err := s.StoreBatch(ctx, "app1", &wire.Batch{ApplianceID: "app1", Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	// Seq 3 does not link to the stored seq 2: it is not stored (chains.go)
	// and the appliance is told, so the acknowledged prefix stops at 2.
	if ack.UpTo != 2 || ack.Conflict != 3 || ack.Hash != evs[1].Hash {
		t.Fatalf("ack %+v, want up to 2 with seq 2's hash and conflict 3 (3 unlinked, 5 rejected)", ack)
	}
	if openAlarms(t, s, "app1", AlarmChainBroken) < 1 {
		t.Fatal("no chain alarm for seq 3")
	}
	if openAlarms(t, s, "app1", AlarmEventInvalid) != 1 {
		t.Fatal("no alarm for tampered seq 5")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls WHERE call_id = 'forged'`); n != 0 {
		t.Fatal("tampered event projected")
	}
	// Good events around the bad ones are stored: 1,2,4,6.
	if n := count(t, s, `SELECT COUNT(*) FROM events`); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}
	// Redelivering the bad event does not add alarm rows.
	before := count(t, s, `SELECT COUNT(*) FROM alarms`)
	s.StoreEvents(ctx, "app1", evs[4:5])
	if after := count(t, s, `SELECT COUNT(*) FROM alarms`); after != before {
		t.Fatalf("alarms %d -> %d on redelivery", before, after)
	}
	// Same seq with other content: conflict alarm, first copy kept.
	other := chain("app1", 2, 2, evs[0].Hash, func(uint64) (wire.EventType, any) {
		return wire.EventOfficer, wire.OfficerAction{Action: "confirm"}
	})
	s.StoreEvents(ctx, "app1", other)
	if openAlarms(t, s, "app1", AlarmEventConflict) != 1 {
		t.Fatal("no conflict alarm")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM events WHERE seq = 2 AND type = 'call'`); n != 1 {
		t.Fatal("first copy of seq 2 replaced")
	}
	// An event naming another appliance is not stored under this one.
	foreign := chain("app2", 7, 7, evs[5].Hash, callEvent)
	s.StoreEvents(ctx, "app1", foreign)
	if openAlarms(t, s, "app1", AlarmForeign) != 1 || count(t, s, `SELECT COUNT(*) FROM events WHERE seq = 7`) != 0 {
		t.Fatal("foreign event not refused")
	}
	// A hash-valid event with an unusable payload is kept but alarmed.
	bad := chain("app1", 7, 7, evs[5].Hash, func(uint64) (wire.EventType, any) { return wire.EventCall, map[string]int{"call_id": 5} })
	s.StoreEvents(ctx, "app1", bad)
	if openAlarms(t, s, "app1", AlarmPayload) != 1 {
		t.Fatal("no payload alarm")
	}
	if _, err := s.StoreEvents(ctx, "bad/id", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad appliance id: %v", err)
	}
}

func TestProjections(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	kinds := []func(uint64) (wire.EventType, any){
		func(uint64) (wire.EventType, any) {
			return wire.EventStatus, wire.Status{PolicyVersion: 7, Software: "1.0"}
		},
		func(uint64) (wire.EventType, any) {
			return wire.EventCardTap, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04a1b2c3", Known: true}
		},
		func(uint64) (wire.EventType, any) {
			return wire.EventAlarm, wire.Alarm{Code: "reader_down", Source: "r1", Message: "no answer"}
		},
		callEvent,
		func(uint64) (wire.EventType, any) {
			return wire.EventAlarm, wire.Alarm{Code: "reader_down", Source: "r1", Cleared: true}
		},
		func(uint64) (wire.EventType, any) {
			return wire.EventStatus, wire.Status{PolicyVersion: 3, Software: "0.9"}
		},
	}
	evs := chain("app1", 1, uint64(len(kinds)), "", func(seq uint64) (wire.EventType, any) { return kinds[seq-1](seq) })
	// Deliver the older status (seq 1) after the newer (seq 6): applied must stay 3 then... order by seq.
	if ack, err := s.StoreEvents(ctx, "app1", evs); err != nil || ack != 6 {
		t.Fatalf("ack %d %v", ack, err)
	}
	apps, err := s.Appliances(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatal(apps, err)
	}
	a := apps[0]
	if a.PolicyVersionApplied != 3 || a.Software != "0.9" || a.Block != "A" || a.AckedSeq != 6 {
		t.Fatalf("appliance %+v: want newest status (seq 6) applied", a)
	}
	if a.LastSeen == nil || !a.LastSeen.Equal(evs[5].Time) {
		t.Fatalf("last_seen %v, want %v", a.LastSeen, evs[5].Time)
	}
	if a.OpenAlarms != 0 {
		t.Fatalf("open alarms %d: cleared alarm still open", a.OpenAlarms)
	}
	al, _ := s.Alarms(ctx, "app1", false)
	if len(al) != 1 || al[0].Code != "reader_down" || al[0].Cleared == nil || al[0].Origin != "appliance" {
		t.Fatalf("alarms %+v", al)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM card_taps WHERE uid = '04A1B2C3' AND known = 1`); n != 1 {
		t.Fatal("card tap not projected")
	}
	c, err := s.Call(ctx, "call-4")
	if err != nil {
		t.Fatal(err)
	}
	if c.Number != "+442079460000" || c.CardUID != "04A1B2C3" || c.Block != "A" || c.Disposition != wire.DispCompleted ||
		c.Terminal != "t1" || c.DurationSeconds != 60 || c.Answer == nil || c.Recording != nil {
		t.Fatalf("call %+v", c)
	}
	if _, err := s.Call(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown call: %v", err)
	}
}

func TestRecordings(t *testing.T) {
	s, _, dir := openTest(t)
	ctx := context.Background()
	data := []byte("RIFF....WAVEfmt fake audio")
	sum := sha256.Sum256(data)
	ref := wire.RecordingRef{ID: "rec1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Format: "wav/pcmu-stereo"}
	evs := chain("app1", 1, 1, "", func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		c := p.(wire.CallRecord)
		c.Recording = &ref
		return typ, c
	})
	s.StoreEvents(ctx, "app1", evs)
	if _, err := s.RecordingFor(ctx, "call-1"); !errors.Is(err, ErrNoRecording) {
		t.Fatalf("before upload: %v", err)
	}
	if _, err := s.RecordingFor(ctx, "call-x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown call: %v", err)
	}
	// Wrong bytes: rejected, nothing on disk.
	bad := &wire.RecordingUpload{V: 1, ApplianceID: "app1", CallID: "call-1", Ref: ref, Data: []byte("other bytes")}
	if err := s.StoreRecording(ctx, "app1", bad); !errors.Is(err, ErrRecordingMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	if files := listFiles(t, filepath.Join(dir, "rec")); len(files) != 0 {
		t.Fatalf("files after rejected upload: %v", files)
	}
	up := &wire.RecordingUpload{V: 1, ApplianceID: "app1", CallID: "call-1", Ref: ref, Data: data}
	for range 2 { // idempotent
		if err := s.StoreRecording(ctx, "app1", up); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.RecordingFor(ctx, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(r.Path)
	if err != nil || string(got) != string(data) {
		t.Fatalf("file %q %v", got, err)
	}
	if files := listFiles(t, filepath.Join(dir, "rec")); len(files) != 1 {
		t.Fatalf("files: %v (temp files left?)", files)
	}
	c, err := s.Call(ctx, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Recording == nil || !c.Recording.Uploaded || c.Recording.SHA256 != ref.SHA256 {
		t.Fatalf("call recording %+v", c.Recording)
	}
	// Other bytes with a matching hash for the same call: conflict.
	data2 := []byte("second take")
	sum2 := sha256.Sum256(data2)
	up2 := &wire.RecordingUpload{V: 1, ApplianceID: "app1", CallID: "call-1", Ref: wire.RecordingRef{SHA256: hex.EncodeToString(sum2[:])}, Data: data2}
	if err := s.StoreRecording(ctx, "app1", up2); !errors.Is(err, ErrRecordingConflict) {
		t.Fatalf("second recording: %v", err)
	}
	// Another appliance cannot attach a recording to app1's call.
	up3 := &wire.RecordingUpload{V: 1, ApplianceID: "app2", CallID: "call-1", Ref: ref, Data: data}
	if err := s.StoreRecording(ctx, "app2", up3); !errors.Is(err, ErrRecordingConflict) {
		t.Fatalf("foreign recording: %v", err)
	}
	// Recording uploaded before its call record: linked when the call arrives.
	up4 := &wire.RecordingUpload{V: 1, ApplianceID: "app1", CallID: "call-2", Ref: wire.RecordingRef{SHA256: hex.EncodeToString(sum2[:]), Format: "wav"}, Data: data2}
	if err := s.StoreRecording(ctx, "app1", up4); err != nil {
		t.Fatal(err)
	}
	s.StoreEvents(ctx, "app1", chain("app1", 2, 2, evs[0].Hash, callEvent))
	c2, err := s.Call(ctx, "call-2")
	if err != nil || c2.Recording == nil || !c2.Recording.Uploaded {
		t.Fatalf("early recording not linked: %+v %v", c2, err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestPrivilegedRecordingRefused: audio uploaded for a call the appliance
// flagged privileged is refused, nothing is written to the recordings
// directory, and a central alarm says so.
func TestPrivilegedRecordingRefused(t *testing.T) {
	s, _, dir := openTest(t)
	ctx := context.Background()
	data := []byte("RIFF....WAVEfmt audio that must not exist")
	sum := sha256.Sum256(data)
	ref := wire.RecordingRef{ID: "rec1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Format: "wav/pcmu-stereo"}
	evs := chain("app1", 1, 1, "", func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		c := p.(wire.CallRecord)
		c.Privileged = true
		return typ, c
	})
	if _, err := s.StoreEvents(ctx, "app1", evs); err != nil {
		t.Fatal(err)
	}
	up := &wire.RecordingUpload{V: 1, ApplianceID: "app1", CallID: "call-1", Ref: ref, Data: data}
	if err := s.StoreRecording(ctx, "app1", up); !errors.Is(err, ErrPrivilegedRecording) {
		t.Fatalf("privileged upload: %v, want ErrPrivilegedRecording", err)
	}
	if files := listFiles(t, filepath.Join(dir, "rec")); len(files) != 0 {
		t.Fatalf("files after a privileged upload: %v", files)
	}
	alarms, err := s.AlarmList(ctx, AlarmFilter{ApplianceID: "app1"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range alarms {
		found = found || a.Code == AlarmPrivilegedRecording
	}
	if !found {
		t.Fatalf("no %s alarm in %+v", AlarmPrivilegedRecording, alarms)
	}
}
