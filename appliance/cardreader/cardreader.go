// Package cardreader runs the IC-card readers of a block's terminals. Each
// reader is a serial device bound to one terminal (an IAD port); Run opens
// it, initialises it with its driver (pn532 for 13.56 MHz ISO/IEC 14443 A
// cards, em4100 for 125 kHz cards), turns reads into taps (one per
// presentation of a card, however many times the reader repeats it) and
// survives the device vanishing, failing or falling silent: it raises a
// "reader_down" alarm, reopens the device with a short exponential backoff
// (or, while the device is unplugged, as soon as it reappears) and clears
// the alarm when the reader works again.
//
// Usage:
//
//	err := cardreader.Run(ctx, cardreader.Config{
//		Name: "t1-reader", Terminal: "t1", Device: "/dev/ttyUSB0", Driver: "pn532",
//	}, cardreader.Deps{Clock: clock.Real{}, Log: log, OnTap: onTap, OnAlarm: onAlarm})
//
// Deps.Open is the seam for tests and for unusual ports; the default opens
// a serial device (or a pty, which is a tty) with go.bug.st/serial.
package cardreader

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.bug.st/serial"

	"github.com/kinline/kinline/appliance/cardreader/em4100"
	"github.com/kinline/kinline/appliance/cardreader/pn532"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Drivers.
const (
	DriverPN532  = "pn532"
	DriverEM4100 = "em4100"
)

// AlarmReaderDown is the alarm code raised while a reader does not work.
const AlarmReaderDown = "reader_down"

// Errors of the runner layer.
var (
	ErrConfig = errors.New("cardreader: bad config")
	ErrOpen   = errors.New("cardreader: cannot open device")
)

// Tap is one presentation of a card on a reader.
type Tap struct {
	Reader   string    // Config.Name
	Terminal string    // Config.Terminal
	UID      string    // upper-case hex, no separators
	Time     time.Time // on Deps.Clock, when the first read arrived
}

// Config is one reader. Zero durations take their defaults.
type Config struct {
	Name     string // reader id, e.g. "t1-reader"
	Terminal string // the terminal (IAD port) this reader is bound to
	Device   string // e.g. /dev/ttyUSB0 or a pty symlink
	Driver   string // "pn532" or "em4100"
	Baud     int    // 0 = the driver's default (pn532 115200, em4100 9600)
	// DedupWindow (default 2 s): a read of the card this reader read last,
	// within this long of that read, is the same tap: the window slides,
	// so a card held on the reader is one tap. A read of any other card in
	// between ends the presentation, so taps A, B, A are three taps and the
	// last card presented decides.
	DedupWindow time.Duration
	// RetryMin and RetryMax bound the exponential backoff between attempts
	// to reopen a reader whose device is there but fails (defaults 500 ms
	// and 2 s: a reader that comes back is read again within RetryMax).
	RetryMin, RetryMax time.Duration
	// WatchInterval (default 200 ms): while the device path does not exist
	// (the reader is unplugged), the runner checks for it this often, with
	// no backoff, and opens it as soon as it is back.
	WatchInterval time.Duration
	// PN532 tunes the pn532 driver's timeouts (zero = its defaults).
	PN532 pn532.Options
}

// Port is an open reader device. Close must unblock a pending Read.
type Port interface {
	io.ReadWriteCloser
}

// Deps are what Run needs from its surroundings.
type Deps struct {
	Clock clock.Clock  // nil = clock.Real
	Log   *slog.Logger // nil = discard
	// Open opens a device; nil = OpenSerial.
	Open    func(device string, baud int) (Port, error)
	OnTap   func(Tap)        // called from Run's goroutine; must not block long
	OnAlarm func(wire.Alarm) // raised and cleared reader_down alarms
}

// OpenSerial opens device as a serial port at baud, 8N1, and discards
// whatever the device sent before it was opened.
func OpenSerial(device string, baud int) (Port, error) {
	p, err := serial.Open(device, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, err
	}
	if err := p.ResetInputBuffer(); err != nil {
		p.Close()
		return nil, err
	}
	return guardedPort{p}, nil
}

// ErrSerialPanic is returned by a port whose serial library panicked.
// go.bug.st/serial waits with select(2), which cannot take a file descriptor
// of 1024 or more (bugst/go-serial#128): a reader reopened while the
// appliance holds many sockets would crash the whole process. The guard
// turns that into a read error, so the reader raises reader_down and is
// retried with backoff while calls go on.
var ErrSerialPanic = errors.New("cardreader: serial library failed")

// guardedPort recovers panics of the serial library's Read.
type guardedPort struct{ Port }

func (p guardedPort) Read(b []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%w (file descriptor limit of select?): %v", ErrSerialPanic, r)
		}
	}()
	return p.Port.Read(b)
}

func (c *Config) check() error {
	if c.Name == "" || c.Device == "" {
		return fmt.Errorf("%w: reader needs a name and a device", ErrConfig)
	}
	switch c.Driver {
	case DriverPN532:
		if c.Baud == 0 {
			c.Baud = pn532.DefaultBaud
		}
	case DriverEM4100:
		if c.Baud == 0 {
			c.Baud = em4100.DefaultBaud
		}
	default:
		return fmt.Errorf("%w: reader %q: unknown driver %q", ErrConfig, c.Name, c.Driver)
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = 2 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Second
	}
	if c.WatchInterval <= 0 {
		c.WatchInterval = 200 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	return nil
}

// Run opens cfg.Device, initialises the reader and delivers taps until ctx
// is done. When the device vanishes, fails or stops answering it calls
// OnAlarm with a reader_down alarm (once per outage), reopens it with
// exponential backoff on the clock (RetryMin doubling up to RetryMax; while
// the device path does not exist, as soon as it reappears) and,
// once the reader works again, calls OnAlarm with the alarm Cleared. It
// never returns because of the device; it returns ctx.Err() at the end, or
// an ErrConfig error at once for a config it cannot run.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Open == nil {
		deps.Open = OpenSerial
	}
	r := &runner{cfg: cfg, deps: deps, log: deps.Log.With("reader", cfg.Name, "driver", cfg.Driver)}
	return r.run(ctx)
}

type runner struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	down bool
	// last and lastAt are the card read last and when: the presentation a
	// repeated read of the same card belongs to.
	last   string
	lastAt time.Time
}

func (r *runner) alarm(cleared bool, msg string) {
	if r.deps.OnAlarm != nil {
		r.deps.OnAlarm(wire.Alarm{Code: AlarmReaderDown, Source: r.cfg.Name, Message: msg, Cleared: cleared})
	}
}

func (r *runner) run(ctx context.Context) error {
	backoff := r.cfg.RetryMin
	for {
		ready, err := r.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ready {
			backoff = r.cfg.RetryMin
		}
		if !r.down {
			r.down = true
			r.log.Error("card reader down", "device", r.cfg.Device, "err", err)
			r.alarm(false, fmt.Sprintf("reader %s on %s (terminal %s): %v", r.cfg.Name, r.cfg.Device, r.cfg.Terminal, err))
		} else {
			r.log.Debug("card reader still down", "err", err, "retry_in", backoff)
		}
		if r.missing() {
			// Unplugged: watch for the device rather than back off, so a
			// reader plugged back in is read again at once.
			if err := r.watch(ctx); err != nil {
				return err
			}
			backoff = r.cfg.RetryMin
			continue
		}
		if err := r.sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(backoff*2, r.cfg.RetryMax)
	}
}

// missing reports whether the device path does not exist.
func (r *runner) missing() bool {
	_, err := os.Stat(r.cfg.Device)
	return errors.Is(err, fs.ErrNotExist)
}

// watch returns once the device path exists, checking every WatchInterval.
func (r *runner) watch(ctx context.Context) error {
	r.log.Debug("card reader unplugged: watching for the device", "device", r.cfg.Device)
	for r.missing() {
		if err := r.sleep(ctx, r.cfg.WatchInterval); err != nil {
			return err
		}
	}
	return nil
}

// sleep waits d on the clock, or returns ctx.Err().
func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	wait := make(chan struct{})
	t := r.deps.Clock.AfterFunc(d, func() { close(wait) })
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// up is called once a session's reader works.
func (r *runner) up(detail string) {
	r.log.Info("card reader up", "device", r.cfg.Device, "detail", detail)
	if r.down {
		r.down = false
		r.alarm(true, fmt.Sprintf("reader %s on %s is back: %s", r.cfg.Name, r.cfg.Device, detail))
	}
}

// session opens the device and serves it until it fails or ctx is done.
// ready reports whether the reader got to work.
func (r *runner) session(ctx context.Context) (ready bool, err error) {
	port, err := r.deps.Open(r.cfg.Device, r.cfg.Baud)
	if err != nil {
		return false, fmt.Errorf("%w %s: %w", ErrOpen, r.cfg.Device, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sctx, func() { port.Close() })
	defer func() {
		if stop() {
			port.Close()
		}
	}()
	switch r.cfg.Driver {
	case DriverPN532:
		d := pn532.New(port, r.deps.Clock, r.log, r.cfg.PN532)
		defer d.Close()
		fw, err := d.Init(sctx)
		if err != nil {
			return false, fmt.Errorf("initialising: %w", err)
		}
		r.up(fw.String())
		return true, d.Poll(sctx, func(t pn532.Target) { r.read(t.UID) })
	default: // em4100
		r.up("port open")
		return true, em4100.Serve(sctx, port, r.log, func(id [5]byte) { r.read(id[:]) })
	}
}

// read turns a raw read into a tap unless it repeats the read before it:
// the same card, read again within DedupWindow of that read (a card held on
// the reader). Only the last card read is remembered, so a card shown again
// after another card is a new tap however soon it comes.
func (r *runner) read(uid []byte) {
	now := r.deps.Clock.Now()
	id := strings.ToUpper(hex.EncodeToString(uid))
	held := id == r.last && now.Sub(r.lastAt) < r.cfg.DedupWindow
	r.last, r.lastAt = id, now
	if held {
		return
	}
	r.log.Debug("card tap", "uid", id)
	if r.deps.OnTap != nil {
		r.deps.OnTap(Tap{Reader: r.cfg.Name, Terminal: r.cfg.Terminal, UID: id, Time: now})
	}
}
