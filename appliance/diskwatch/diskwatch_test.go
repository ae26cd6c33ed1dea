package diskwatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

const gib = 1 << 30

type alarms struct {
	mu   sync.Mutex
	got  []wire.Alarm
	fail int // refuse this many calls
}

func (a *alarms) on(al wire.Alarm) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail > 0 {
		a.fail--
		return errors.New("outbox unavailable")
	}
	a.got = append(a.got, al)
	return nil
}

func (a *alarms) take() []wire.Alarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

func newGuard(t *testing.T) (*Guard, *Fake, *alarms, *clock.Fake) {
	t.Helper()
	fs := &Fake{}
	fs.Set(100*gib, 50*gib)
	al := &alarms{}
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	g, err := New(Config{Dir: t.TempDir(), LowPercent: 10, FullBytes: 1 * gib}, Deps{Stater: fs, Clock: clk, OnAlarm: al.on})
	if err != nil {
		t.Fatal(err)
	}
	return g, fs, al, clk
}

func check(t *testing.T, g *Guard) {
	t.Helper()
	if err := g.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func codes(as []wire.Alarm) []string {
	var out []string
	for _, a := range as {
		s := a.Code
		if a.Cleared {
			s += "-cleared"
		}
		out = append(out, s)
	}
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLevelsAlarmsAndCanRecord(t *testing.T) {
	g, fs, al, _ := newGuard(t)
	steps := []struct {
		free      uint64
		level     Level
		canRecord bool
		alarms    []string
	}{
		{50 * gib, LevelOK, true, nil},
		{9 * gib, LevelLow, true, []string{AlarmLow}},
		{8 * gib, LevelLow, true, nil}, // raised once
		{gib / 2, LevelFull, false, []string{AlarmFull}},
		{gib + gib/20, LevelFull, false, nil}, // inside the floor's margin
		{2 * gib, LevelLow, true, []string{AlarmFull + "-cleared"}},
		{10*gib + gib/2, LevelLow, true, nil}, // inside the 1 % margin
		{12 * gib, LevelOK, true, []string{AlarmLow + "-cleared"}},
		{gib / 4, LevelFull, false, []string{AlarmLow, AlarmFull}}, // straight to full
		{60 * gib, LevelOK, true, []string{AlarmLow + "-cleared", AlarmFull + "-cleared"}},
	}
	for i, s := range steps {
		fs.Set(100*gib, s.free)
		check(t, g)
		if st := g.State(); st.Level != s.level || st.Usage.Free != s.free {
			t.Fatalf("step %d: state %+v, want level %v", i, st, s.level)
		}
		if g.CanRecord() != s.canRecord {
			t.Fatalf("step %d: CanRecord %v", i, g.CanRecord())
		}
		if got := codes(al.take()); !same(got, s.alarms) {
			t.Fatalf("step %d: alarms %v, want %v", i, got, s.alarms)
		}
	}
}

func TestStatErrorKeepsLevel(t *testing.T) {
	g, fs, al, _ := newGuard(t)
	fs.Set(100*gib, gib/2)
	check(t, g)
	al.take()
	fs.Fail(errors.New("EIO"))
	if err := g.Check(context.Background()); !errors.Is(err, ErrStat) {
		t.Fatalf("check: %v, want ErrStat", err)
	}
	if g.CanRecord() || g.State().Level != LevelFull {
		t.Fatal("a failed read made the full disk look fine")
	}
	if got := al.take(); len(got) != 0 {
		t.Fatalf("alarms on a read error: %v", got)
	}
}

func TestAlarmRetriedWhenRefused(t *testing.T) {
	g, fs, al, _ := newGuard(t)
	al.fail = 1
	fs.Set(100*gib, gib/2)
	check(t, g) // both alarms queued, the first refused: none recorded
	if got := al.take(); len(got) != 0 {
		t.Fatalf("alarms %v", got)
	}
	check(t, g)
	if got := codes(al.take()); !same(got, []string{AlarmLow, AlarmFull}) {
		t.Fatalf("alarms after retry %v", got)
	}
}

func TestRunChecksOnTheClock(t *testing.T) {
	g, fs, al, clk := newGuard(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, what, cond)
	}
	waitFor("first check", func() bool { return !g.State().Checked.IsZero() })
	fs.Set(100*gib, gib/2)
	waitFor("the next check's timer", func() bool { return clk.Pending() > 0 })
	if !g.CanRecord() {
		t.Fatal("level changed before the interval elapsed")
	}
	clk.Advance(DefaultInterval)
	waitFor("the disk seen full", func() bool { return !g.CanRecord() })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := codes(al.take()); !same(got, []string{AlarmLow, AlarmFull}) {
		t.Fatalf("alarms %v", got)
	}
}

func TestStatFSReadsARealFileSystem(t *testing.T) {
	u, err := StatFS{}.Usage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if u.Total == 0 || u.Free > u.Total {
		t.Fatalf("usage %+v", u)
	}
	if _, err := (StatFS{}).Usage("/nonexistent/kinline"); err == nil {
		t.Fatal("statfs of a missing directory succeeded")
	}
}

func TestConfigRefused(t *testing.T) {
	if _, err := New(Config{}, Deps{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no dir: %v", err)
	}
	if _, err := New(Config{Dir: "/x", LowPercent: 120}, Deps{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("120 %%: %v", err)
	}
}

// The reason a call refused for the disk carries is the text of the
// policy error the daemon refuses it with (and prompts.ForReason speaks).
func TestRefusalReasonIsThePolicyError(t *testing.T) {
	if RefusalReason != policy.ErrStorageFull.Error() {
		t.Fatalf("RefusalReason %q, policy.ErrStorageFull %q", RefusalReason, policy.ErrStorageFull)
	}
}
