package callctl_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// timerTrunk is a SIP trunk on a UDP socket that the test drives request
// by request.
type timerTrunk struct {
	t    *testing.T
	conn *net.UDPConn
}

// next waits for a request (skipping ACKs unless ack is set) and returns
// it with its source.
func (tr *timerTrunk) next(ack bool) (*sip.Request, *net.UDPAddr) {
	tr.t.Helper()
	buf := make([]byte, 65535)
	for {
		if err := tr.conn.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
			tr.t.Fatal(err)
		}
		n, from, err := tr.conn.ReadFromUDP(buf)
		if err != nil {
			tr.t.Fatalf("no request at the trunk: %v", err)
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			tr.t.Fatal(err)
		}
		req, ok := msg.(*sip.Request)
		if !ok || (req.IsAck() && !ack) {
			continue
		}
		return req, from
	}
}

// advanceUntilRequest moves clk forward by step until a request (not
// an ACK) arrives, and returns it.
func (tr *timerTrunk) advanceUntilRequest(clk *clock.Fake, step time.Duration) (*sip.Request, *net.UDPAddr) {
	tr.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		clk.Advance(step)
		if err := tr.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			tr.t.Fatal(err)
		}
		n, from, err := tr.conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			tr.t.Fatal(err)
		}
		if req, ok := msg.(*sip.Request); ok && !req.IsAck() {
			return req, from
		}
	}
	tr.t.Fatal("no request at the trunk while the clock moved")
	return nil, nil
}

// request sends a request of method within the dialog inv (the
// appliance's INVITE, answered with To tag trunktag) to the appliance at
// addr, and returns its final answer.
func (tr *timerTrunk) request(addr string, inv *sip.Request, method string, hdrs ...string) *sip.Response {
	tr.t.Helper()
	contact := inv.Contact()
	if contact == nil {
		tr.t.Fatal("INVITE without Contact")
	}
	from := strings.TrimSuffix(inv.To().Value(), ";") + ";tag=trunktag"
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s-1\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n",
		method, contact.Address.String(), tr.conn.LocalAddr(), strings.ToLower(method), from, inv.From().Value(), inv.CallID().Value(), method)
	for _, h := range hdrs {
		msg += h + "\r\n"
	}
	msg += "Content-Length: 0\r\n\r\n"
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		tr.t.Fatal(err)
	}
	if _, err := tr.conn.WriteToUDP([]byte(msg), to); err != nil {
		tr.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	for {
		if err := tr.conn.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
			tr.t.Fatal(err)
		}
		n, _, err := tr.conn.ReadFromUDP(buf)
		if err != nil {
			tr.t.Fatalf("no answer to the %s: %v", method, err)
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			tr.t.Fatal(err)
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 {
			return res
		}
	}
}

// reply answers req with code and extra headers ("Name: value"); a 2xx to
// an INVITE carries SDP, a To tag and a Contact.
func (tr *timerTrunk) reply(req *sip.Request, to *net.UDPAddr, code int, hdrs ...string) {
	tr.t.Helper()
	var body []byte
	if code == 200 && req.IsInvite() {
		body = []byte("v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
	}
	res := sip.NewResponseFromRequest(req, code, "X", body)
	if req.IsInvite() && code < 300 {
		if res.To().Params == nil {
			res.To().Params = sip.NewParams()
		}
		res.To().Params.Add("tag", "trunktag")
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1", Port: tr.conn.LocalAddr().(*net.UDPAddr).Port}})
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	for _, h := range hdrs {
		name, val, _ := strings.Cut(h, ":")
		res.AppendHeader(sip.NewHeader(name, strings.TrimSpace(val)))
	}
	if _, err := tr.conn.WriteToUDP([]byte(res.String()), to); err != nil {
		tr.t.Fatal(err)
	}
}

// TestSessionTimerRefreshes: the trunk INVITE asks for session timers
// with the appliance as refresher; a 422 gets the INVITE again with the
// trunk's Min-SE; once the 2xx confirms the timer, the appliance refreshes
// the session (UPDATE, which the trunk allows) every half interval on the
// call's clock, and ends the call when the trunk no longer knows the
// dialog (481). A refresh from the trunk is answered with its timer.
func TestSessionTimerRefreshes(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tr := &timerTrunk{t: t, conn: c}
	clk := clock.NewFake(t0)
	records := callctltest.NewRecords(16)
	srv := runServer(t, c.LocalAddr().String(), callctl.Deps{Clock: clk, OnCallEnd: records.OnCallEnd})
	p, err := phone.NewPort(phone.PortConfig{Appliance: srv.Addr().String(), User: portUser, Password: portPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	dialled := make(chan error, 1)
	go func() {
		_, err := p.Dial(ctxT(t), "0611223344", nil)
		dialled <- err
	}()

	inv, from := tr.next(false)
	se := inv.GetHeader("Session-Expires")
	if se == nil || se.Value() != fmt.Sprintf("%d;refresher=uac", int(callctl.DefaultSessionExpires/time.Second)) ||
		inv.GetHeader("Min-SE") == nil || !strings.Contains(inv.String(), "Supported: timer") {
		t.Fatalf("trunk INVITE without session timers:\n%s", inv)
	}
	tr.reply(inv, from, 422, "Min-SE: 1200")
	inv2, from := tr.next(false)
	if se := inv2.GetHeader("Session-Expires"); se == nil || se.Value() != "1200;refresher=uac" || inv2.CallID().Value() != inv.CallID().Value() {
		t.Fatalf("INVITE after the 422:\n%s", inv2)
	}
	tr.reply(inv2, from, 200, "Session-Expires: 120;refresher=uac", "Allow: INVITE, ACK, BYE, CANCEL, UPDATE")
	if err := <-dialled; err != nil {
		t.Fatal(err)
	}
	// The trunk may refresh too: its UPDATE is answered with its timer.
	if res := tr.request(srv.Addr().String(), inv2, "UPDATE", "Session-Expires: 300"); res.StatusCode != 200 ||
		res.GetHeader("Session-Expires") == nil || res.GetHeader("Session-Expires").Value() != "300;refresher=uac" {
		t.Fatalf("answer to the trunk's UPDATE:\n%s", res)
	}
	for i := range 2 {
		// A refresh is due half an interval (60 s) after the last: move
		// the call's clock until it comes.
		up, from := tr.advanceUntilRequest(clk, 60*time.Second)
		if up.Method != sip.UPDATE || up.CallID().Value() != inv.CallID().Value() || up.GetHeader("Session-Expires") == nil {
			t.Fatalf("refresh %d:\n%s", i, up)
		}
		if i == 0 {
			tr.reply(up, from, 200, "Session-Expires: 120;refresher=uac")
		} else {
			tr.reply(up, from, 481)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	rec, err := records.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Disposition != wire.DispCompleted || !strings.Contains(rec.Reason, "session expired") {
		t.Fatalf("record = %+v", rec)
	}
}

func TestParseSessionExpires(t *testing.T) {
	for _, tc := range []struct {
		in        string
		d         time.Duration
		refresher string
		ok        bool
	}{
		{"1800", 1800 * time.Second, "", true},
		{"90;refresher=uac", 90 * time.Second, "uac", true},
		{" 600 ; Refresher = UAS ;x=1", 600 * time.Second, "uas", true},
		{"0", 0, "", false},
		{"-5", 0, "", false},
		{"12345678901", 0, "", false},
		{"600;refresher=both", 0, "", false},
		{"", 0, "", false},
	} {
		d, r, err := callctl.ParseSessionExpires(tc.in)
		if (err == nil) != tc.ok || d != tc.d || r != tc.refresher {
			t.Errorf("parse %q = %v %q %v", tc.in, d, r, err)
		}
	}
}

// FuzzSessionExpires: no Session-Expires value a peer sends makes the
// parser panic, and what it accepts is a positive interval with a known
// refresher.
func FuzzSessionExpires(f *testing.F) {
	for _, s := range []string{"1800", "90;refresher=uac", "600;refresher=uas;x", "0", ";;", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, r, err := callctl.ParseSessionExpires(s)
		if err != nil {
			return
		}
		if d <= 0 || (r != "" && r != "uac" && r != "uas") {
			t.Fatalf("%q = %v %q", s, d, r)
		}
	})
}
