package callctl_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// unackedGrace is how long a refused call may take, after its final answer
// reached the port, to leave its record and free its slot. It is far
// below Timer H (64*T1 = 32 s), which is what a call would wait for if it
// waited for the ACK, and generous for a loaded 2-core machine.
const unackedGrace = 2 * time.Second

// sendUnacked sends an authenticated INVITE from a fresh socket, reads
// until its final answer and never ACKs it. It returns the socket (to read
// retransmissions from) and the final answer.
func sendUnacked(t *testing.T, addr, nonce, callID, body string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	uri := "sip:0123456789@" + addr
	msg := rawInvite(c.LocalAddr().String(), addr, callID, proxyAuth("INVITE", uri, nonce)+"\r\n", body)
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(waitLong)
	for {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s: no final answer: %v", callID, err)
		}
		if res := string(buf[:n]); callctltest.StatusCode(res) >= 200 {
			return c, res
		}
	}
}

// TestRefusalNotAckedFreesSlot: a port that never ACKs a refusal (403 from
// the authorizer, 488 for an unusable offer) must not hold a call slot
// until Timer H. The record comes and ActiveCalls empties as soon as the
// answer is sent, while the transaction layer still retransmits the answer
// on its own (RFC 3261 17.2.1, Timer G).
func TestRefusalNotAckedFreesSlot(t *testing.T) {
	noAudio := strings.Replace(offerSDP, "RTP/AVP 0 8 101", "RTP/AVP 18", 1)
	for _, tc := range []struct {
		name, body string
		code       int
		disp       string
	}{
		{"403", offerSDP, 403, wire.DispRefused},
		{"488", noAudio, 488, wire.DispFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, opts{auth: tortureAuthorizer()})
			addr := e.srv.Addr().String()
			nonce := tortureNonce(t, addr)

			c, res := sendUnacked(t, addr, nonce, "unacked-"+tc.name, tc.body)
			sent := time.Now()
			if callctltest.StatusCode(res) != tc.code {
				t.Fatalf("final answer %q, want %d", firstLine(res), tc.code)
			}
			if !testkit.Within(unackedGrace, 0, func() bool { return e.records.Pending() > 0 && len(e.srv.ActiveCalls()) == 0 }) {
				t.Fatalf("%v after the un-ACKed %d: %d records, active calls %+v (the call waits for the ACK)",
					unackedGrace, tc.code, e.records.Pending(), e.srv.ActiveCalls())
			}
			t.Logf("record and slot released %v after the %d", time.Since(sent).Round(time.Millisecond), tc.code)
			if rec := e.record(t); rec.Disposition != tc.disp || rec.Number != "0123456789" || rec.Terminal != "T1" {
				t.Fatalf("record = %+v", rec)
			}

			// The transaction layer, not the call, still owns the answer:
			// it retransmits it until the ACK comes.
			buf := make([]byte, 65536)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("the %d was not retransmitted: %v", tc.code, err)
			}
			if again := string(buf[:n]); firstLine(again) != firstLine(res) {
				t.Fatalf("retransmission %q, want %q", firstLine(again), firstLine(res))
			}
			if ack := callctltest.TortureACK([]byte(rawInvite(c.LocalAddr().String(), addr, "unacked-"+tc.name, "", tc.body)), res); ack == "" {
				t.Fatal("no ACK could be built")
			} else if _, err := c.Write([]byte(ack)); err != nil {
				t.Fatal(err)
			}
			if e.records.Pending() != 0 {
				t.Fatalf("a second record for one INVITE")
			}
		})
	}
}

// TestShutdownDoesNotWaitForUnackedRefusal: Run returns promptly even
// though a refusal is still waiting for its ACK in the transaction layer.
func TestShutdownDoesNotWaitForUnackedRefusal(t *testing.T) {
	e := start(t, opts{auth: tortureAuthorizer()})
	addr := e.srv.Addr().String()
	nonce := tortureNonce(t, addr)
	_, res := sendUnacked(t, addr, nonce, "unacked-shutdown", offerSDP)
	if callctltest.StatusCode(res) != 403 {
		t.Fatalf("final answer %q, want 403", firstLine(res))
	}
	began := time.Now()
	if err := e.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	took := time.Since(began)
	t.Logf("Run returned %v after stop", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("shutdown took %v: it waited for the un-ACKed refusal", took)
	}
	if e.records.Pending() != 1 {
		t.Fatalf("%d records after shutdown, want the refusal's", e.records.Pending())
	}
	if rec := e.record(t); rec.Disposition != wire.DispRefused {
		t.Fatalf("record = %+v", rec)
	}
}
