package callctl

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// tcpGuard is the listener SIP over TCP is served from (issue 11 item 5).
// It protects the listener the way hardened SIP servers do (OpenSIPS's
// tcp_max_msg_time, Kamailio's per-address connection limits):
//
//   - A connection must deliver its first complete SIP message within
//     firstMsg of being accepted, or it is closed: holding a connection
//     open with nothing, or with a message that never ends, costs the
//     holder the connection, not the appliance a slot for an hour.
//   - At most perSource connections from one IP address: a new one from
//     an address at its limit closes that address's least recently
//     active connection (its own, never another peer's).
//   - At most max connections in all: a new connection is still accepted
//     when the cap is reached, and the one closed to make room is a
//     connection that has not yet delivered a message (the oldest first),
//     else the least recently active one. New clients are served while
//     the cap is reached; the idle pay for it.
//
// A connection has delivered a message when sipgo's transport layer has
// parsed one from it (prove, hooked on the transport layer). After that,
// sipgo's ReadTimeout (Config.TCPIdleTimeout) closes a connection that
// stays quiet.
type tcpGuard struct {
	net.Listener
	log                 *slog.Logger
	max, perSource      int
	firstMsg            time.Duration
	accepted, evicted   atomic.Uint64
	timedOut            atomic.Uint64
	activity            atomic.Uint64 // orders reads: a counter, not a clock
	mu                  sync.Mutex
	conns               map[string]*guardedConn // by remote address
	bySource            map[netip.Addr]int
	lastLimitLog        atomic.Int64
	lastLimitLogMinimum time.Duration
}

func newTCPGuard(l net.Listener, max, perSource int, firstMsg time.Duration, log *slog.Logger) *tcpGuard {
	return &tcpGuard{Listener: l, log: log, max: max, perSource: perSource, firstMsg: firstMsg,
		conns: map[string]*guardedConn{}, bySource: map[netip.Addr]int{}, lastLimitLogMinimum: 10 * time.Second}
}

// guardedConn is one accepted connection.
type guardedConn struct {
	net.Conn
	g       *tcpGuard
	key     string
	src     netip.Addr
	seq     uint64    // acceptance order
	firstBy time.Time // the deadline for the first complete message
	proven  atomic.Bool
	active  atomic.Uint64 // the guard's activity count at the last read
	gone    atomic.Bool
	closed  atomic.Bool
}

// Accept accepts the next connection, closing another first if a limit
// is reached.
func (g *tcpGuard) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	gc := &guardedConn{Conn: c, g: g, key: c.RemoteAddr().String(), src: ap.Addr().Unmap(),
		seq: g.accepted.Add(1), firstBy: time.Now().Add(g.firstMsg)}
	gc.active.Store(g.activity.Add(1))
	var victims []*guardedConn
	g.mu.Lock()
	if g.bySource[gc.src] >= g.perSource {
		if v := g.victim(func(v *guardedConn) bool { return v.src == gc.src }); v != nil {
			victims = append(victims, v)
			g.forget(v)
		}
	}
	if len(g.conns) >= g.max {
		if v := g.victim(nil); v != nil {
			victims = append(victims, v)
			g.forget(v)
		}
	}
	g.conns[gc.key] = gc
	g.bySource[gc.src]++
	g.mu.Unlock()
	for _, v := range victims {
		g.evicted.Add(1)
		g.logLimit(v, gc)
		v.shut()
	}
	return gc, nil
}

// victim picks the connection to close among those match accepts (all if
// nil): one that has not delivered a message, the oldest first, else the
// least recently active. Called with g.mu held.
func (g *tcpGuard) victim(match func(*guardedConn) bool) *guardedConn {
	var best *guardedConn
	better := func(a, b *guardedConn) bool {
		ap, bp := a.proven.Load(), b.proven.Load()
		switch {
		case ap != bp:
			return !ap
		case !ap:
			return a.seq < b.seq
		default:
			return a.active.Load() < b.active.Load()
		}
	}
	for _, c := range g.conns {
		if match != nil && !match(c) {
			continue
		}
		if best == nil || better(c, best) {
			best = c
		}
	}
	return best
}

// forget removes c from the tables (once). Called with g.mu held.
func (g *tcpGuard) forget(c *guardedConn) {
	if c.gone.Swap(true) {
		return
	}
	if g.conns[c.key] == c {
		delete(g.conns, c.key)
	}
	if g.bySource[c.src]--; g.bySource[c.src] <= 0 {
		delete(g.bySource, c.src)
	}
}

// logLimit logs that v was closed to make room for c, at most once per
// lastLimitLogMinimum.
func (g *tcpGuard) logLimit(v, c *guardedConn) {
	now := time.Now().UnixNano()
	last := g.lastLimitLog.Load()
	if now-last < int64(g.lastLimitLogMinimum) || !g.lastLimitLog.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn("SIP over TCP: connection limit reached, closing an idle connection for a new one",
		"closed", v.key, "closed_had_message", v.proven.Load(), "new", c.key,
		"max", g.max, "per_source", g.perSource, "closed_so_far", g.evicted.Load())
}

// prove marks the connection a message came in on as having delivered
// one. It is hooked on sipgo's transport layer, which calls it for every
// message parsed (from its read loop: it must be quick).
func (g *tcpGuard) prove(msg sip.Message) {
	if msg.Transport() != "TCP" {
		return
	}
	g.mu.Lock()
	c := g.conns[msg.Source()]
	g.mu.Unlock()
	if c != nil {
		c.proven.Store(true)
	}
}

// Stats reports the connections open and those closed by the guard.
func (g *tcpGuard) stats() TCPStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return TCPStats{Open: len(g.conns), Evicted: g.evicted.Load(), NoFirstMessage: g.timedOut.Load()}
}

// TCPStats is what the SIP over TCP listener holds and has closed.
type TCPStats struct {
	// Open is the connections accepted and still open.
	Open int
	// Evicted is the connections closed to make room for new ones.
	Evicted uint64
	// NoFirstMessage is the connections closed for not delivering a
	// complete message within Config.TCPFirstMessageTimeout.
	NoFirstMessage uint64
}

// TCPStats reports the SIP over TCP listener's connections (zero without
// Config.TCP).
func (s *Server) TCPStats() TCPStats {
	s.mu.Lock()
	g := s.tcpGuard
	s.mu.Unlock()
	if g == nil {
		return TCPStats{}
	}
	return g.stats()
}

// SetReadDeadline keeps a connection that has not delivered a message to
// its first-message deadline, whatever later deadline sipgo asks for.
func (c *guardedConn) SetReadDeadline(t time.Time) error {
	if !c.proven.Load() && (t.IsZero() || t.After(c.firstBy)) {
		t = c.firstBy
	}
	return c.Conn.SetReadDeadline(t)
}

// Read reads from the connection, noting the activity; a connection
// past its first-message deadline without a message reads as ended.
func (c *guardedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.active.Store(c.g.activity.Add(1))
	}
	if err != nil && !c.proven.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		c.g.timedOut.Add(1)
		c.g.log.Debug("SIP over TCP: no complete message in time, closing", "remote", c.key, "limit", c.g.firstMsg)
		return n, io.EOF
	}
	return n, err
}

// Close closes the connection and forgets it; closing it again (sipgo
// does, after the guard closed it to make room) is not an error.
func (c *guardedConn) Close() error {
	c.g.mu.Lock()
	c.g.forget(c)
	c.g.mu.Unlock()
	return c.shut()
}

// shut closes the socket once.
func (c *guardedConn) shut() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.Conn.Close()
}
