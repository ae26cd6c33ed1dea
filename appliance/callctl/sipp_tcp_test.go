package callctl_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/wire"
)

// freeTCPPort is a loopback port free for TCP (and, checked after, for UDP:
// sipp binds both).
func freeTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", l.Addr().String())
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return 0
}

// TestSippOverTCP: an IAD port (sipp over TCP) registers and calls through
// the appliance to a trunk reached over TCP (sipp, echoing RTP); the port
// hangs up. Every message of both dialogs travels over TCP (sipp over TCP
// has no UDP signalling socket to fall back to), the appliance's Via and
// Contact say so, and media flows both ways.
func TestSippOverTCP(t *testing.T) {
	sipprun.Need(t)
	port := freeTCPPort(t)
	e := start(t, opts{cfg: func(c *callctl.Config) {
		c.Trunk.Address = "127.0.0.1:" + strconv.Itoa(port)
		c.Trunk.Transport = "tcp"
	}})
	trunk := sipprun.Start(t, port, "trunk_answer.xml", "-t", "t1", "-rtp_echo")
	iad := sipprun.Start(t, 0, "iad_register_call.xml", "-t", "t1", "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())
	if err := iad.Wait(t); err != nil {
		t.Fatalf("sipp IAD over TCP: %v\n%s", err, iad.Out.String())
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("sipp trunk over TCP: %v\n%s", err, trunk.Out.String())
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Answer == nil || rec.Terminal != "T1" {
		t.Fatalf("record = %+v", rec)
	}
	if len(e.srv.Bindings()) != 1 {
		t.Errorf("no binding after the REGISTER over TCP")
	}
	// What the trunk received from the appliance: an INVITE with a TCP Via
	// and a Contact that asks for TCP.
	msgs := trunk.Messages()
	if !strings.Contains(msgs, "INVITE sip:0611223344@") || !strings.Contains(msgs, "Via: SIP/2.0/TCP ") || !strings.Contains(msgs, "transport=tcp") {
		t.Errorf("the trunk's INVITE is not over TCP with a TCP Contact:\n%s", msgs)
	}
	if !strings.Contains(msgs, "BYE sip:") {
		t.Errorf("the port's hang-up did not reach the trunk as a BYE over TCP:\n%s", msgs)
	}
	// What the port received: the answer carries the TCP Contact.
	if pm := iad.Messages(); !strings.Contains(pm, "transport=tcp") {
		t.Errorf("the port's 200 has no TCP Contact:\n%s", pm)
	}
	relays := e.relays.All()
	if len(relays) != 1 {
		t.Fatalf("%d media sessions, want 1", len(relays))
	}
	if p := relays[0].Packets(); p[0] < 20 || p[1] < 20 {
		t.Errorf("RTP through the relay (port, trunk) = %v: media did not flow both ways", p)
	}
}

// TestSippFarHangup: the family (a sipp trunk) hangs up an answered call;
// the appliance answers its BYE and sends its own to the port (a sipp
// IAD), over UDP and over TCP. Over TCP the port's BYE goes to the
// port's Contact on the INVITE's transport, the trunk's BYE arrives on
// the appliance's TCP Contact.
func TestSippFarHangup(t *testing.T) {
	sipprun.Need(t)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			port := freeTCPPort(t)
			e := start(t, opts{cfg: func(c *callctl.Config) {
				c.Trunk.Address = "127.0.0.1:" + strconv.Itoa(port)
				c.Trunk.Transport = tr
			}})
			var sippT []string
			if tr == "tcp" {
				sippT = []string{"-t", "t1"}
			}
			trunk := sipprun.Start(t, port, "trunk_hangup.xml", append(sippT, "-rtp_echo")...)
			iad := sipprun.Start(t, 0, "iad_call_far_hangup.xml", append(sippT, "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())...)
			if err := trunk.Wait(t); err != nil {
				t.Fatalf("sipp trunk: %v\n%s", err, trunk.Out.String())
			}
			if err := iad.Wait(t); err != nil {
				t.Fatalf("sipp IAD: %v\n%s", err, iad.Out.String())
			}
			rec := e.record(t)
			if rec.Disposition != wire.DispCompleted || rec.Answer == nil {
				t.Fatalf("record = %+v", rec)
			}
			via := "Via: SIP/2.0/" + strings.ToUpper(tr) + " "
			if pm := iad.Messages(); !strings.Contains(pm, "BYE sip:"+portUser+"@") || !strings.Contains(pm, via) {
				t.Errorf("the port did not get the appliance's BYE over %s:\n%s", tr, pm)
			}
		})
	}
}

// tcpOptions sends an OPTIONS on c and returns the first line of the
// answer, or "" if none came within d (or the server closed c).
func tcpOptions(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	local, remote := c.LocalAddr().String(), c.RemoteAddr().String()
	msg := "OPTIONS sip:kinline@" + remote + " SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"From: <sip:probe@" + local + ">;tag=p1\r\nTo: <sip:kinline@" + remote + ">\r\n" +
		"Call-ID: probe-" + local + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return ""
	}
	res, _, _ := sendStream(c, nil, d)
	return firstLine(res)
}

// closedBy reports whether the server closes c within d.
func closedBy(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

// TestTCPAbuse: what a hostile peer can do to SIP over TCP. A line that
// never ends, a header block past sipgo's 64 KB message limit and a
// Content-Length beyond it get the connection closed; a connection that
// stays quiet is closed after TCPIdleTimeout; a connection past
// TCPMaxConns is served and the least recently active one closed. After each, a new connection is
// answered and a call over UDP goes through.
func TestTCPAbuse(t *testing.T) {
	e := start(t, opts{cfg: func(c *callctl.Config) {
		c.TCP, c.TCPMaxConns, c.TCPIdleTimeout = true, 3, 3*time.Second
	}})
	addr := e.srv.Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// probe answers whether a new connection is served (and closes it,
	// so that it holds no slot of TCPMaxConns after).
	probe := func() string {
		t.Helper()
		c := dial()
		defer c.Close()
		return tcpOptions(t, c, 5*time.Second)
	}
	huge := strings.Repeat("a", 70<<10)
	for name, data := range map[string]string{
		"endless line":         "OPTIONS sip:kinline@" + addr + " SIP/2.0\r\nX-Junk: " + huge,
		"oversized headers":    "OPTIONS sip:kinline@" + addr + " SIP/2.0\r\n" + strings.Repeat("X-Junk: "+strings.Repeat("b", 1000)+"\r\n", 70),
		"content-length 1 MB":  "OPTIONS sip:kinline@" + addr + " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-x\r\nContent-Length: 1048576\r\n\r\n" + huge,
		"not SIP":              "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"negative content-len": "OPTIONS sip:kinline@" + addr + " SIP/2.0\r\nContent-Length: -5\r\n\r\n",
	} {
		c := dial()
		if _, err := c.Write([]byte(data)); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		if !closedBy(c, 5*time.Second) {
			t.Errorf("%s: the server kept the connection open", name)
		}
		c.Close()
		if got := probe(); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("after %s: OPTIONS on a new connection got %q", name, got)
		}
	}

	// Quiet connections: closed after the idle timeout (and not before
	// it: one answered OPTIONS shows the connection was usable).
	quiet := dial()
	if got := tcpOptions(t, quiet, 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS got %q", got)
	}
	if !closedBy(quiet, 10*time.Second) {
		t.Errorf("a quiet connection was not closed after TCPIdleTimeout")
	}

	// TCPMaxConns = 3: with 3 held open, a 4th is served at once and the
	// least recently active of the others is closed to make room
	// (TestTCPIdleConnectionsDoNotLockOut has the flood).
	held := []net.Conn{dial(), dial(), dial()}
	for i, c := range held {
		if got := tcpOptions(t, c, 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("held connection %d: OPTIONS got %q", i, got)
		}
	}
	fourth := dial()
	if got := tcpOptions(t, fourth, 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("a 4th connection at TCPMaxConns was not served: %q", got)
	}
	if !closedBy(held[0], 5*time.Second) {
		t.Errorf("the least recently active connection was not closed for the 4th")
	}

	// UDP was never affected.
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call over UDP after the TCP abuse: %+v %v", res, err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}
