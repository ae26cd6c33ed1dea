package callctl_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
)

// manyVias is n Via header lines, the first naming local (where the
// answer goes), the others made-up proxies.
func manyVias(local string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-size-top\r\n", local)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP proxy%d.example.net:5060;branch=z9hG4bK-size-%d\r\n", i, i)
	}
	return b.String()
}

// TestLargeAnswersSentOverUDP: answers over 1,300 bytes go out over UDP
// (RFC 3261 section 18.2.2 sets no size limit on answers): a 407 to an
// INVITE whose From has a 1,000-character display name, a 200 to an
// OPTIONS with 70 Vias (all echoed). sipgo's UDP transport refused both
// and the appliance only logged it at debug level.
func TestLargeAnswersSentOverUDP(t *testing.T) {
	e := start(t, opts{})
	addr := e.srv.Addr().String()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()

	name := strings.Repeat("A", 1000)
	inv := strings.Replace(rawInvite(local, addr, "size-long-from", "", offerSDP),
		"From: <sip:", `From: "`+name+`" <sip:`, 1)
	res, _, err := sendDatagram(c, []byte(inv), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := callctltest.StatusCode(res); code != 407 || !strings.Contains(res, name) {
		t.Fatalf("INVITE with a 1,000-character display name: got %q, want a 407 echoing the From", firstLine(res))
	}
	t.Logf("407 of %d bytes received over UDP", len(res))

	opts := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n%sMax-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=size\r\nTo: <sip:%s>\r\nCall-ID: size-70-vias\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		addr, manyVias(local, 70), local, addr)
	res, _, err = sendDatagram(c, []byte(opts), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := callctltest.StatusCode(res); code != 200 || strings.Count(res, "\r\nVia: ") != 70 {
		t.Fatalf("OPTIONS with 70 Vias: got %q with %d Vias, want 200 with all 70", firstLine(res), strings.Count(res, "\r\nVia: "))
	}
	t.Logf("200 of %d bytes received over UDP", len(res))
}

// TestOversizedRequestRefused: a request over callctl.MaxRequestSize
// (here an OPTIONS over TCP, where sipgo reads up to 64 KiB) is answered
// 513 Message Too Large, not processed.
func TestOversizedRequestRefused(t *testing.T) {
	e := start(t, opts{cfg: func(c *callctl.Config) { c.TCP = true }})
	addr := e.srv.Addr().String()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	filler := strings.Repeat("x", callctl.MaxRequestSize)
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-size-big\r\nMax-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=size\r\nTo: <sip:%s>\r\nCall-ID: size-too-big\r\nCSeq: 1 OPTIONS\r\nSubject: %s\r\nContent-Length: 0\r\n\r\n",
		addr, local, local, addr, filler)
	res, _, err := sendStream(c, []byte(msg), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := callctltest.StatusCode(res); code != 513 {
		t.Fatalf("OPTIONS of %d bytes: got %q, want 513", len(msg), orDrop(firstLine(res)))
	}
}
