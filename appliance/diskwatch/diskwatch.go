// Package diskwatch watches the free space of the appliance's recordings
// directory and decides whether a call may still be recorded.
//
// On the injected clock, every Config.Interval, it reads the file system's
// free space through a Stater (statfs in production, Fake in tests) and
// keeps a Level:
//
//	LevelOK    free space at or above Config.LowPercent of the file system
//	LevelLow   below LowPercent: alarm AlarmLow ("disk_low")
//	LevelFull  below Config.FullBytes: alarm AlarmFull ("disk_full")
//
// Each alarm is raised once when its level is entered and cleared (the same
// Code with Cleared set) when the space comes back above the threshold plus
// a margin (Config.ClearMarginPercent of the file system, and FullBytes/10
// for the floor), so a disk hovering at the threshold does not flood the
// outbox.
//
// # Policy when full (docs/decisions/0006-disk-full.md)
//
// A recorded call whose recording cannot be written is refused: Guard.
// CanRecord reports false at LevelFull, the daemon refuses every call that
// would be recorded once the authorizer has allowed it (with
// policy.ErrStorageFull, reason RefusalReason), and the person hears why.
// Privileged calls are never recorded and are not refused for the disk
// (every other rule still applies). A call already in progress keeps
// recording: the floor leaves room for it. Nothing is
// ever deleted to make room: a recording leaves the appliance only after
// central has verified its SHA-256 (appliance/syncclient), so space comes
// back as uploads are verified or when an operator adds storage.
//
// When the file system cannot be read the Guard keeps its last level and
// logs the error; it never guesses that the disk is fine.
package diskwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Alarm codes (wire.Alarm.Code) and the refusal reason of a recorded call
// refused while the disk is full: the text of policy.ErrStorageFull, which
// the daemon refuses such calls with (its spoken prompt is
// refused_storage_full).
const (
	AlarmLow      = "disk_low"
	AlarmFull     = "disk_full"
	RefusalReason = "recording storage full"
	alarmSource   = "diskwatch"
)

// Defaults for a zero Config field.
const (
	DefaultLowPercent         = 10
	DefaultFullBytes          = 256 << 20
	DefaultClearMarginPercent = 1
	DefaultInterval           = 30 * time.Second
)

// Errors of the package.
var (
	ErrConfig = errors.New("diskwatch: bad config")
	ErrStat   = errors.New("diskwatch: cannot read free space")
	// ErrFull is what a caller refusing a recorded call may wrap.
	ErrFull = errors.New("diskwatch: recording storage full")
)

// Usage is a file system's size and the space available to the appliance.
type Usage struct {
	Total uint64 // bytes
	Free  uint64 // bytes available to unprivileged writers
}

// Stater reads the usage of the file system holding a path.
type Stater interface {
	Usage(path string) (Usage, error)
}

// Level is the Guard's view of the disk.
type Level int

// Levels, in order of severity.
const (
	LevelOK Level = iota
	LevelLow
	LevelFull
)

func (l Level) String() string {
	switch l {
	case LevelOK:
		return "ok"
	case LevelLow:
		return "low"
	case LevelFull:
		return "full"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// Config configures a Guard. Zero fields take the defaults above.
type Config struct {
	// Dir is the recordings directory (required).
	Dir string
	// LowPercent: below this share of the file system free, AlarmLow.
	LowPercent float64
	// FullBytes: below this many bytes free, AlarmFull and no recording.
	// Keep it above what the longest call's recording needs.
	FullBytes uint64
	// ClearMarginPercent is added to LowPercent before AlarmLow clears.
	ClearMarginPercent float64
	// Interval between two checks.
	Interval time.Duration
}

// Deps are the Guard's collaborators.
type Deps struct {
	// Stater reads free space; nil means StatFS (statfs(2)).
	Stater Stater
	// Clock schedules the checks; nil means the wall clock.
	Clock clock.Clock
	// Log receives the Guard's logs; nil discards them.
	Log *slog.Logger
	// OnAlarm, if set, records an alarm (the daemon appends it to the
	// outbox as a wire.EventAlarm). An error is logged and the alarm is
	// tried again at the next check.
	OnAlarm func(wire.Alarm) error
}

// State is the result of the last check.
type State struct {
	Level   Level
	Usage   Usage
	Checked time.Time // zero before the first successful check
}

// Guard watches one directory's file system.
type Guard struct {
	cfg  Config
	deps Deps
	clk  clock.Clock
	log  *slog.Logger

	mu      sync.Mutex
	state   State
	raised  map[string]bool // alarm code -> raised and not cleared (as sent)
	pending []wire.Alarm    // alarms OnAlarm refused, to send again
}

// New checks cfg and returns a Guard at LevelOK (until the first Check).
func New(cfg Config, deps Deps) (*Guard, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no directory", ErrConfig)
	}
	if cfg.LowPercent == 0 {
		cfg.LowPercent = DefaultLowPercent
	}
	if cfg.LowPercent < 0 || cfg.LowPercent >= 100 {
		return nil, fmt.Errorf("%w: low percent %v not in (0, 100)", ErrConfig, cfg.LowPercent)
	}
	if cfg.FullBytes == 0 {
		cfg.FullBytes = DefaultFullBytes
	}
	if cfg.ClearMarginPercent <= 0 {
		cfg.ClearMarginPercent = DefaultClearMarginPercent
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	g := &Guard{cfg: cfg, deps: deps, clk: deps.Clock, log: deps.Log, raised: map[string]bool{}}
	if g.deps.Stater == nil {
		g.deps.Stater = StatFS{}
	}
	if g.clk == nil {
		g.clk = clock.Real{}
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g, nil
}

// CanRecord reports whether a new recorded call may start: false only when
// the last check found the disk full. The daemon refuses recorded calls
// (with RefusalReason, spoken to the caller) while it is false; privileged
// calls do not ask.
func (g *Guard) CanRecord() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Level != LevelFull
}

// State returns the result of the last check.
func (g *Guard) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

// Run checks now and then every Config.Interval until ctx is done; it
// returns nil then. Check errors are logged, not returned.
func (g *Guard) Run(ctx context.Context) error {
	for {
		if err := g.Check(ctx); err != nil {
			g.log.Error("diskwatch: check failed, keeping the last level", "dir", g.cfg.Dir, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-g.clk.After(g.cfg.Interval):
		}
	}
}

// Check reads the free space once, updates the level and raises or clears
// alarms. On a read error the level stays as it was.
func (g *Guard) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u, err := g.deps.Stater.Usage(g.cfg.Dir)
	if err != nil {
		g.flush()
		return fmt.Errorf("%w: %s: %w", ErrStat, g.cfg.Dir, err)
	}
	g.mu.Lock()
	prev := g.state.Level
	lvl := g.level(prev, u)
	g.state = State{Level: lvl, Usage: u, Checked: g.clk.Now()}
	g.want(AlarmLow, lvl >= LevelLow, u)
	g.want(AlarmFull, lvl == LevelFull, u)
	g.mu.Unlock()
	if lvl != prev {
		g.log.Warn("diskwatch: recordings disk level changed", "dir", g.cfg.Dir, "from", prev, "to", lvl,
			"free_bytes", u.Free, "total_bytes", u.Total, "can_record", lvl != LevelFull)
	}
	g.flush()
	return nil
}

// level is the new level from the usage, with hysteresis from prev.
func (g *Guard) level(prev Level, u Usage) Level {
	pct := 100.0
	if u.Total > 0 {
		pct = 100 * float64(u.Free) / float64(u.Total)
	}
	full := u.Free < g.cfg.FullBytes
	if prev == LevelFull && !full {
		full = u.Free < g.cfg.FullBytes+g.cfg.FullBytes/10
	}
	if full {
		return LevelFull
	}
	low := pct < g.cfg.LowPercent
	if prev >= LevelLow && !low {
		low = pct < g.cfg.LowPercent+g.cfg.ClearMarginPercent
	}
	if low {
		return LevelLow
	}
	return LevelOK
}

// want queues the raising or clearing of code; g.mu is held.
func (g *Guard) want(code string, on bool, u Usage) {
	if g.raised[code] == on {
		return
	}
	g.raised[code] = on
	msg := fmt.Sprintf("%s: %d of %d bytes free", g.cfg.Dir, u.Free, u.Total)
	if on && code == AlarmFull {
		msg += "; recorded calls are refused until space is freed (privileged calls go through)"
	}
	g.pending = append(g.pending, wire.Alarm{Code: code, Source: alarmSource, Message: msg, Cleared: !on})
}

// flush hands the queued alarms to OnAlarm, keeping those it refuses.
func (g *Guard) flush() {
	g.mu.Lock()
	pending := g.pending
	g.pending = nil
	g.mu.Unlock()
	if g.deps.OnAlarm == nil {
		return
	}
	for i, a := range pending {
		if err := g.deps.OnAlarm(a); err != nil {
			g.log.Error("diskwatch: alarm not recorded, retrying at the next check", "code", a.Code, "cleared", a.Cleared, "err", err)
			g.mu.Lock()
			g.pending = append(append([]wire.Alarm(nil), pending[i:]...), g.pending...)
			g.mu.Unlock()
			return
		}
	}
}
