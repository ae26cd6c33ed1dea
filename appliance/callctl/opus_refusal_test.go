package callctl_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/shared/wire"
)

// opusOnlySDP offers Opus and nothing else.
const opusOnlySDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"

// TestOpusOnlyRefusalNotSilent: with spoken refusals on, a port that
// offers only Opus cannot hear the (G.711) refusal prompt. Instead of a
// silent 403 it gets 488 with the refusal as the reason phrase and a
// Warning naming the missing codec (raw UDP as the port).
func TestOpusOnlyRefusalNotSilent(t *testing.T) {
	e := start(t, opts{auth: callctltest.Refuse("number not approved"), cfg: func(c *callctl.Config) { c.SpokenRefusals = true }})
	addr := e.srv.Addr().String()
	nonce := tortureNonce(t, addr)
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	uri := fmt.Sprintf("sip:0123456789@%s", addr)
	msg := rawInvite(local, addr, "opus-only-refused", proxyAuth("INVITE", uri, nonce)+"\r\n", opusOnlySDP)
	res, prov, err := sendDatagram(c, []byte(msg), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := firstLine(res); got != "SIP/2.0 488 number not approved" {
		t.Fatalf("got %q (provisional %v), want 488 number not approved", got, prov)
	}
	if !strings.Contains(res, "\r\nWarning: 305 ") {
		t.Errorf("488 without a Warning 305:\n%s", res)
	}
	if rec := e.record(t); rec.Disposition != wire.DispRefused || rec.Reason != "number not approved" {
		t.Fatalf("record = %+v", rec)
	}
}
