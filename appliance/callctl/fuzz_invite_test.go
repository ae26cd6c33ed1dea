package callctl_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/callctltest"
)

// FuzzInvite feeds arbitrary bytes to a running Server as one UDP
// datagram, after filling in the torture placeholders ({{LOCAL}},
// {{APPLIANCE}}, {{AUTH}}: see torture_test.go) so that inputs can reach
// the authenticated call path and its SDP negotiation. The server must
// survive each input and keep answering: an OPTIONS probe after every
// datagram must get its 200, and no input may be answered with a 2xx
// unless it is an OPTIONS. Non-2xx final answers are ACKed when they come
// within 300 ms, so refused INVITEs do not hold call slots until Timer H.
// The seed corpus (testdata/fuzz/FuzzInvite) holds
// RFC 4475 and attack messages from testdata/torture.
func FuzzInvite(f *testing.F) {
	e := start(f, opts{auth: tortureAuthorizer()})
	addr := e.srv.Addr().String()
	nonce := tortureNonce(f, addr)
	probe, err := net.Dial("udp4", addr)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { probe.Close() })
	f.Add([]byte(rawInvite("{{LOCAL}}", "{{APPLIANCE}}", "seed-1", "{{AUTH}}\r\n", offerSDP)))
	seq := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := renderTorture(data, c.LocalAddr().String(), addr, nonce)
		if len(msg) > 65000 {
			msg = msg[:65000]
		}
		res, _, err := sendDatagram(c, msg, 300*time.Millisecond)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		if callctltest.StatusCode(res)/100 == 2 && !strings.HasPrefix(string(msg), "OPTIONS ") {
			t.Fatalf("accepted: %q", firstLine(res))
		}
		seq++
		opt := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + probe.LocalAddr().String() +
			";branch=z9hG4bK-probe-" + itoa(seq) + "\r\nMax-Forwards: 70\r\nFrom: <sip:probe@x>;tag=p\r\nTo: <sip:" + addr +
			">\r\nCall-ID: probe-" + itoa(seq) + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		res, _, err = sendDatagram(probe, []byte(opt), 10*time.Second)
		if err != nil || callctltest.StatusCode(res) != 200 {
			t.Fatalf("server stopped answering after %q: %q %v", truncateFuzz(data), firstLine(res), err)
		}
	})
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func truncateFuzz(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
