package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

var restartRate = ledger.Rate{Prefix: "+44", DestinationType: ledger.DestinationType(wire.DestNational), PerMinute: 12, BillingUnit: 30, ConnectionFee: 3}

// systemIn builds a System with New's wiring over the data directory dir
// (so that a second one is the first restarted), with person A (card AA)
// allowed numRecorded at restartRate, holding 5.00 EUR.
func systemIn(t testing.TB, dir string, at time.Time) (*System, *clock.Fake) {
	t.Helper()
	doc := "appliance_id: blk-a\nboard: sim\nsync: {broker: 'tcp://127.0.0.1:1'}\n" +
		"sip: {listen: '127.0.0.1:0', trunk: {address: '127.0.0.1:9'}, terminals: [{id: t1, sip_user: u, password: p}]}\n"
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	clk := clock.NewFake(at)
	s, err := NewWith(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)), clk, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s.applyPolicy(&wire.Policy{V: 1, Version: 1, ApplianceID: "blk-a",
		Rules: []wire.CallRule{{MaxDurationSeconds: 3600}},
		People: []wire.Person{{ID: "A", Status: wire.StatusActive, Cards: []string{"AA"},
			Numbers: []wire.ApprovedNumber{{Number: numRecorded}}}},
		Money: &wire.MoneyPolicy{Currency: "EUR", Digits: 2,
			Rates:    []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 12, BillingUnitSeconds: 30, ConnectionFee: 3}},
			Accounts: []wire.AccountMoney{{Account: "A", Balance: 500}}},
	})
	return s, clk
}

func liveIDs(t *testing.T, s *System) []string {
	t.Helper()
	lcs, err := s.Store.LiveCalls()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, lc := range lcs {
		ids = append(ids, lc.CallID)
	}
	return ids
}

// waitLive waits until call id's first checkpoint is stored (it is
// written off the call's path, with its call_started event).
func waitLive(t *testing.T, s *System, id string) {
	t.Helper()
	testkit.Eventually(t, waitLong, "a checkpoint for "+id, func() bool { return slices.Contains(liveIDs(t, s), id) })
}

// events decodes s's outbox: call records by id, debits, alarms.
func events(t *testing.T, s *System) (map[string]wire.CallRecord, []wire.LedgerEntry, []wire.Alarm) {
	t.Helper()
	evs, err := s.Store.Pending(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]wire.CallRecord{}
	var debits []wire.LedgerEntry
	var alarms []wire.Alarm
	for _, ev := range evs {
		switch ev.Type {
		case wire.EventCall:
			var r wire.CallRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				t.Fatal(err)
			}
			recs[r.CallID] = r
		case wire.EventLedger:
			var e wire.LedgerEntry
			if err := json.Unmarshal(ev.Payload, &e); err != nil {
				t.Fatal(err)
			}
			debits = append(debits, e)
		case wire.EventAlarm:
			var a wire.Alarm
			if err := json.Unmarshal(ev.Payload, &a); err != nil {
				t.Fatal(err)
			}
			alarms = append(alarms, a)
		}
	}
	return recs, debits, alarms
}

// TestRestartClosesCallsItDiedWith: an appliance that dies with calls up
// closes them at its next start: a record with disposition
// appliance_restarted, billed from the answer to the last checkpoint at
// the rate the call was priced with, its debit, its partial recording
// sealed and queued for upload (no .part left), an alarm, and a BYE for
// the trunk dialog, after which the checkpoint is gone. A call that ended
// normally leaves no checkpoint.
func TestRestartClosesCallsItDiedWith(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	s1, clk := systemIn(t, dir, t0)

	// call-ok ends normally: its record takes its checkpoint with it.
	if res := dial(s1, "call-ok", numRecorded); !res.Allowed {
		t.Fatalf("call-ok refused: %+v", res)
	}
	waitLive(t, s1, "call-ok")
	s1.callEnded(wire.CallRecord{CallID: "call-ok", PersonID: "A", Terminal: "t1", Number: numRecorded, Start: t0, End: t0, Disposition: wire.DispNoAnswer})
	if ids := liveIDs(t, s1); len(ids) != 0 {
		t.Fatalf("checkpoints after a call ended: %v", ids)
	}

	// call-up is answered and talks for 6.5 s; call-ringing never is.
	if res := dial(s1, "call-up", numRecorded); !res.Allowed {
		t.Fatalf("call-up refused: %+v", res)
	}
	if res := dial(s1, "call-ringing", numRecorded); !res.Allowed {
		t.Fatalf("call-ringing refused: %+v", res)
	}
	waitLive(t, s1, "call-up")
	waitLive(t, s1, "call-ringing")
	answer := clk.Now()
	trunk := callctl.Dialog{CallID: "call-up", From: "<sip:kinline@10.0.0.1>;tag=a", To: "<sip:+441110001@trunk>;tag=b",
		RemoteTarget: "sip:gw@192.0.2.1:5060", CSeq: 1, Transport: "UDP"}
	port := callctl.Dialog{CallID: "port-cid", From: "<sip:+441110001@10.0.0.1>;tag=c", To: "<sip:u@10.0.0.2>;tag=d",
		RemoteTarget: "sip:u@10.0.0.2:5062", CSeq: 2, Transport: "UDP"}
	s1.callAnswered(callctl.AnsweredCall{CallID: "call-up", Answer: answer, Trunk: trunk, Port: port})
	clk.Advance(6 * time.Second)
	if err := s1.writeCheckpoints(true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond) // after the last checkpoint: not billed
	// The recorder had written 3 s of audio to its .part when the
	// process died (the WAV header never patched).
	part := filepath.Join(dir, "recordings", "call-up.wav.part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	w, err := wav.NewWriterSize(f, wav.Format{Encoding: wav.Mulaw, Channels: 2, SampleRate: 8000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 3*2*8000)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// kill -9: nothing more runs.
	s1.closeEarly()

	s2, _ := systemIn(t, dir, t0.Add(time.Minute))
	t.Cleanup(s2.closeEarly)
	var byes []callctl.Dialog
	s2.endDialog = func(_ context.Context, d callctl.Dialog) error {
		byes = append(byes, d)
		return nil
	}
	dead := s2.closeDeadCalls()
	recs, debits, alarms := events(t, s2)
	up, ok := recs["call-up"]
	if !ok || up.Disposition != wire.DispRestarted || up.Answer == nil || !up.Answer.Equal(answer) ||
		!up.End.Equal(answer.Add(6*time.Second)) || up.PersonID != "A" || up.Terminal != "t1" || up.Number != numRecorded {
		t.Fatalf("record of call-up = %+v", up)
	}
	wantCost := int64(restartRate.Cost(6 * time.Second))
	if up.Cost != wantCost || up.Currency != "EUR" || up.Rate == nil || up.Rate.Prefix != "+44" {
		t.Fatalf("call-up priced %d %s (rate %+v), want %d EUR", up.Cost, up.Currency, up.Rate, wantCost)
	}
	if len(debits) != 1 || debits[0].Ref != "call-up" || debits[0].Amount != -wantCost || debits[0].Account != "A" {
		t.Fatalf("debits = %+v", debits)
	}
	if up.Recording == nil || up.Recording.Bytes != 58+3*2*8000 || up.Recording.Format != "wav/pcmu-stereo" {
		t.Fatalf("recording of call-up = %+v", up.Recording)
	}
	if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".part left on disk: %v", err)
	}
	pend, err := s2.Store.PendingRecordings()
	if err != nil || len(pend) != 1 || pend[0].CallID != "call-up" || pend[0].Ref.SHA256 != up.Recording.SHA256 {
		t.Fatalf("recordings queued for upload = %+v, %v", pend, err)
	}
	if _, err := os.Stat(pend[0].Path); err != nil {
		t.Fatalf("sealed recording: %v", err)
	}
	ring, ok := recs["call-ringing"]
	if !ok || ring.Disposition != wire.DispRestarted || ring.Answer != nil || ring.Cost != 0 || ring.Recording != nil {
		t.Fatalf("record of call-ringing = %+v", ring)
	}
	if len(alarms) != 1 || alarms[0].Code != AlarmCallsClosed {
		t.Fatalf("alarms = %+v", alarms)
	}
	// Only the trunk dialog is left, then nothing.
	if ids := liveIDs(t, s2); !slices.Equal(ids, []string{"call-up"}) {
		t.Fatalf("checkpoints before the BYE: %v", ids)
	}
	// Killed again before the BYEs: the next start only sends the BYEs.
	seq, _ := s2.Store.LastSeq()
	if again := s2.closeDeadCalls(); len(again) != 2 || again[0].dialog.CSeq != dead[0].dialog.CSeq {
		t.Fatalf("dialogs at a start after the records: %+v", again)
	}
	if seq2, _ := s2.Store.LastSeq(); seq2 != seq {
		t.Fatalf("a second start appended events %d..%d", seq+1, seq2)
	}
	s2.endDeadDialogs(context.Background(), dead)
	// The trunk leg first, then the port leg; the CSeq is above any a
	// session refresh could have reached.
	if len(byes) != 2 || byes[0].CallID != "call-up" || byes[0].To != trunk.To || byes[0].CSeq != trunk.CSeq+6 ||
		byes[1].CallID != "port-cid" || byes[1].To != port.To {
		t.Fatalf("BYEs = %+v", byes)
	}
	if ids := liveIDs(t, s2); len(ids) != 0 {
		t.Fatalf("checkpoints after the BYE: %v", ids)
	}
	// A second start finds nothing to close.
	if d := s2.closeDeadCalls(); len(d) != 0 {
		t.Fatalf("second start: %+v", d)
	}
	if recs2, _, _ := events(t, s2); len(recs2) != len(recs) {
		t.Fatalf("second start wrote records: %d, was %d", len(recs2), len(recs))
	}
}

// TestUnreadableCheckpointKept: a checkpoint that does not decode is
// left in the store, with an alarm, and nothing is written for it.
func TestUnreadableCheckpointKept(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	s, _ := systemIn(t, dir, t0)
	t.Cleanup(s.closeEarly)
	if err := s.Store.Update(func(tx *store.Tx) error { return tx.PutLiveCall("bad", json.RawMessage(`"not a checkpoint"`)) }); err != nil {
		t.Fatal(err)
	}
	if d := s.closeDeadCalls(); len(d) != 0 {
		t.Fatalf("dialogs = %+v", d)
	}
	recs, _, alarms := events(t, s)
	if len(recs) != 0 || len(alarms) != 1 || alarms[0].Code != AlarmCallsClosed {
		t.Fatalf("records %+v alarms %+v", recs, alarms)
	}
	if ids := liveIDs(t, s); !slices.Equal(ids, []string{"bad"}) {
		t.Fatalf("checkpoints = %v", ids)
	}
}

// TestCheckpointsFollowTheCall: the answer is written at once, and every
// checkpointEvery on the clock the call's checkpoint says it is alive.
func TestCheckpointsFollowTheCall(t *testing.T) {
	t0 := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	s, clk := systemIn(t, t.TempDir(), t0)
	t.Cleanup(s.closeEarly)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.runCheckpoints(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if res := dial(s, "c1", numRecorded); !res.Allowed {
		t.Fatalf("refused: %+v", res)
	}
	waitLive(t, s, "c1")
	stored := func() checkpoint {
		lcs, err := s.Store.LiveCalls()
		if err != nil || len(lcs) != 1 {
			t.Fatalf("checkpoints %+v, %v", lcs, err)
		}
		var cp checkpoint
		if err := json.Unmarshal(lcs[0].Data, &cp); err != nil {
			t.Fatal(err)
		}
		return cp
	}
	waitFor := func(what string, cond func(checkpoint) bool) {
		t.Helper()
		testkit.EventuallyNil(t, waitLong, what, func() error {
			if cp := stored(); !cond(cp) {
				return fmt.Errorf("checkpoint %+v", cp)
			}
			return nil
		})
	}
	s.callAnswered(callctl.AnsweredCall{CallID: "c1", Answer: clk.Now(), Trunk: callctl.Dialog{CallID: "c1", CSeq: 1}})
	waitFor("the answer", func(cp checkpoint) bool { return cp.Record.Answer != nil && cp.Trunk != nil })
	for i := 1; i <= 3; i++ {
		clk.Advance(checkpointEvery)
		want := t0.Add(time.Duration(i) * checkpointEvery)
		waitFor("checkpoint "+want.String(), func(cp checkpoint) bool { return !cp.Alive.Before(want) })
	}
	s.callEnded(wire.CallRecord{CallID: "c1", PersonID: "A", Terminal: "t1", Number: numRecorded, Start: t0, End: clk.Now(), Disposition: wire.DispCompleted})
	clk.Advance(checkpointEvery)
	if ids := liveIDs(t, s); len(ids) != 0 {
		t.Fatalf("checkpoints after the record: %v", ids)
	}
}
