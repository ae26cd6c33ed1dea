// Package mqttproxy is a fault-injecting TCP proxy between MQTT clients and
// a broker, for testing that Kinline's sync survives a misbehaving network.
//
// It splits both byte streams into MQTT 3.1.1 packets (fixed header and
// remaining-length varint; the variable header and payload are never
// decoded) and acts per packet. With the probabilities of Config.Up
// (client to broker) and Config.Down (broker to client) it
//
//   - duplicates a PUBLISH: the copy follows the original at once and, for
//     QoS 1 and 2, carries the DUP flag as a real resend would;
//   - reorders PUBLISH packets: it holds one back and sends it right after
//     the next PUBLISH, or after Config.HoldMax when none comes;
//   - cuts the connection (both sides closed, the packet and any held one
//     lost) as a network failure would.
//
// SetOffline takes the whole link down for as long as wanted: connections
// are cut and new ones are closed as soon as accepted, before anything
// reaches the broker, as during a network outage (the broker keeps the
// clients' sessions and queues for them).
//
// Every other packet passes through untouched, in order; a held PUBLISH is
// flushed before a DISCONNECT. The faults are deterministic for a seed:
// each direction of each connection draws from its own generator seeded
// with (Config.Seed, connection number, direction), so a given packet
// sequence always meets the same faults whatever the goroutine scheduling.
//
// The proxy speaks plain TCP: it must see MQTT packets, so it sits in front
// of a plaintext listener (tcp://). A stream it cannot split (TLS, garbage,
// a packet over Config.MaxPacketSize) ends that connection.
package mqttproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinline/kinline/shared/clock"
)

// Errors of the proxy and its packet splitter.
var (
	ErrShort     = errors.New("mqttproxy: incomplete packet")
	ErrMalformed = errors.New("mqttproxy: malformed MQTT packet")
	ErrTooLarge  = errors.New("mqttproxy: MQTT packet too large")
	ErrConfig    = errors.New("mqttproxy: bad config")
	ErrClosed    = errors.New("mqttproxy: closed")
	ErrStarted   = errors.New("mqttproxy: already started")
)

// Defaults for zero Config fields.
const (
	DefaultHoldMax     = 50 * time.Millisecond
	DefaultDialTimeout = 10 * time.Second
	// DefaultMaxPacketSize is the largest packet MQTT can express.
	DefaultMaxPacketSize = MaxRemainingLength + maxHeaderLen
)

// Faults are per-packet probabilities, each in [0, 1].
type Faults struct {
	// Duplicate is the probability that a PUBLISH is sent twice.
	Duplicate float64
	// Reorder is the probability that a PUBLISH is held back and sent
	// after the next one.
	Reorder float64
	// Drop is the probability, for each packet but CONNECT and CONNACK,
	// that the connection is cut instead of forwarding it.
	Drop float64
}

func (f Faults) validate() error {
	for _, p := range []float64{f.Duplicate, f.Reorder, f.Drop} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("%w: probability %v not in [0, 1]", ErrConfig, p)
		}
	}
	return nil
}

// Direction is one of the two byte streams of a proxied connection.
type Direction int

// Directions.
const (
	Up   Direction = 0 // client to broker
	Down Direction = 1 // broker to client
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// Config configures a Proxy.
type Config struct {
	// Listen is the proxy's TCP address; "" means 127.0.0.1:0 (a free
	// port, see Addr).
	Listen string
	// Upstream is the broker's host:port.
	Upstream string
	// Seed makes the faults reproducible.
	Seed uint64
	// Up applies to packets from the client to the broker, Down to those
	// from the broker to the client.
	Up, Down Faults
	// HoldMax bounds how long a PUBLISH held for reordering waits for a
	// successor; 0 means DefaultHoldMax.
	HoldMax time.Duration
	// MaxPacketSize bounds one packet, in bytes; a bigger one ends the
	// connection. 0 means DefaultMaxPacketSize.
	MaxPacketSize int
	// DialTimeout bounds connecting to Upstream; 0 means
	// DefaultDialTimeout.
	DialTimeout time.Duration
}

// Deps are the proxy's collaborators.
type Deps struct {
	// Clock times the reorder hold; nil means the wall clock.
	Clock clock.Clock
	// Log receives the proxy's logs; nil discards them.
	Log *slog.Logger
}

// DirStats counts what happened in one direction, over all connections.
type DirStats struct {
	Packets    int64 // packets read
	Publishes  int64 // PUBLISH packets read
	Duplicated int64 // PUBLISH packets sent twice
	Reordered  int64 // PUBLISH packets overtaken by their successor
	HoldExpiry int64 // held PUBLISH packets sent alone after HoldMax
	Cuts       int64 // connections cut by the Drop fault
}

// Stats counts what the proxy did.
type Stats struct {
	Connections int64 // client connections accepted
	Cuts        int64 // connections cut by Cut (and by SetOffline)
	Refused     int64 // connections closed at once while offline
	Up, Down    DirStats
}

type dirCounters struct {
	packets, publishes, duplicated, reordered, holdExpiry, cuts atomic.Int64
}

func (c *dirCounters) snapshot() DirStats {
	return DirStats{
		Packets: c.packets.Load(), Publishes: c.publishes.Load(), Duplicated: c.duplicated.Load(),
		Reordered: c.reordered.Load(), HoldExpiry: c.holdExpiry.Load(), Cuts: c.cuts.Load(),
	}
}

// Proxy is a fault-injecting MQTT proxy. Create it with New, start it with
// Start, stop it with Close.
type Proxy struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	faults  [2]Faults
	ln      net.Listener
	conns   map[*conn]struct{}
	nextID  uint64
	started bool
	closed  bool
	offline bool
	wg      sync.WaitGroup

	accepted atomic.Int64
	cuts     atomic.Int64
	refused  atomic.Int64
	dir      [2]dirCounters
}

// New checks cfg and returns a Proxy that is not listening yet.
func New(cfg Config, deps Deps) (*Proxy, error) {
	if cfg.Upstream == "" {
		return nil, fmt.Errorf("%w: no upstream broker address", ErrConfig)
	}
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil {
		return nil, fmt.Errorf("%w: upstream %q: %w", ErrConfig, cfg.Upstream, err)
	}
	if err := cfg.Up.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Down.validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.HoldMax <= 0 {
		cfg.HoldMax = DefaultHoldMax
	}
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	p := &Proxy{cfg: cfg, clk: deps.Clock, log: deps.Log, conns: map[*conn]struct{}{}}
	if p.clk == nil {
		p.clk = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.faults = [2]Faults{cfg.Up, cfg.Down}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Start opens the listener and proxies connections in the background.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.started {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("mqttproxy: listen %s: %w", p.cfg.Listen, err)
	}
	p.ln, p.started = ln, true
	p.wg.Add(1)
	go p.accept(ln)
	p.log.Info("mqtt proxy listening", "addr", ln.Addr().String(), "upstream", p.cfg.Upstream, "seed", p.cfg.Seed)
	return nil
}

// Addr returns the address the proxy listens on, "" before Start.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// SetFaults replaces the fault probabilities, from the next packet on.
func (p *Proxy) SetFaults(up, down Faults) error {
	if err := up.validate(); err != nil {
		return err
	}
	if err := down.validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.faults = [2]Faults{up, down}
	p.mu.Unlock()
	return nil
}

func (p *Proxy) faultsFor(d Direction) Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[d]
}

// Cut closes every proxied connection at once, as a network failure
// would, and returns how many there were. New connections are accepted.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
	p.cuts.Add(int64(len(cs)))
	if len(cs) > 0 {
		p.log.Info("mqtt proxy: connections cut", "count", len(cs))
	}
	return len(cs)
}

// SetOffline takes the link down (true) or brings it back (false). Going
// offline cuts every proxied connection (as Cut, counted in Stats.Cuts)
// and returns how many there were; while offline, each new connection is
// closed as soon as it is accepted, without dialling the broker (counted
// in Stats.Refused), so a client sees a network outage and the broker sees
// nothing at all.
func (p *Proxy) SetOffline(off bool) int {
	p.mu.Lock()
	was := p.offline
	p.offline = off
	p.mu.Unlock()
	if off != was {
		p.log.Info("mqtt proxy: link", "offline", off)
	}
	if !off {
		return 0
	}
	return p.Cut()
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{Connections: p.accepted.Load(), Cuts: p.cuts.Load(), Refused: p.refused.Load(), Up: p.dir[Up].snapshot(), Down: p.dir[Down].snapshot()}
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ln := p.ln
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	p.cancel()
	var err error
	if ln != nil {
		if cerr := ln.Close(); cerr != nil {
			err = fmt.Errorf("mqttproxy: close listener: %w", cerr)
		}
	}
	for _, c := range cs {
		c.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Error("mqtt proxy: accept failed", "err", err)
			}
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		if p.offline {
			p.mu.Unlock()
			nc.Close()
			p.refused.Add(1)
			continue
		}
		id := p.nextID
		p.nextID++
		c := &conn{p: p, id: id, client: nc}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.serve()
	}
}

// conn is one proxied client connection.
type conn struct {
	p        *Proxy
	id       uint64
	client   net.Conn
	upstream net.Conn // set by serve before the pumps start

	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		up := c.upstream
		c.mu.Unlock()
		c.client.Close()
		if up != nil {
			up.Close()
		}
	})
}

func (c *conn) serve() {
	p := c.p
	defer p.wg.Done()
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	log := p.log.With("conn", c.id, "client", c.client.RemoteAddr().String())
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout)
	up, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.cfg.Upstream)
	cancel()
	if err != nil {
		log.Warn("mqtt proxy: upstream unreachable", "upstream", p.cfg.Upstream, "err", err)
		return
	}
	c.mu.Lock()
	if c.closed { // cut or closed while dialling
		c.mu.Unlock()
		up.Close()
		return
	}
	c.upstream = up
	c.mu.Unlock()
	log.Debug("mqtt proxy: connection open")

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pump(Up, c.client, up, log) }()
	go func() { defer wg.Done(); c.pump(Down, up, c.client, log) }()
	wg.Wait()
	log.Debug("mqtt proxy: connection closed")
}

// pump forwards packets from src to dst, applying the faults of d. At a
// clean end of src it flushes and half-closes dst so that the other
// direction can finish; on any other end it closes both sides.
func (c *conn) pump(d Direction, src, dst net.Conn, log *slog.Logger) {
	p := c.p
	s := newShaper(d, p.cfg.Seed, c.id, p.cfg.HoldMax, p.clk, &p.dir[d], func() Faults { return p.faultsFor(d) },
		func(b []byte) error {
			_, err := dst.Write(b)
			return err
		})
	rd := NewReader(src, p.cfg.MaxPacketSize)
	for {
		pkt, err := rd.Next()
		if err != nil {
			s.stop()
			switch {
			case errors.Is(err, io.EOF):
				if ferr := s.flush(); ferr != nil {
					c.close()
					return
				}
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				} else {
					c.close()
				}
			case errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge):
				log.Warn("mqtt proxy: unparseable stream, closing", "dir", d, "err", err)
				c.close()
			default:
				c.close()
			}
			return
		}
		cut, err := s.packet(pkt)
		if cut {
			log.Info("mqtt proxy: connection cut (drop fault)", "dir", d)
			c.close()
			return
		}
		if err != nil {
			c.close()
			return
		}
	}
}

// shaper applies the faults to one direction of one connection: it turns
// the packets read into the packets written.
type shaper struct {
	dir     Direction
	rng     *rand.Rand
	holdMax time.Duration
	clk     clock.Clock
	stats   *dirCounters
	faults  func() Faults
	write   func([]byte) error

	mu      sync.Mutex
	held    []byte
	heldDup bool
	heldGen uint64
	timer   clock.Timer
	err     error // first write error; the shaper writes nothing after it
	stopped bool
}

func newShaper(d Direction, seed, connID uint64, holdMax time.Duration, clk clock.Clock, stats *dirCounters,
	faults func() Faults, write func([]byte) error) *shaper {
	return &shaper{
		dir: d, rng: rand.New(rand.NewPCG(seed, connID<<1|uint64(d))), holdMax: holdMax, clk: clk,
		stats: stats, faults: faults, write: write,
	}
}

// packet handles one packet read. cut reports that the Drop fault fired:
// the caller must close the connection.
func (s *shaper) packet(pkt []byte) (cut bool, err error) {
	f := s.faults()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	s.stats.packets.Add(1)
	typ := pkt[0] >> 4
	if typ != TypeConnect && typ != TypeConnack && s.rng.Float64() < f.Drop {
		s.dropHeldLocked()
		s.stats.cuts.Add(1)
		return true, nil
	}
	if typ != TypePublish {
		if typ == TypeDisconnect {
			s.flushLocked()
		}
		s.sendLocked(pkt, false)
		return false, s.err
	}
	s.stats.publishes.Add(1)
	dup := s.rng.Float64() < f.Duplicate
	hold := s.rng.Float64() < f.Reorder
	if hold && s.held == nil && !s.stopped {
		s.held, s.heldDup = pkt, dup
		s.heldGen++
		gen := s.heldGen
		s.timer = s.clk.AfterFunc(s.holdMax, func() { s.expire(gen) })
		return false, nil
	}
	s.sendLocked(pkt, dup)
	if s.held != nil {
		s.stats.reordered.Add(1)
		s.flushLocked()
	}
	return false, s.err
}

// expire sends a held packet whose successor did not come in time.
func (s *shaper) expire(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil && s.heldGen == gen {
		s.stats.holdExpiry.Add(1)
		s.flushLocked()
	}
}

// flush sends the held packet, if any.
func (s *shaper) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	return s.err
}

// stop cancels the hold timer; the held packet stays for flush.
func (s *shaper) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

func (s *shaper) flushLocked() {
	if s.held == nil {
		return
	}
	pkt, dup := s.held, s.heldDup
	s.dropHeldLocked()
	s.sendLocked(pkt, dup)
}

func (s *shaper) dropHeldLocked() {
	s.held, s.heldDup = nil, false
	s.heldGen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

func (s *shaper) sendLocked(pkt []byte, dup bool) {
	if s.err != nil {
		return
	}
	if s.err = s.write(pkt); s.err != nil {
		return
	}
	if dup {
		s.stats.duplicated.Add(1)
		s.err = s.write(duplicate(pkt))
	}
}
