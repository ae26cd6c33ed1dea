package callctl_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/phone"
)

// runServer runs a Server on loopback with deps (Authorizer and Media
// filled in when nil) until the test ends.
func runServer(t *testing.T, trunk string, deps callctl.Deps) *callctl.Server {
	t.Helper()
	if deps.Authorizer == nil {
		deps.Authorizer = callctltest.Allow("person-1")
	}
	if deps.Media == nil {
		deps.Media = (&callctltest.Relays{}).Factory()
	}
	if deps.OnCallEnd == nil {
		deps.OnCallEnd = callctltest.NewRecords(16).OnCallEnd
	}
	srv, err := callctl.New(callctl.Config{
		Listen:    "127.0.0.1:0",
		Terminals: []callctl.Terminal{{ID: "T1", SIPUser: portUser, Password: portPass}},
		Trunk:     callctl.Trunk{Address: trunk},
	}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLong):
			t.Error("Run did not return")
		}
	})
	return srv
}

// TestAnsweredCallReportsTrunkDialog checks that a bridged call reports
// its trunk and port dialogs, from which a restarted appliance can end
// them.
func TestAnsweredCallReportsTrunkDialog(t *testing.T) {
	fam, err := phone.NewFamily(phone.FamilyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fam.Close() })
	answered := make(chan callctl.AnsweredCall, 1)
	srv := runServer(t, fam.Addr().String(), callctl.Deps{OnCallAnswered: func(a callctl.AnsweredCall) { answered <- a }})
	p, err := phone.NewPort(phone.PortConfig{Appliance: srv.Addr().String(), User: portUser, Password: portPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := p.Dial(ctxT(t), "0611223344", nil)
	if err != nil {
		t.Fatal(err)
	}
	var a callctl.AnsweredCall
	select {
	case a = <-answered:
	case <-time.After(waitLong):
		t.Fatal("OnCallAnswered not called")
	}
	d := a.Trunk
	var target sip.Uri
	if d.CallID != a.CallID || !strings.Contains(d.From, "tag=") || !strings.Contains(d.To, "tag=") ||
		d.CSeq == 0 || !strings.EqualFold(d.Transport, "udp") || sip.ParseUri(d.RemoteTarget, &target) != nil || a.Answer.IsZero() {
		t.Fatalf("answered call = %+v", a)
	}
	pd := a.Port
	if pd.CallID == "" || pd.CallID == a.CallID || !strings.Contains(pd.From, "tag=") || !strings.Contains(pd.To, "tag=") ||
		!strings.Contains(pd.RemoteTarget, portUser) || pd.CSeq == 0 {
		t.Fatalf("port dialog = %+v", pd)
	}
	if err := c.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// fakeTrunk is a UDP socket that answers each request with the status
// the test gives and hands the request over.
type fakeTrunk struct {
	conn *net.UDPConn
}

func newFakeTrunk(t *testing.T) *fakeTrunk {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeTrunk{conn: c}
}

func (f *fakeTrunk) addr() string { return f.conn.LocalAddr().String() }

// answer waits for a request, answers it with code (none when 0) and
// returns it.
func (f *fakeTrunk) answer(t *testing.T, code int) *sip.Request {
	t.Helper()
	buf := make([]byte, 65535)
	if err := f.conn.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	n, from, err := f.conn.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no request at the trunk: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("not a request: %s", buf[:n])
	}
	if code != 0 {
		res := sip.NewResponseFromRequest(req, code, "X", nil)
		if _, err := f.conn.WriteToUDP([]byte(res.String()), from); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// TestEndDialogSendsBye checks the BYE a restarted appliance sends from
// a stored dialog: to the first route, within the dialog (Call-ID, tags),
// with a CSeq beyond any the dialog used; a 200 or a 481 ends it, any
// other answer is an error.
func TestEndDialogSendsBye(t *testing.T) {
	trunk := newFakeTrunk(t)
	srv := runServer(t, trunk.addr(), callctl.Deps{})
	d := callctl.Dialog{
		CallID:       "3c1e1b2a-crashed",
		From:         "<sip:kinline@127.0.0.1>;tag=ourtag",
		To:           "<sip:0611223344@trunk.example>;tag=theirtag",
		RemoteTarget: "sip:far@192.0.2.9:5099",
		RouteSet:     []string{fmt.Sprintf("<sip:%s;lr>", trunk.addr())},
		CSeq:         7,
		Transport:    "UDP",
	}
	for _, tc := range []struct {
		code int
		ok   bool
	}{{200, true}, {481, true}, {486, false}} {
		errc := make(chan error, 1)
		go func() { errc <- srv.EndDialog(ctxT(t), d) }()
		req := trunk.answer(t, tc.code)
		if req.Method != sip.BYE || req.Recipient.Host != "192.0.2.9" || req.CallID().Value() != d.CallID ||
			req.CSeq().SeqNo <= d.CSeq || req.Route() == nil {
			t.Fatalf("BYE:\n%s", req)
		}
		if tag, _ := req.From().Params.Get("tag"); tag != "ourtag" {
			t.Fatalf("From tag %q", tag)
		}
		if tag, _ := req.To().Params.Get("tag"); tag != "theirtag" {
			t.Fatalf("To tag %q", tag)
		}
		err := <-errc
		if tc.ok && err != nil {
			t.Fatalf("%d: EndDialog = %v", tc.code, err)
		}
		if !tc.ok && !errors.Is(err, callctl.ErrDialog) {
			t.Fatalf("%d: EndDialog = %v, want ErrDialog", tc.code, err)
		}
	}
	if err := srv.EndDialog(ctxT(t), callctl.Dialog{RemoteTarget: "sip:x@127.0.0.1"}); !errors.Is(err, callctl.ErrDialog) {
		t.Fatalf("EndDialog of an empty dialog = %v", err)
	}
}
