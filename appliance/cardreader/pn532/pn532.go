// Package pn532 drives an NXP PN532 NFC controller over its HSU (UART) host
// link, as the PN532 User Manual (UM0701-02) describes: the HSU wake-up
// preamble, SAMConfiguration in normal mode, GetFirmwareVersion,
// RFConfiguration (MaxRetries) and InListPassiveTarget for ISO/IEC 14443
// type A targets at 106 kbps, reporting 4-, 7- and 10-byte UIDs.
//
// The frame codec lives in the frame subpackage; this package is the
// command layer. A Device owns a port (anything that reads and writes
// bytes: a serial port, a pty, a pipe) and talks to it with the rules of
// the host link: every command is acknowledged by an ACK frame before its
// response; a response with a bad checksum is asked for again with a NACK;
// an application-level error frame makes the command be sent again; a
// missing ACK or response is a timeout, measured on the injected clock.
//
// Waiting for a card: the driver asks for infinite passive-activation
// retries, so the chip answers InListPassiveTarget only when a card enters
// the field. After Options.PollTimeout without a card the driver aborts the
// command with an ACK frame (as the manual allows) and sends it again; the
// ACK of that new command proves the reader is still alive. When a command
// is not acknowledged the driver re-initialises the chip once (wake-up and
// SAMConfiguration: what a chip that was reset needs) before giving up.
package pn532

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kinline/kinline/appliance/cardreader/pn532/frame"
	"github.com/kinline/kinline/shared/clock"
)

// Command codes (host to PN532); the response code is the command code + 1.
const (
	CmdGetFirmwareVersion  = 0x02
	CmdSAMConfiguration    = 0x14
	CmdRFConfiguration     = 0x32
	CmdInListPassiveTarget = 0x4A
	CmdInRelease           = 0x52
)

// BrTy106A is InListPassiveTarget's baud rate and modulation for
// ISO/IEC 14443 type A at 106 kbps.
const BrTy106A = 0x00

// RFConfiguration item MaxRetries.
const CfgItemMaxRetries = 0x05

// DefaultBaud is the PN532's HSU default speed.
const DefaultBaud = 115200

// Wakeup is the HSU wake-up preamble the driver sends before the first
// command: 0x55 wakes the chip from power-down and the zeros give it time
// to start its oscillator before the frame arrives.
var Wakeup = []byte{0x55, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// Errors of the command layer.
var (
	ErrNoAck       = errors.New("pn532: command not acknowledged")
	ErrTimeout     = errors.New("pn532: no response")
	ErrApplication = errors.New("pn532: application-level error frame")
	ErrChecksum    = errors.New("pn532: response still corrupted after NACKs")
	ErrPort        = errors.New("pn532: port failed")
	ErrResponse    = errors.New("pn532: malformed response")
	// ErrGarbled means bytes that are no frame arrived while a response
	// was awaited, and then the line fell silent.
	ErrGarbled = errors.New("pn532: unreadable response")
)

// Options tunes a Device. The zero value gives the defaults.
type Options struct {
	// AckTimeout bounds the wait for a command's ACK (default 1 s; the chip
	// answers within a few milliseconds).
	AckTimeout time.Duration
	// ResponseTimeout bounds the wait for a response after its ACK
	// (default 1 s), except for InListPassiveTarget.
	ResponseTimeout time.Duration
	// PollTimeout is how long InListPassiveTarget waits for a card before
	// it is aborted and sent again (default 5 s). It is also how often an
	// idle reader is checked for life.
	PollTimeout time.Duration
	// PollInterval is the pause after a card was read before the next
	// read (default 50 ms). A card presented right after another one was
	// read waits this long at most; a card held on the reader is read
	// again about this often (one short exchange each time).
	PollInterval time.Duration
	// IdleInterval (default 100 ms) is the least time from one poll to the
	// next when the reader answers "no card" at once instead of holding
	// the poll until a card comes (as PN532 clones and readers that ignore
	// the retry setting do), so that such a reader is not polled thousands
	// of times a second. It bounds the delay such a reader adds to a tap.
	IdleInterval time.Duration
	// Retries is how many times a response is NACKed, and a command sent
	// again after an error frame, before giving up (default 3).
	Retries int
	// QuietTime (default 50 ms) is how long the line must stay silent after
	// bytes that are no frame (a corrupted length byte, line noise, a frame
	// cut short) before the driver acts on them: it NACKs a command's
	// response, or aborts a card poll and polls again, instead of waiting
	// out the response timeout. A whole frame at 115200 baud takes under
	// 25 ms, so a silence that long inside one means it is broken.
	QuietTime time.Duration
}

func (o *Options) defaults() {
	if o.AckTimeout <= 0 {
		o.AckTimeout = time.Second
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = time.Second
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 5 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.IdleInterval <= 0 {
		o.IdleInterval = 100 * time.Millisecond
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.QuietTime <= 0 {
		o.QuietTime = 50 * time.Millisecond
	}
}

// Firmware is GetFirmwareVersion's answer. IC is 0x32 for a PN532.
type Firmware struct{ IC, Ver, Rev, Support byte }

func (f Firmware) String() string {
	return fmt.Sprintf("PN5%02X v%d.%d support %02X", f.IC, f.Ver, f.Rev, f.Support)
}

// Device is a PN532 on a port. Its methods must not be called concurrently.
type Device struct {
	w    io.Writer
	clk  clock.Clock
	log  *slog.Logger
	opt  Options
	rx   chan []byte
	rerr error // set before rx is closed
	done chan struct{}
	dec  frame.Decoder
}

// New returns a Device on port and starts a goroutine that reads the port
// until a read fails or Close is called. Closing the port is the caller's
// job (and is what unblocks that goroutine's pending read).
func New(port io.ReadWriter, clk clock.Clock, log *slog.Logger, opt Options) *Device {
	opt.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{w: port, clk: clk, log: log, opt: opt, rx: make(chan []byte, 16), done: make(chan struct{})}
	go d.readLoop(port)
	return d
}

// Close stops delivering received bytes. It does not close the port.
func (d *Device) Close() {
	select {
	case <-d.done:
	default:
		close(d.done)
	}
}

func (d *Device) readLoop(r io.Reader) {
	zero := 0
	for {
		buf := make([]byte, 512)
		n, err := r.Read(buf)
		if n > 0 {
			zero = 0
			select {
			case d.rx <- buf[:n]:
			case <-d.done:
				return
			}
		} else if err == nil {
			if zero++; zero > 100 {
				err = io.ErrNoProgress
			}
		}
		if err != nil {
			d.rerr = err
			close(d.rx)
			return
		}
	}
}

// timer returns a channel closed after dur on the device's clock.
func (d *Device) timer(dur time.Duration) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	t := d.clk.AfterFunc(dur, func() { close(ch) })
	return ch, func() { t.Stop() }
}

var errExpired = errors.New("pn532: timer expired")

// nextFrame returns the next decodable frame, skipping garbage and false
// start codes. A frame with a bad data checksum is returned with
// frame.ErrDataChecksum. With garbled set, bytes that are no frame (skipped
// garbage, a false start code, a frame that stops short) followed by
// Options.QuietTime of silence return ErrGarbled, so that the caller can
// ask again at once rather than wait for expired.
func (d *Device) nextFrame(ctx context.Context, expired <-chan struct{}, garbled bool) (frame.Frame, error) {
	skipped := d.dec.Skipped
	var quiet <-chan struct{}
	stopQuiet := func() {}
	defer func() { stopQuiet() }()
	for {
		f, err := d.dec.Next()
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, frame.ErrDataChecksum):
			return f, err
		case errors.Is(err, frame.ErrIncomplete):
			// One byte held back is the previous frame's postamble (or
			// the first byte of a start code): not yet a sign of trouble.
			if garbled && quiet == nil && (d.dec.Skipped != skipped || d.dec.Buffered() > 1) {
				quiet, stopQuiet = d.timer(d.opt.QuietTime)
			}
			select {
			case b, ok := <-d.rx:
				if !ok {
					return frame.Frame{}, fmt.Errorf("%w: %w", ErrPort, d.rerr)
				}
				d.dec.Write(b)
				stopQuiet()
				quiet, stopQuiet = nil, func() {}
			case <-quiet:
				select {
				case b, ok := <-d.rx: // bytes won the race with the timer
					if !ok {
						return frame.Frame{}, fmt.Errorf("%w: %w", ErrPort, d.rerr)
					}
					d.dec.Write(b)
					quiet, stopQuiet = nil, func() {}
					continue
				default:
				}
				n := d.dec.Buffered() + d.dec.Skipped - skipped
				d.dec.Reset()
				return frame.Frame{}, fmt.Errorf("%w: %d bytes that are no frame", ErrGarbled, n)
			case <-expired:
				return frame.Frame{}, errExpired
			case <-ctx.Done():
				return frame.Frame{}, ctx.Err()
			}
		default:
			d.log.Debug("pn532: resynchronising", "err", err)
		}
	}
}

func (d *Device) write(b []byte) error {
	if _, err := d.w.Write(b); err != nil {
		return fmt.Errorf("%w: write: %w", ErrPort, err)
	}
	return nil
}

// Exchange sends command cmd with params and returns the response data
// after the response code. respTimeout 0 means Options.ResponseTimeout. A
// response timeout is returned as ErrTimeout without aborting the command.
func (d *Device) Exchange(ctx context.Context, cmd byte, params []byte, respTimeout time.Duration) ([]byte, error) {
	return d.exchange(ctx, nil, cmd, params, respTimeout)
}

func (d *Device) exchange(ctx context.Context, prefix []byte, cmd byte, params []byte, respTimeout time.Duration) ([]byte, error) {
	if respTimeout <= 0 {
		respTimeout = d.opt.ResponseTimeout
	}
	req, err := frame.Command(cmd, params...)
	if err != nil {
		return nil, err
	}
	if prefix != nil {
		req = append(append([]byte{}, prefix...), req...)
	}
	for attempt := 0; ; attempt++ {
		resp, err := d.exchangeOnce(ctx, req, cmd, respTimeout)
		if errors.Is(err, ErrApplication) && attempt < d.opt.Retries {
			d.log.Warn("pn532: error frame, sending the command again", "cmd", fmt.Sprintf("%02X", cmd), "attempt", attempt+1)
			continue
		}
		return resp, err
	}
}

func (d *Device) exchangeOnce(ctx context.Context, req []byte, cmd byte, respTimeout time.Duration) ([]byte, error) {
	if err := d.write(req); err != nil {
		return nil, err
	}
	ackExpired, stopAck := d.timer(d.opt.AckTimeout)
	defer stopAck()
waitAck:
	for {
		f, err := d.nextFrame(ctx, ackExpired, false)
		switch {
		case errors.Is(err, errExpired):
			return nil, fmt.Errorf("%w: command %02X after %v", ErrNoAck, cmd, d.opt.AckTimeout)
		case errors.Is(err, frame.ErrDataChecksum):
			d.log.Debug("pn532: dropping corrupted stale frame while waiting for ACK")
			continue
		case err != nil:
			return nil, err
		}
		switch f.Kind {
		case frame.KindACK:
			break waitAck
		case frame.KindError:
			return nil, fmt.Errorf("%w: command %02X", ErrApplication, cmd)
		case frame.KindInfo:
			// A response to an aborted command that crossed our new one.
			d.log.Debug("pn532: dropping stale frame while waiting for ACK", "tfi", f.TFI, "len", len(f.Data))
		}
	}
	respExpired, stopResp := d.timer(respTimeout)
	defer stopResp()
	nacks := 0
	for {
		f, err := d.nextFrame(ctx, respExpired, true)
		switch {
		case errors.Is(err, errExpired):
			return nil, fmt.Errorf("%w: command %02X after %v", ErrTimeout, cmd, respTimeout)
		case errors.Is(err, ErrGarbled) && cmd == CmdInListPassiveTarget:
			// A NACK could bring back an older card's answer if the
			// noise was not this poll's answer: the caller aborts and
			// polls afresh instead.
			return nil, fmt.Errorf("command %02X: %w", cmd, err)
		case errors.Is(err, frame.ErrDataChecksum), errors.Is(err, ErrGarbled):
			if nacks >= d.opt.Retries {
				return nil, fmt.Errorf("%w: command %02X: %w", ErrChecksum, cmd, err)
			}
			nacks++
			d.log.Warn("pn532: corrupted response, sending NACK", "cmd", fmt.Sprintf("%02X", cmd), "nack", nacks)
			if err := d.write(frame.NACK); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		switch f.Kind {
		case frame.KindError:
			return nil, fmt.Errorf("%w: command %02X", ErrApplication, cmd)
		case frame.KindInfo:
			if f.TFI == frame.TFIPN532 && len(f.Data) > 0 && f.Data[0] == cmd+1 {
				return f.Data[1:], nil
			}
			d.log.Debug("pn532: dropping unexpected frame", "tfi", f.TFI, "len", len(f.Data))
		}
	}
}

// Init wakes the chip up (HSU wake-up preamble), leaves LowVbat with
// SAMConfiguration in normal mode, reads the firmware version and asks for
// infinite passive-activation retries. It is also how a reset chip is
// brought back.
func (d *Device) Init(ctx context.Context) (Firmware, error) {
	// Normal mode, virtual-card timeout 20*50 ms (unused in normal mode), IRQ on.
	if _, err := d.exchange(ctx, Wakeup, CmdSAMConfiguration, []byte{0x01, 0x14, 0x01}, 0); err != nil {
		return Firmware{}, fmt.Errorf("SAMConfiguration: %w", err)
	}
	r, err := d.Exchange(ctx, CmdGetFirmwareVersion, nil, 0)
	if err != nil {
		return Firmware{}, fmt.Errorf("GetFirmwareVersion: %w", err)
	}
	if len(r) != 4 {
		return Firmware{}, fmt.Errorf("GetFirmwareVersion: %w: % X", ErrResponse, r)
	}
	fw := Firmware{IC: r[0], Ver: r[1], Rev: r[2], Support: r[3]}
	if fw.IC != 0x32 {
		d.log.Warn("pn532: not a PN532", "firmware", fw.String())
	}
	// MxRtyATR 0xFF, MxRtyPSL 0x01, MxRtyPassiveActivation 0xFF (infinite).
	if _, err := d.Exchange(ctx, CmdRFConfiguration, []byte{CfgItemMaxRetries, 0xFF, 0x01, 0xFF}, 0); err != nil {
		return Firmware{}, fmt.Errorf("RFConfiguration: %w", err)
	}
	return fw, nil
}

// Target is a type A target found by InListPassiveTarget at 106 kbps.
type Target struct {
	Tg      byte    // logical number the chip gave the target
	SensRes [2]byte // ATQA
	SelRes  byte    // SAK
	UID     []byte  // NFCID1: 4, 7 or 10 bytes
	ATS     []byte  // only for ISO/IEC 14443-4 targets (SelRes bit 6 set)
}

// ParseTargets parses InListPassiveTarget's response data for BrTy 106A
// (NbTg followed by the targets' data).
func ParseTargets(data []byte) ([]Target, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("%w: empty InListPassiveTarget response", ErrResponse)
	}
	nb := int(data[0])
	if nb > 2 {
		return nil, fmt.Errorf("%w: NbTg %d", ErrResponse, nb)
	}
	p := data[1:]
	out := make([]Target, 0, nb)
	for range nb {
		if len(p) < 5 {
			return nil, fmt.Errorf("%w: short target data", ErrResponse)
		}
		t := Target{Tg: p[0], SensRes: [2]byte{p[1], p[2]}, SelRes: p[3]}
		l := int(p[4])
		if l != 4 && l != 7 && l != 10 {
			return nil, fmt.Errorf("%w: NFCID1 length %d", ErrResponse, l)
		}
		p = p[5:]
		if len(p) < l {
			return nil, fmt.Errorf("%w: short NFCID1", ErrResponse)
		}
		t.UID = append([]byte(nil), p[:l]...)
		p = p[l:]
		if t.SelRes&0x20 != 0 && len(p) > 0 {
			tl := int(p[0]) // ATS length byte counts itself
			if tl < 1 || tl > len(p) {
				return nil, fmt.Errorf("%w: ATS length %d", ErrResponse, tl)
			}
			t.ATS = append([]byte(nil), p[:tl]...)
			p = p[tl:]
		}
		out = append(out, t)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrResponse, len(p))
	}
	return out, nil
}

// ReadTarget sends InListPassiveTarget (MaxTg 1, 106 kbps type A) and waits
// up to Options.PollTimeout for a card. Without a card it aborts the
// command with an ACK frame and returns found false. An answer that cannot
// be read (ErrGarbled) is aborted the same way, at once, and also returns
// found false: polling again reads the card afresh.
func (d *Device) ReadTarget(ctx context.Context) (t Target, found bool, err error) {
	t, found, _, err = d.readTarget(ctx)
	return t, found, err
}

// readTarget is ReadTarget; answered reports that the chip itself answered
// (a target list, possibly empty, or malformed target data) rather than the
// poll being aborted.
func (d *Device) readTarget(ctx context.Context) (t Target, found, answered bool, err error) {
	r, err := d.Exchange(ctx, CmdInListPassiveTarget, []byte{0x01, BrTy106A}, d.opt.PollTimeout)
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrGarbled) {
		if errors.Is(err, ErrGarbled) {
			d.log.Warn("pn532: unreadable answer to a card poll, polling again", "err", err)
		}
		if err := d.write(frame.ACK); err != nil {
			return Target{}, false, false, err
		}
		return Target{}, false, false, nil
	}
	if err != nil {
		return Target{}, false, false, err
	}
	ts, err := ParseTargets(r)
	if err != nil || len(ts) == 0 {
		return Target{}, false, true, err
	}
	return ts[0], true, true, nil
}

// Poll reads cards until ctx is done or the reader fails, calling onTarget
// for every read (a card held on the reader is reported again after every
// PollInterval: deduplication is the caller's job). A reader that answers
// "no card" at once (a clone, or a reader that ignores the infinite-retry
// setting) is polled at most once per IdleInterval. A command that is not
// acknowledged, or that fails after its retries, triggers one
// re-initialisation; a second failure in a row is returned. Port errors are
// returned at once.
func (d *Device) Poll(ctx context.Context, onTarget func(Target)) error {
	reinit := false
	for {
		start := d.clk.Now()
		t, found, answered, err := d.readTarget(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrPort):
			return err
		case errors.Is(err, ErrResponse):
			d.log.Warn("pn532: dropping malformed target data", "err", err)
		case err != nil:
			if reinit {
				return fmt.Errorf("pn532: reader not answering: %w", err)
			}
			reinit = true
			d.log.Warn("pn532: re-initialising the reader", "err", err)
			fw, ierr := d.Init(ctx)
			if ierr != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("pn532: re-initialisation failed: %w", ierr)
			}
			d.log.Info("pn532: reader re-initialised", "firmware", fw.String())
			continue
		default:
			reinit = false
		}
		pause := time.Duration(0)
		switch {
		case found:
			onTarget(t)
			pause = d.opt.PollInterval
		case answered:
			pause = d.opt.IdleInterval - d.clk.Now().Sub(start)
		}
		if pause <= 0 {
			continue
		}
		wait, stop := d.timer(pause)
		select {
		case <-wait:
		case <-ctx.Done():
			stop()
			return ctx.Err()
		}
	}
}
