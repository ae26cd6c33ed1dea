// Package readersim emulates Kinline's IC-card readers on pseudo-terminals, byte
// for byte as the hardware talks, so that the real drivers
// (appliance/cardreader/pn532 and em4100) can be run and tested without
// hardware.
//
// A Sim creates a pty and a symlink (Options.Link) to its slave side; the
// driver opens the symlink like a serial device. The pty is put in raw mode
// at once, so no byte is echoed or translated.
//
//   - pn532: a PN532 on its HSU link. It starts powered down and ignores
//     bytes until a 0x55 wake-up byte; answers every valid command frame
//     with an ACK and then its response (GetFirmwareVersion: PN532 v1.6,
//     SAMConfiguration, RFConfiguration, InListPassiveTarget for 106 kbps
//     type A, InRelease); resends its last response on NACK; drops a
//     pending InListPassiveTarget when the host sends an ACK (abort). With
//     infinite passive-activation retries (MxRtyPassiveActivation 0xFF, the
//     power-on default) InListPassiveTarget is answered only when a card is
//     presented, as the chip does; with a finite count it answers "no
//     target" after the retries. RF commands before SAMConfiguration get
//     the error frame. Unknown commands get the error frame.
//   - em4100: a 125 kHz reader that sends STX, 10 hex digits, 2 hex digits
//     of XOR checksum, ETX for the presented card every RepeatEvery, as
//     real readers repeat while a card is in the field.
//
// Test hooks: CorruptNext (bad checksums), CorruptLengthNext (bad PN532
// length bytes), Clone (a PN532 clone that answers polls at once),
// ErrorFrameNext (PN532 error frames), Reset (a PN532 power glitch), Mute
// (a reader that stops answering), WriteRaw (line noise), Stats (what the
// sim saw).
//
// The kinline-readersim binary (tools/readersim) wraps a Sim and a control
// socket; see Serve and Exec for the command language.
package readersim

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Drivers a Sim can emulate.
const (
	DriverPN532  = "pn532"
	DriverEM4100 = "em4100"
)

// Errors of the simulator.
var (
	ErrOptions   = errors.New("readersim: bad options")
	ErrUID       = errors.New("readersim: bad card UID")
	ErrUnplugged = errors.New("readersim: reader unplugged")
	ErrClosed    = errors.New("readersim: closed")
)

// Options configures a Sim.
type Options struct {
	Driver string // "pn532" or "em4100"
	// Link is the symlink created to the pty's slave (the path a driver
	// opens). Empty: no symlink, Path is the /dev/pts/N name.
	Link string
	// RepeatEvery is the em4100 frame repetition period (default 250 ms).
	RepeatEvery time.Duration
	Log         *slog.Logger // nil = discard
}

// Stats is what the simulated reader has seen and done.
type Stats struct {
	Commands    map[byte]int // PN532 command frames received, by command code
	Wakeups     int          // PN532 wake-ups from power-down
	NACKs       int          // PN532 NACKs received
	Aborts      int          // PN532 pending commands aborted by an ACK
	BadFrames   int          // PN532 host frames with bad checksums
	ErrorFrames int          // PN532 error frames sent
	Targets     int          // PN532 InListPassiveTarget answers with a card
	Extended    int          // PN532 responses sent as extended frames
	Frames      int          // em4100 card frames sent
	Plugs       int          // ptys created (1 + replugs)
}

// Sim is one simulated reader. Its methods are safe for concurrent use.
type Sim struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	closed  bool
	line    *line // nil while unplugged
	card    []byte
	stats   Stats
	corrupt int
	errNext int
	extNext int
	muted   bool
	chip    pn532Chip
	removeT *time.Timer
	faults  faults // see faults.go
}

// line is one plugged-in pty.
type line struct {
	master, slave *os.File
	path          string
	done          chan struct{}
	wg            sync.WaitGroup
}

// New creates the simulated reader, plugged in.
func New(opt Options) (*Sim, error) {
	switch opt.Driver {
	case DriverPN532, DriverEM4100:
	default:
		return nil, fmt.Errorf("%w: unknown driver %q", ErrOptions, opt.Driver)
	}
	if opt.RepeatEvery <= 0 {
		opt.RepeatEvery = 250 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &Sim{opt: opt, log: opt.Log.With("sim", opt.Driver)}
	s.stats.Commands = map[byte]int{}
	if err := s.Replug(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the path a driver opens: Options.Link, or the pty slave's name.
func (s *Sim) Path() string {
	if s.opt.Link != "" {
		return s.opt.Link
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line == nil {
		return ""
	}
	return s.line.path
}

// openPTY opens a pty in raw mode with a pollable master (so that Close
// interrupts a pending Read and writes can have deadlines).
func openPTY() (master, slave *os.File, err error) {
	m, sl, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("readersim: open pty: %w", err)
	}
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err == nil {
		unix.CloseOnExec(fd)
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		sl.Close()
		return nil, nil, fmt.Errorf("readersim: pty master: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t, err := unix.IoctlGetTermios(int(sl.Fd()), unix.TCGETS)
	if err == nil {
		// cfmakeraw
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(int(sl.Fd()), unix.TCSETS, t)
	}
	if err != nil {
		master.Close()
		sl.Close()
		return nil, nil, fmt.Errorf("readersim: raw mode: %w", err)
	}
	return master, sl, nil
}

// Replug plugs the reader in (again): a new pty, the link re-pointed to it
// atomically, a freshly powered chip. It is a no-op while plugged in.
func (s *Sim) Replug() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.line != nil {
		return nil
	}
	m, sl, err := openPTY()
	if err != nil {
		return err
	}
	l := &line{master: m, slave: sl, path: sl.Name(), done: make(chan struct{})}
	if s.opt.Link != "" {
		tmp := s.opt.Link + ".tmp"
		os.Remove(tmp)
		if err := os.MkdirAll(filepath.Dir(s.opt.Link), 0o755); err != nil {
			m.Close()
			sl.Close()
			return fmt.Errorf("readersim: link dir: %w", err)
		}
		if err := os.Symlink(l.path, tmp); err != nil {
			m.Close()
			sl.Close()
			return fmt.Errorf("readersim: link: %w", err)
		}
		if err := os.Rename(tmp, s.opt.Link); err != nil {
			m.Close()
			sl.Close()
			return fmt.Errorf("readersim: link: %w", err)
		}
	}
	s.line = l
	s.stats.Plugs++
	s.chip = pn532Chip{}
	l.wg.Add(1)
	go s.readLoop(l)
	if s.opt.Driver == DriverEM4100 {
		l.wg.Add(1)
		go s.repeatLoop(l)
	}
	s.log.Info("reader plugged in", "path", l.path, "link", s.opt.Link)
	return nil
}

// Unplug closes the pty and removes the link: the driver sees the device
// vanish. The presented card, if any, stays presented.
func (s *Sim) Unplug() error {
	s.mu.Lock()
	l := s.line
	s.line = nil
	if l != nil && s.opt.Link != "" {
		os.Remove(s.opt.Link)
	}
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	close(l.done)
	l.master.Close()
	l.slave.Close()
	l.wg.Wait()
	s.log.Info("reader unplugged", "path", l.path)
	return nil
}

// Close unplugs the reader for good.
func (s *Sim) Close() error {
	err := s.Unplug()
	s.mu.Lock()
	s.closed = true
	if s.removeT != nil {
		s.removeT.Stop()
	}
	s.mu.Unlock()
	return err
}

func (s *Sim) checkUID(uid []byte) error {
	switch s.opt.Driver {
	case DriverPN532:
		if n := len(uid); n != 4 && n != 7 && n != 10 {
			return fmt.Errorf("%w: a type A UID has 4, 7 or 10 bytes, not %d", ErrUID, n)
		}
	case DriverEM4100:
		if len(uid) != 5 {
			return fmt.Errorf("%w: an EM4100 id has 5 bytes, not %d", ErrUID, len(uid))
		}
	}
	return nil
}

// Present puts a card in the reader's field until Remove.
func (s *Sim) Present(uid []byte) error {
	if err := s.checkUID(uid); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removeT != nil {
		s.removeT.Stop()
		s.removeT = nil
	}
	s.card = bytes.Clone(uid)
	s.log.Info("card presented", "uid", fmt.Sprintf("%X", uid))
	if s.line != nil {
		switch s.opt.Driver {
		case DriverPN532:
			s.answerPendingLocked()
		case DriverEM4100:
			s.sendEM4100Locked()
		}
	}
	return nil
}

// Remove takes the card out of the field.
func (s *Sim) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removeT != nil {
		s.removeT.Stop()
		s.removeT = nil
	}
	if s.card != nil {
		s.log.Info("card removed")
	}
	s.card = nil
}

// Tap presents the card for hold (real time), then removes it.
func (s *Sim) Tap(uid []byte, hold time.Duration) error {
	if err := s.Present(uid); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *time.Timer
	t = time.AfterFunc(hold, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.removeT == t {
			s.card, s.removeT = nil, nil
		}
	})
	s.removeT = t
	return nil
}

// CorruptNext makes the next n frames the reader sends carry a bad
// checksum (PN532: the DCS of response frames, including those resent on
// NACK; EM4100: the XOR checksum).
func (s *Sim) CorruptNext(n int) {
	s.mu.Lock()
	s.corrupt = n
	s.mu.Unlock()
}

// ErrorFrameNext makes the PN532 answer the next n command frames with an
// ACK and the application-level error frame instead of their response.
func (s *Sim) ErrorFrameNext(n int) {
	s.mu.Lock()
	s.errNext = n
	s.mu.Unlock()
}

// ExtendedNext makes the PN532 send its next n responses as extended
// information frames (the layout the chip uses for long payloads), so
// that a driver's handling of that layout is exercised on the real line.
func (s *Sim) ExtendedNext(n int) {
	s.mu.Lock()
	s.extNext = n
	s.mu.Unlock()
}

// Reset simulates a PN532 reset (power glitch): the chip forgets its
// configuration and pending command and powers down until woken up.
func (s *Sim) Reset() {
	s.mu.Lock()
	s.chip = pn532Chip{}
	s.mu.Unlock()
}

// Mute makes the reader ignore everything and send nothing (on) or work
// again (off), as a reader that hangs or loses power behind its USB serial
// adapter.
func (s *Sim) Mute(on bool) {
	s.mu.Lock()
	s.muted = on
	if on {
		s.chip = pn532Chip{}
	}
	s.mu.Unlock()
}

// WriteRaw sends b on the line as the reader would (e.g. noise).
func (s *Sim) WriteRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line == nil {
		return ErrUnplugged
	}
	return s.writeLocked(b)
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Commands = make(map[byte]int, len(s.stats.Commands))
	for k, v := range s.stats.Commands {
		st.Commands[k] = v
	}
	return st
}

// writeLocked writes to the line; bytes nobody reads for a second are lost
// (the pty buffer is full: nobody has the device open), as on a real UART.
func (s *Sim) writeLocked(b []byte) error {
	if s.line == nil {
		return ErrUnplugged
	}
	s.line.master.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := s.line.master.Write(b); err != nil {
		s.log.Debug("write dropped", "err", err)
		return fmt.Errorf("readersim: write: %w", err)
	}
	return nil
}

func (s *Sim) readLoop(l *line) {
	defer l.wg.Done()
	buf := make([]byte, 1024)
	for {
		n, err := l.master.Read(buf)
		if n > 0 {
			s.mu.Lock()
			if s.line == l && !s.muted && s.opt.Driver == DriverPN532 {
				s.feedPN532Locked(buf[:n])
			}
			s.mu.Unlock()
		}
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			// EIO: no slave open (cannot happen while we hold ours) or a
			// transient condition: back off briefly rather than spin.
			s.log.Debug("pty read", "err", err)
			select {
			case <-l.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
