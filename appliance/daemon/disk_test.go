package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/appliance/diskwatch"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

const (
	gib          = 1 << 30
	numRecorded  = "+441110001"
	numPrivilege = "+441110003"
)

// newSystem builds a whole System with New's wiring from a minimal config
// (plus extra YAML) on a fake clock, with the person A (card AA) allowed
// numRecorded and the privileged numPrivilege.
func newSystem(t *testing.T, extra string, deps Deps) (*System, *clock.Fake) {
	t.Helper()
	return newSystemLog(t, extra, deps, slog.New(slog.NewTextHandler(t.Output(), nil)))
}

// newSystemLog is newSystem logging to log.
func newSystemLog(t *testing.T, extra string, deps Deps, log *slog.Logger) (*System, *clock.Fake) {
	t.Helper()
	dir := t.TempDir()
	doc := "appliance_id: blk-a\nboard: sim\nsync: {broker: 'tcp://127.0.0.1:1'}\n" +
		"sip: {listen: '127.0.0.1:0', trunk: {address: '127.0.0.1:9'}, terminals: [{id: t1, sip_user: u, password: p}]}\n" + extra
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	clk := clock.NewFake(time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC))
	s, err := NewWith(cfg, log, clk, deps)
	if err != nil {
		t.Fatal(err)
	}
	s.applyPolicy(&wire.Policy{V: 1, Version: 1, ApplianceID: "blk-a",
		Rules: []wire.CallRule{{MaxDurationSeconds: 3600}},
		People: []wire.Person{{ID: "A", Status: wire.StatusActive, Cards: []string{"AA"},
			Numbers: []wire.ApprovedNumber{{Number: numRecorded}, {Number: numPrivilege, Privileged: true}}}},
	})
	return s, clk
}

// run runs s until the test ends.
func run(t *testing.T, s *System) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLong):
			t.Error("Run did not return")
		}
	})
}

// alarmsInOutbox are the alarm events in s's outbox, in order.
func alarmsInOutbox(t *testing.T, s *System) []wire.Alarm {
	t.Helper()
	evs, err := s.Store.Pending(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.Alarm
	for _, ev := range evs {
		if ev.Type != wire.EventAlarm {
			continue
		}
		var a wire.Alarm
		if err := json.Unmarshal(ev.Payload, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func hasAlarm(as []wire.Alarm, code string, cleared bool) bool {
	for _, a := range as {
		if a.Code == code && a.Cleared == cleared && a.Source == "diskwatch" {
			return true
		}
	}
	return false
}

// until advances the fake clock (the guard's checks run on it) until cond
// holds.
func until(t *testing.T, clk *clock.Fake, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, waitLong, what, func() bool {
		if cond() {
			return true
		}
		clk.Advance(30 * time.Second)
		return false
	})
}

func dial(s *System, id, number string) callctl.AuthResult {
	s.Authz.Tap("t1", "AA")
	return s.authorize(context.Background(), callctl.AuthRequest{CallID: id, Terminal: "t1", Number: number, Time: s.Clock.Now()})
}

// TestDiskFullRefusesRecordedCalls: New builds the disk guard from
// recording.disk, Run checks the disk at once and then on the clock, its
// alarms reach the outbox, and while the disk is full a call that would be
// recorded is refused with policy.ErrStorageFull (spoken as
// refused_storage_full) while a privileged call goes through; once space
// is back the alarm clears and recorded calls work again.
func TestDiskFullRefusesRecordedCalls(t *testing.T) {
	fs := roomy()
	s, clk := newSystem(t, "recording: {disk: {low_percent: 10, full_mib: 1024, check_interval: 30s}}\n", Deps{Stater: fs})
	if res := dial(s, "before", numRecorded); !res.Allowed || !res.Record {
		t.Fatalf("recorded call on a roomy disk: %+v", res)
	}
	fs.Set(100*gib, 512<<20) // under the 1024 MiB floor
	run(t, s)
	until(t, clk, "the disk_full alarm in the outbox", func() bool { return hasAlarm(alarmsInOutbox(t, s), diskwatch.AlarmFull, false) })
	if !hasAlarm(alarmsInOutbox(t, s), diskwatch.AlarmLow, false) {
		t.Errorf("no disk_low alarm with 0.5%% free: %+v", alarmsInOutbox(t, s))
	}

	res := dial(s, "full", numRecorded)
	if res.Allowed || !errors.Is(res.RefusalErr, policy.ErrStorageFull) || res.Reason != policy.ErrStorageFull.Error() || res.Reason != diskwatch.RefusalReason {
		t.Fatalf("recorded call on a full disk: %+v", res)
	}
	if res.PersonID != "A" {
		t.Errorf("refusal lost who called: %+v", res)
	}
	if id, ok := prompts.ForReason(res.RefusalErr); !ok || id != prompts.RefusedStorageFull {
		t.Errorf("spoken prompt %q %v, want %q", id, ok, prompts.RefusedStorageFull)
	}
	if _, ok := s.priced.take("full"); ok {
		t.Error("a refused call was priced")
	}
	if res := dial(s, "priv", numPrivilege); !res.Allowed || res.Record {
		t.Fatalf("privileged call on a full disk: %+v, want allowed and unrecorded", res)
	}

	fs.Set(100*gib, 5*gib) // above the floor and its margin, still under 10 %
	until(t, clk, "the disk_full alarm to clear", func() bool { return hasAlarm(alarmsInOutbox(t, s), diskwatch.AlarmFull, true) })
	if res := dial(s, "after", numRecorded); !res.Allowed || !res.Record {
		t.Fatalf("recorded call after space came back: %+v", res)
	}
	as := alarmsInOutbox(t, s)
	if hasAlarm(as, diskwatch.AlarmLow, true) {
		t.Errorf("disk_low cleared at 5%% free: %+v", as)
	}
	n := 0
	for _, a := range as {
		if a.Code == diskwatch.AlarmFull && !a.Cleared {
			n++
		}
	}
	if n != 1 {
		t.Errorf("disk_full raised %d times over several checks, want once", n)
	}
}

// TestDiskUnreadableKeepsLevel: a guard that cannot read the disk keeps
// its last level: OK before any check (a statfs error alone refuses
// nothing), and full once it was found full (a failing disk is never
// taken for an empty one).
func TestDiskUnreadableKeepsLevel(t *testing.T) {
	fs := &diskwatch.Fake{}
	fs.Fail(errors.New("EIO"))
	s, _ := newSystem(t, "", Deps{Stater: fs})
	run(t, s)
	if res := dial(s, "c1", numRecorded); !res.Allowed {
		t.Fatalf("refused on an unreadable disk that was never full: %+v", res)
	}
	fs.Set(100*gib, 10<<20)
	if err := s.Disk.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	fs.Fail(errors.New("EIO"))
	if err := s.Disk.Check(context.Background()); err == nil {
		t.Fatal("check with a failing disk: no error")
	}
	if res := dial(s, "c2", numRecorded); res.Allowed || !errors.Is(res.RefusalErr, policy.ErrStorageFull) {
		t.Fatalf("a full disk that became unreadable is taken for fine: %+v", res)
	}
}

// TestRecordingPathFollowsFormatAndKey: the upload entry of a call's
// recording names the file the media manager wrote: .wav or .ogg, with
// .enc when recording.key_file is set.
func TestRecordingPathFollowsFormatAndKey(t *testing.T) {
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "recording.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra, format, want string
	}{
		{"plain wav", "", media.FormatWAVPCMU, "c1.wav"},
		{"plain ogg", "", media.FormatOggOpus, "c1.ogg"},
		{"encrypted wav", "recording: {key_file: " + key + "}\n", media.FormatWAVPCMA, "c1.wav.enc"},
		{"encrypted ogg", "recording: {key_file: " + key + "}\n", media.FormatOggOpus, "c1.ogg.enc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newSystem(t, tc.extra, Deps{Stater: roomy()})
			t.Cleanup(s.closeEarly)
			now := clk.Now()
			s.callEnded(wire.CallRecord{CallID: "c1", PersonID: "A", Terminal: "t1", Number: numRecorded, Start: now, Answer: &now, End: now,
				Disposition: wire.DispCompleted,
				Recording:   &wire.RecordingRef{ID: "c1", SHA256: strings.Repeat("ab", 32), Bytes: 44, Format: tc.format}})
			recs, err := s.Store.PendingRecordings()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Path != filepath.Join(s.recDir, tc.want) {
				t.Fatalf("pending recordings %+v, want one at %s", recs, tc.want)
			}
			if recs[0].Path != s.Media.RecordingPath("c1", tc.format) {
				t.Fatalf("path %s is not the media manager's %s", recs[0].Path, s.Media.RecordingPath("c1", tc.format))
			}
		})
	}
}

// TestBadRecordingKeyStopsNew: a key file that is unusable stops the
// appliance with the config's error, before anything runs.
func TestBadRecordingKeyStopsNew(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "recording.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "appliance_id: blk-a\nboard: sim\nsync: {broker: 'tcp://127.0.0.1:1'}\n" +
		"sip: {listen: '127.0.0.1:0', trunk: {address: '127.0.0.1:9'}, terminals: [{id: t1, sip_user: u, password: p}]}\n" +
		"recording: {key_file: " + key + "}\n"
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	_, err = New(cfg, slog.New(slog.DiscardHandler), clock.NewFake(time.Now()))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "recording.key_file") {
		t.Fatalf("New with a 0644 key: %v", err)
	}
	// The store the failed New opened was closed again: a new New opens
	// it (bbolt would wait for its lock forever otherwise).
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := New(cfg, slog.New(slog.DiscardHandler), clock.NewFake(time.Now()))
		if err != nil {
			t.Errorf("New after chmod 600: %v", err)
			return
		}
		s.closeEarly()
	}()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("New blocked: the store of the failed New was left open")
	}
}

// roomy is a disk with half of its 100 GiB free.
func roomy() *diskwatch.Fake {
	f := &diskwatch.Fake{}
	f.Set(100*gib, 50*gib)
	return f
}
