package callctl_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/testkit"
)

// Issue 11 item 5: idle TCP connections must not lock new SIP clients
// out. Raw TCP sockets as the peers; the flood comes from other loopback
// addresses (127.0.0.2 and up) than the clients (127.0.0.1).

// dialFrom opens a TCP connection to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTCPIdleConnectionsDoNotLockOut(t *testing.T) {
	e := start(t, opts{cfg: func(c *callctl.Config) {
		// The first-message deadline is far away: what serves the new
		// clients here is the cap's choice of whom to close.
		c.TCP, c.TCPFirstMessageTimeout = true, 5*time.Minute
	}})
	addr := e.srv.Addr().String()
	const flood, sources = 300, 10 // 30 per address: under the per-address limit
	// wave opens flood idle connections from sources addresses starting
	// at 127.0.0.first.
	var held []net.Conn
	wave := func(first int) {
		for i := range flood {
			held = append(held, dialFrom(t, fmt.Sprintf("127.0.0.%d", first+i%sources), addr))
		}
	}
	wave(2)
	if !testkit.Within(waitLong, 0, func() bool { return e.srv.TCPStats().Evicted >= flood-256 }) {
		t.Fatalf("the listener did not take the flood: %+v", e.srv.TCPStats())
	}
	// With the cap reached by idle connections, new clients are served.
	client := dialFrom(t, "127.0.0.1", addr)
	if got := tcpOptions(t, client, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("a new client with %d idle connections held: OPTIONS got %q (%+v)", flood, got, e.srv.TCPStats())
	}
	other := dialFrom(t, "127.0.0.1", addr)
	if got := tcpOptions(t, other, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("a second new client: OPTIONS got %q", got)
	}
	if st := e.srv.TCPStats(); st.Open > 256 {
		t.Fatalf("%d connections open past the cap", st.Open)
	}
	// A second wave of idle connections closes idle ones, never the
	// clients that spoke: both are still served on their connections.
	wave(2 + sources)
	if !testkit.Within(waitLong, 0, func() bool { return e.srv.TCPStats().Evicted >= 2*flood-256+2 }) {
		t.Fatalf("the listener did not take the second wave: %+v", e.srv.TCPStats())
	}
	for name, c := range map[string]net.Conn{"first": client, "second": other} {
		if got := tcpOptions(t, c, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("the %s client after the second wave: OPTIONS got %q", name, got)
		}
	}
	// The oldest idle connections were the ones closed.
	if !closedBy(held[0], 10*time.Second) {
		t.Errorf("the oldest idle connection is still open")
	}
	t.Logf("%+v", e.srv.TCPStats())
}

func TestTCPPerSourceLimit(t *testing.T) {
	e := start(t, opts{cfg: func(c *callctl.Config) {
		c.TCP, c.TCPMaxConnsPerSource, c.TCPFirstMessageTimeout = true, 4, 5*time.Minute
	}})
	addr := e.srv.Addr().String()
	speaker := dialFrom(t, "127.0.0.2", addr)
	if got := tcpOptions(t, speaker, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS got %q", got)
	}
	var idle []net.Conn
	for range 10 {
		idle = append(idle, dialFrom(t, "127.0.0.2", addr))
	}
	// The address's own idle connections make room for its newest; the
	// one that spoke stays.
	if !closedBy(idle[0], 10*time.Second) {
		t.Fatalf("the address's oldest idle connection is open past its limit: %+v", e.srv.TCPStats())
	}
	if got := tcpOptions(t, speaker, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("the connection that spoke, after its address's flood: OPTIONS got %q", got)
	}
	if st := e.srv.TCPStats(); st.Open > 4 {
		t.Fatalf("%d connections open, 4 allowed from one address: %+v", st.Open, st)
	}
	// Another address is not affected.
	if got := tcpOptions(t, dialFrom(t, "127.0.0.3", addr), 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("a client from another address: OPTIONS got %q", got)
	}
}

func TestTCPFirstMessageDeadline(t *testing.T) {
	e := start(t, opts{cfg: func(c *callctl.Config) {
		c.TCP, c.TCPFirstMessageTimeout = true, time.Second
	}})
	addr := e.srv.Addr().String()
	spoke := dialFrom(t, "127.0.0.1", addr)
	if got := tcpOptions(t, spoke, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS got %q", got)
	}
	silent := dialFrom(t, "127.0.0.1", addr)
	partial := dialFrom(t, "127.0.0.1", addr)
	if _, err := partial.Write([]byte("OPTIONS sip:kinline@" + addr + " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-half\r\n")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "half a message": partial} {
		if !closedBy(c, 20*time.Second) {
			t.Errorf("%s: the connection was not closed after the first-message deadline", name)
		}
	}
	// The connection that delivered a message is under the idle timeout
	// (an hour and more), not this deadline.
	if got := tcpOptions(t, spoke, 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("the connection that spoke first: OPTIONS got %q", got)
	}
	if st := e.srv.TCPStats(); st.NoFirstMessage < 2 {
		t.Errorf("stats %+v, want 2 closed for no first message", st)
	}
}
