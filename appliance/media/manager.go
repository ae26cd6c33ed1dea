package media

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
)

// Config configures a Manager. The zero value works for tests: RTP on
// 127.0.0.1, ports 16384-32766, no recording directory.
type Config struct {
	// BindIP is the address RTP sockets bind to (default 127.0.0.1). It is
	// also the address to put in SDP.
	BindIP netip.Addr
	// PortMin and PortMax bound the RTP ports (default 16384 and 32767).
	// Only even ports are used, one per leg; RTCP (port+1) is not opened
	// and RTCP packets arriving on the RTP port are dropped.
	PortMin, PortMax int
	// RecordDir is where <callID>.wav (G.711) or <callID>.ogg (Opus) is
	// written, with ".enc" appended when RecordKey is set (created if
	// missing). While a call is recorded the name ends in ".part"; the file
	// is renamed once finalised, so a file without it is always complete.
	RecordDir string
	// Clock places packets of recorded calls in time (default clock.Real).
	Clock clock.Clock
	// RecordKey, when set (recstore.LoadKey), encrypts recordings at rest:
	// they are written through recstore as <callID>.wav.enc or
	// <callID>.ogg.enc instead of plain .wav/.ogg (see RecordingPath).
	RecordKey recstore.Key
}

// perLegRxDefault is every new Manager's perLegRx: set only by the tests
// (main_test.go), to run the whole suite in goroutine mode too.
var perLegRxDefault bool

// Default port range.
const (
	DefaultPortMin = 16384
	DefaultPortMax = 32767
)

// Manager allocates RTP ports and creates sessions. It is safe for
// concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock

	// perLegRx makes every leg's socket a package net one read by a
	// goroutine of its own, as on systems without epoll, instead of the
	// shared event loops (tests compare the two).
	perLegRx bool

	mu     sync.Mutex
	used   map[int]bool
	next   int // next port to try
	active int
	// sessions are those open, totals the counts of those closed
	// (metrics.go); jitter is nil until RegisterMetrics.
	sessions map[*Session]struct{}
	totals   mediaTotals
	jitter   prometheus.Histogram
}

// NewManager validates cfg, applies defaults and creates RecordDir.
func NewManager(cfg Config, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !cfg.BindIP.IsValid() {
		cfg.BindIP = netip.MustParseAddr("127.0.0.1")
	}
	cfg.BindIP = cfg.BindIP.Unmap()
	if cfg.PortMin == 0 && cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = DefaultPortMin, DefaultPortMax
	}
	if cfg.PortMin%2 == 1 {
		cfg.PortMin++
	}
	if cfg.PortMin < 1 || cfg.PortMax > 65535 || cfg.PortMin > cfg.PortMax {
		return nil, fmt.Errorf("%w: port range %d-%d", ErrConfig, cfg.PortMin, cfg.PortMax)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.RecordDir != "" {
		if err := os.MkdirAll(cfg.RecordDir, 0o750); err != nil {
			return nil, fmt.Errorf("%w: record dir: %w", ErrConfig, err)
		}
	}
	return &Manager{cfg: cfg, log: log, clk: cfg.Clock, used: map[int]bool{}, sessions: map[*Session]struct{}{}, next: cfg.PortMin, perLegRx: perLegRxDefault}, nil
}

// Config returns the configuration in effect, defaults applied.
func (m *Manager) Config() Config { return m.cfg }

// RecordingPath is where the recording of callID in format (a
// Result.Format / wire.RecordingRef.Format) is, given whether this
// manager encrypts. Open it with recstore.Open when Config.RecordKey is
// set, os.Open otherwise.
func (m *Manager) RecordingPath(callID, format string) string {
	return filepath.Join(m.cfg.RecordDir, recordingName(callID, format, !m.cfg.RecordKey.IsZero()))
}

// recordingName is the file name of a recording.
func recordingName(callID, format string, encrypted bool) string {
	name := callID + ".wav"
	if format == FormatOggOpus {
		name = callID + ".ogg"
	}
	if encrypted {
		name += ".enc"
	}
	return name
}

// Active is the number of sessions created and not yet closed.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active
}

// NewSession opens one RTP socket per leg. When record is false (a
// privileged call) the session never creates a file nor keeps audio beyond
// the packet being relayed.
func (m *Manager) NewSession(callID string, record bool) (*Session, error) {
	if !validCallID(callID) {
		return nil, fmt.Errorf("%w: %q", ErrCallID, callID)
	}
	if record && m.cfg.RecordDir == "" {
		return nil, ErrNoRecordDir
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.allocLocked()
	if err != nil {
		return nil, err
	}
	b, err := m.allocLocked()
	if err != nil {
		m.releaseLocked(a)
		return nil, err
	}
	m.active++
	s := newSession(m, callID, record, a, b)
	m.sessions[s] = struct{}{}
	return s, nil
}

// allocLocked binds the next free even port of the range.
func (m *Manager) allocLocked() (rtpSocket, error) {
	span := (m.cfg.PortMax-m.cfg.PortMin)/2 + 1
	for range span {
		port := m.next
		m.next += 2
		if m.next > m.cfg.PortMax {
			m.next = m.cfg.PortMin
		}
		if m.used[port] {
			continue
		}
		c, err := m.listenRTP(netip.AddrPortFrom(m.cfg.BindIP, uint16(port)))
		if err != nil {
			m.log.Debug("media: port busy", "port", port, "err", err)
			continue
		}
		m.used[port] = true
		return c, nil
	}
	return nil, ErrNoPorts
}

// releaseLocked closes c (if still open) and returns its port.
func (m *Manager) releaseLocked(c rtpSocket) {
	port := int(c.localAddr().Port())
	_ = c.close() // may already be closed by the session
	delete(m.used, port)
}

// release returns a closed session's ports.
func (m *Manager) release(conns ...rtpSocket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range conns {
		m.releaseLocked(c)
	}
	m.active--
}

// validCallID accepts ids safe as a file name: 1-128 of [A-Za-z0-9._@-],
// not starting with a dot.
func validCallID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == '@':
		default:
			return false
		}
	}
	return true
}
