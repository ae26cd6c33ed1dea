package callctl_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/testkit"
)

// Issue 11 item 6: under a flood of call attempts the appliance must keep
// what it holds bounded and shed the excess early with 503 and
// Retry-After. These tests are behavioural (what comes back on the wire,
// what the server reports holding), not timings.

// finalOn reads c until a final answer and returns it ("" on timeout).
func finalOn(c net.Conn, d time.Duration) string {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		if res := string(buf[:n]); callctltest.StatusCode(res) >= 200 {
			return res
		}
	}
}

// quietFor reports whether nothing but provisional answers arrive on c
// for d (a stateful final answer not ACKed would be retransmitted).
func quietFor(c net.Conn, d time.Duration) (bool, string) {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return true, ""
		}
		if res := string(buf[:n]); callctltest.StatusCode(res) >= 200 {
			return false, res
		}
	}
}

func TestUnansweredChallengesAreNotKept(t *testing.T) {
	e := start(t, opts{})
	addr := e.srv.Addr().String()
	const burst = 40
	conns := make([]net.Conn, burst)
	for i := range burst {
		c := udpFrom(t, "127.0.0.1", addr)
		conns[i] = c
		msg := rawInvite(c.LocalAddr().String(), addr, fmt.Sprintf("flood-%d", i), "", offerSDP)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		if res := finalOn(c, waitLong); callctltest.StatusCode(res) != 407 {
			t.Fatalf("INVITE %d: %q, want 407", i, firstLine(res))
		}
	}
	// None is ACKed. A stateful 407 would be retransmitted after Timer G
	// (500 ms) and again after 1 s; a stateless one never is.
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			if quiet, res := quietFor(c, 2*time.Second); !quiet {
				t.Errorf("INVITE %d: its 407 was retransmitted (%q): the challenge's transaction was kept", i, firstLine(res))
			}
		})
	}
	wg.Wait()
	if l := e.srv.Load(); l.Transactions != 0 {
		t.Fatalf("load after unanswered challenges: %+v", l)
	}
}

func TestOverloadShedsWith503(t *testing.T) {
	const limit, perTerminal = 6, 4
	e := start(t, opts{auth: callctltest.Refuse("not approved"), cfg: func(c *callctl.Config) {
		c.MaxTransactions, c.MaxTransactionsPerTerminal = limit, perTerminal
	}})
	addr := e.srv.Addr().String()
	uri := "sip:0123456789@" + addr

	// One challenge per port; each INVITE answers it with the next count.
	nonce := func(user string) string {
		c := udpFrom(t, "127.0.0.1", addr)
		res := ask(t, c, rawInvite(c.LocalAddr().String(), addr, "probe-"+user, "", offerSDP))
		return nonceIn(t, res)
	}
	type sent struct {
		c    net.Conn
		code int
		res  string
	}
	burst := func(user, pass string, n int) []sent {
		nn := nonce(user)
		out := make([]sent, n)
		for i := range n {
			c := udpFrom(t, "127.0.0.1", addr)
			pa := digestLine("Proxy-Authorization", user, pass, "INVITE", uri, nn, i+1, true) + "\r\n"
			msg := rawInvite(c.LocalAddr().String(), addr, fmt.Sprintf("%s-burst-%d", user, i), pa, offerSDP)
			msg = strings.Replace(msg, "From: <sip:"+portUser+"@", "From: <sip:"+user+"@", 1)
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			out[i].c = c
		}
		for i := range out {
			out[i].res = finalOn(out[i].c, waitLong)
			out[i].code = callctltest.StatusCode(out[i].res)
		}
		return out
	}
	count := func(ss []sent) (refused, shed int) {
		for _, s := range ss {
			switch s.code {
			case 403:
				refused++
			case 503:
				shed++
				if !strings.Contains(s.res, "Retry-After: 5") {
					t.Errorf("503 without Retry-After:\n%s", s.res)
				}
			default:
				t.Errorf("answer %q, want 403 or 503", firstLine(s.res))
			}
		}
		return refused, shed
	}

	// Port 1's burst: its per-terminal limit lets 4 through to the
	// authorizer (403, kept until ACKed: none is), the rest get 503.
	p1 := burst(portUser, portPass, 20)
	if r, s := count(p1); r != perTerminal || s != 20-perTerminal {
		t.Fatalf("port 1: %d refused by the authorizer, %d shed; want %d and %d", r, s, perTerminal, 20-perTerminal)
	}
	// Port 2 has its own room, but only what is left of the total.
	p2 := burst("port2", "pw2", 10)
	if r, s := count(p2); r != limit-perTerminal || s != 10-(limit-perTerminal) {
		t.Fatalf("port 2: %d refused, %d shed; want %d and %d", r, s, limit-perTerminal, 10-(limit-perTerminal))
	}
	if l := e.srv.Load(); l.Transactions != limit || l.Shed != 20-perTerminal+10-(limit-perTerminal) {
		t.Fatalf("load = %+v, want %d transactions", l, limit)
	}
	// Full: an attempt without credentials is shed at once, not
	// challenged (the challenge would only bring its ACK and a second
	// INVITE to shed).
	fresh := udpFrom(t, "127.0.0.1", addr)
	if res := ask(t, fresh, rawInvite(fresh.LocalAddr().String(), addr, "while-full", "", offerSDP)); callctltest.StatusCode(res) != 503 || !strings.Contains(res, "Retry-After: 5") {
		t.Fatalf("unauthenticated INVITE while full: %q, want 503 with Retry-After", firstLine(res))
	}
	// What was shed was answered once and forgotten: no retransmission.
	for _, s := range append(p1, p2...) {
		if s.code != 503 {
			continue
		}
		if quiet, res := quietFor(s.c, 1500*time.Millisecond); !quiet {
			t.Fatalf("a 503 was retransmitted: %q", firstLine(res))
		}
		break
	}
	// ACKing the refusals frees their room at once (not after Timer I or
	// H); then the next attempt reaches the authorizer again.
	for _, s := range append(p1, p2...) {
		if s.code == 403 {
			ackFor(t, s.c, s.res, uri)
		}
	}
	if !testkit.Within(waitLong, 0, func() bool { return e.srv.Load().Transactions == 0 }) {
		t.Fatalf("load after the ACKs: %+v", e.srv.Load())
	}
	again := burst(portUser, portPass, 1)
	if again[0].code != 403 {
		t.Fatalf("after the ACKs: %q, want the authorizer's 403", firstLine(again[0].res))
	}
}

// ackFor ACKs the non-2xx final answer res on c (RFC 3261 17.1.1.3: the
// INVITE's Via branch, From, Call-ID, the answer's To, CSeq n ACK).
func ackFor(t *testing.T, c net.Conn, res, uri string) {
	t.Helper()
	var via, from, to, callID, cseq string
	for _, line := range strings.Split(res, "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via":
			via = line
		case "from":
			from = line
		case "to":
			to = line
		case "call-id":
			callID = line
		case "cseq":
			n, _, _ := strings.Cut(strings.TrimSpace(value), " ")
			cseq = "CSeq: " + n + " ACK"
		}
	}
	ack := "ACK " + uri + " SIP/2.0\r\n" + via + "\r\nMax-Forwards: 70\r\n" + from + "\r\n" + to + "\r\n" + callID + "\r\n" + cseq + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}
}
