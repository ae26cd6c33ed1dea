package callctl_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/shared/wire"
)

// Issue 11 item 2: digest authentication must not accept replays. These
// tests speak raw SIP over UDP from sockets of their own, as the
// independent test did: a captured Authorization header sent again from
// another socket, reused for another number or Call-ID, with a digest uri
// that is not the Request-URI, or without the qop the challenge asked for.

// digestLine is an Authorization (or Proxy-Authorization) header line for
// user/pass answering nonce with count nc for method and uri; qop false
// leaves qop, nc and cnonce out (an RFC 2069 answer).
func digestLine(header, user, pass, method, uri, nonce string, nc int, qop bool) string {
	h := func(s string) string { b := md5.Sum([]byte(s)); return hex.EncodeToString(b[:]) }
	ha1 := h(user + ":kinline:" + pass)
	ha2 := h(method + ":" + uri)
	if !qop {
		return fmt.Sprintf(`%s: Digest username="%s", realm="kinline", nonce="%s", uri="%s", response="%s", algorithm=MD5`,
			header, user, nonce, uri, h(ha1+":"+nonce+":"+ha2))
	}
	resp := h(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, nonce, nc, "5ca1ab1e", ha2))
	return fmt.Sprintf(`%s: Digest username="%s", realm="kinline", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%08x, cnonce="5ca1ab1e"`,
		header, user, nonce, uri, resp, nc)
}

// rawRegister is a REGISTER for portUser from local (its Via and
// Contact), with an extra header line (or "").
func rawRegister(local, appliance, callID string, cseq int, extra string) string {
	if extra != "" {
		extra += "\r\n"
	}
	return fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@%s>;tag=reg\r\n"+
		"To: <sip:%s@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d REGISTER\r\n"+
		"Contact: <sip:%s@%s>\r\n"+
		"Expires: 600\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n",
		appliance, local, callID, cseq, portUser, appliance, portUser, appliance, callID, cseq, portUser, local, extra)
}

// udpFrom opens a UDP socket on the loopback address ip to the server.
func udpFrom(t *testing.T, ip, to string) net.Conn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)}, raddr)
	if err != nil {
		t.Fatalf("socket on %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ask sends msg on c and returns the final answer ("" if none came).
func ask(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	res, _, err := sendDatagram(c, []byte(msg), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// nonceIn is the nonce of the challenge in res.
func nonceIn(t *testing.T, res string) string {
	t.Helper()
	_, after, ok := strings.Cut(res, `nonce="`)
	nonce, _, ok2 := strings.Cut(after, `"`)
	if !ok || !ok2 || nonce == "" {
		t.Fatalf("no nonce in %q", res)
	}
	return nonce
}

func TestDigestReplayedRegisterDoesNotMoveTheBinding(t *testing.T) {
	e := start(t, opts{})
	addr := e.srv.Addr().String()
	ruri := "sip:" + addr
	port := udpFrom(t, "127.0.0.1", addr)
	local := port.LocalAddr().String()

	res := ask(t, port, rawRegister(local, addr, "reg-1", 1, ""))
	if callctltest.StatusCode(res) != 401 {
		t.Fatalf("unauthenticated REGISTER: %q, want 401", firstLine(res))
	}
	nonce := nonceIn(t, res)
	auth := digestLine("Authorization", portUser, portPass, "REGISTER", ruri, nonce, 1, true)
	if res := ask(t, port, rawRegister(local, addr, "reg-1", 2, auth)); callctltest.StatusCode(res) != 200 {
		t.Fatalf("REGISTER with credentials: %q", firstLine(res))
	}
	binding := func() string {
		b := e.srv.Bindings()
		if len(b) != 1 {
			t.Fatalf("bindings: %+v", b)
		}
		return b[0].Source
	}
	if got := binding(); got != local {
		t.Fatalf("binding from %s, want %s", got, local)
	}

	// The replayer copies the Authorization header: from another socket
	// on the same address (the count was used), and from another address
	// (the nonce was not issued to it). Neither may move the binding.
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		rp := udpFrom(t, ip, addr)
		rlocal := rp.LocalAddr().String()
		res := ask(t, rp, rawRegister(rlocal, addr, "replay-"+ip, 2, auth))
		t.Logf("replayed REGISTER from %s -> %q", rlocal, firstLine(res))
		if code := callctltest.StatusCode(res); code == 200 || code == 0 {
			t.Errorf("replayed REGISTER from %s: %q, want a challenge or 403", rlocal, firstLine(res))
		}
		if got := binding(); got != local {
			t.Fatalf("the replay from %s moved the binding to %s", rlocal, got)
		}
	}

	// The port itself reuses its nonce with the next count: accepted.
	auth2 := digestLine("Authorization", portUser, portPass, "REGISTER", ruri, nonce, 2, true)
	if res := ask(t, port, rawRegister(local, addr, "reg-1", 3, auth2)); callctltest.StatusCode(res) != 200 {
		t.Fatalf("REGISTER with nc 2 on the same nonce: %q", firstLine(res))
	}
	// A digest uri other than the Request-URI, and an answer without the
	// qop the challenge asked for: 403.
	badURI := digestLine("Authorization", portUser, portPass, "REGISTER", "sip:elsewhere.example", nonce, 3, true)
	if res := ask(t, port, rawRegister(local, addr, "reg-1", 4, badURI)); callctltest.StatusCode(res) != 403 {
		t.Errorf("digest uri not the Request-URI: %q, want 403", firstLine(res))
	}
	noQOP := digestLine("Authorization", portUser, portPass, "REGISTER", ruri, nonce, 0, false)
	if res := ask(t, port, rawRegister(local, addr, "reg-1", 5, noQOP)); callctltest.StatusCode(res) != 403 {
		t.Errorf("answer without qop=auth: %q, want 403", firstLine(res))
	}
	if got := binding(); got != local {
		t.Fatalf("binding moved to %s", got)
	}
}

func TestDigestProxyAuthorizationBoundToItsRequest(t *testing.T) {
	e := start(t, opts{auth: callctltest.Refuse("not approved")})
	addr := e.srv.Addr().String()
	port := udpFrom(t, "127.0.0.1", addr)
	local := port.LocalAddr().String()
	invite := func(local, callID, number, extra string) string {
		msg := rawInvite(local, addr, callID, extra, offerSDP)
		return strings.ReplaceAll(msg, "0123456789@", number+"@")
	}

	res := ask(t, port, invite(local, "inv-1", "0611111111", ""))
	if callctltest.StatusCode(res) != 407 {
		t.Fatalf("unauthenticated INVITE: %q, want 407", firstLine(res))
	}
	nonce := nonceIn(t, res)
	uri := "sip:0611111111@" + addr
	pa := digestLine("Proxy-Authorization", portUser, portPass, "INVITE", uri, nonce, 1, true) + "\r\n"
	if res := ask(t, port, invite(local, "inv-2", "0611111111", pa)); callctltest.StatusCode(res) != 403 || !strings.Contains(firstLine(res), "not approved") {
		t.Fatalf("authenticated INVITE: %q, want the authorizer's 403", firstLine(res))
	}
	if rec := e.record(t); rec.Disposition != wire.DispRefused || rec.Number != "0611111111" {
		t.Fatalf("record = %+v", rec)
	}

	// The same Proxy-Authorization from another socket: for another
	// number (the digest uri is not the Request-URI: 403), and for the
	// same number under another Call-ID (the count was used: challenged).
	rp := udpFrom(t, "127.0.0.1", addr)
	rlocal := rp.LocalAddr().String()
	if res := ask(t, rp, invite(rlocal, "inv-3", "0622222222", pa)); callctltest.StatusCode(res) != 403 || strings.Contains(firstLine(res), "not approved") {
		t.Errorf("replay for another number: %q, want 403 Forbidden before the authorizer", firstLine(res))
	}
	if res := ask(t, rp, invite(rlocal, "inv-4", "0611111111", pa)); callctltest.StatusCode(res) != 407 {
		t.Errorf("replay under another Call-ID: %q, want 407", firstLine(res))
	}
	// No qop although the challenge asked for it.
	noQOP := digestLine("Proxy-Authorization", portUser, portPass, "INVITE", uri, nonce, 0, false) + "\r\n"
	if res := ask(t, port, invite(local, "inv-5", "0611111111", noQOP)); callctltest.StatusCode(res) != 403 || strings.Contains(firstLine(res), "not approved") {
		t.Errorf("no qop: %q, want 403 Forbidden before the authorizer", firstLine(res))
	}
	// The port's next request on its nonce, next count: reaches the
	// authorizer.
	pa2 := digestLine("Proxy-Authorization", portUser, portPass, "INVITE", uri, nonce, 2, true) + "\r\n"
	if res := ask(t, port, invite(local, "inv-6", "0611111111", pa2)); !strings.Contains(firstLine(res), "not approved") {
		t.Errorf("nc 2 on the same nonce: %q, want the authorizer's 403", firstLine(res))
	}
	if rec := e.record(t); rec.Disposition != wire.DispRefused {
		t.Fatalf("record = %+v", rec)
	}
	if n := e.records.Pending(); n != 0 {
		t.Fatalf("%d more records: a replay reached the authorizer", n)
	}
}
