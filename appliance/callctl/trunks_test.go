package callctl_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/appliance/callctl/trunks"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// attemptTimeout is the first trunk's Timeout in these tests (fake clock).
const attemptTimeout = 3 * time.Second

// withTrunks replaces the single trunk by ts and routes rs.
func withTrunks(rs []trunks.Route, ts ...trunks.Trunk) func(*callctl.Config) {
	return func(c *callctl.Config) {
		c.Trunk = callctl.Trunk{}
		c.Trunks, c.Routes = ts, rs
	}
}

// familyInvite waits for the family phone's next INVITE.
func trunkFamilyInvite(t *testing.T, f *phone.Family) phone.FamilyCall {
	t.Helper()
	select {
	case fc := <-f.Invites():
		return fc
	case <-time.After(waitLong):
		t.Fatal("the family phone got no INVITE")
		return phone.FamilyCall{}
	}
}

// responded waits until the appliance has read a trunk's first
// provisional answer to attempt n (its log says so).
func trunkResponded(t *testing.T, e *env, trunk string, status int) {
	t.Helper()
	want := "msg=\"trunk responded\" "
	tail := fmt.Sprintf("trunk=%s attempt=1 status=%d", trunk, status)
	testkit.Eventually(t, waitLong, trunk+" read", func() bool {
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, want) && strings.HasSuffix(l, tail) {
				return true
			}
		}
		return false
	})
}

// noFamilyInvite fails if the family phone has been sent an INVITE.
func trunkNoFamilyInvite(t *testing.T, f *phone.Family, when string) {
	t.Helper()
	select {
	case fc := <-f.Invites():
		t.Fatalf("%s: the family phone was rung through the second trunk (Call-ID %s)", when, fc.CallID)
	default:
	}
}

type trunkCallResult struct {
	res phone.Result
	err error
}

// dial places a call from port1 in the background.
func trunkDial(t *testing.T, e *env, number string, talk time.Duration) <-chan trunkCallResult {
	t.Helper()
	p := e.port(t, portUser, portPass)
	out := make(chan trunkCallResult, 1)
	ctx := ctxT(t)
	go func() {
		res, err := p.Call(ctx, number, talk)
		out <- trunkCallResult{res, err}
	}()
	return out
}

func trunkResult(t *testing.T, ch <-chan trunkCallResult) phone.Result {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("call: %v", r.err)
		}
		return r.res
	case <-time.After(waitLong):
		t.Fatal("the call did not end")
		return phone.Result{}
	}
}

// TestTrunkLegacyConfigOnRecord: the single Trunk of earlier configs is
// the trunk named "trunk", and the record says so.
func TestTrunkLegacyConfigOnRecord(t *testing.T) {
	e := start(t, opts{})
	if st := e.srv.TrunkStatus(); len(st) != 1 || st[0].Name != trunks.DefaultName || !st[0].Up {
		t.Fatalf("trunks = %+v", st)
	}
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call: %+v %v", res, err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted || rec.Trunk != trunks.DefaultName {
		t.Fatalf("record = %+v", rec)
	}
}

// TestTrunkFailover5xx: the first trunk answers 503 (after 100 Trying):
// its transaction is ACKed and the call goes to the second, which
// answers; the port never hears the 503, and the record names the
// second trunk. The second attempt has a Call-ID of its own.
func TestTrunkFailover5xx(t *testing.T) {
	raw := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "bad", Address: raw.Addr(), Timeout: attemptTimeout},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	call := trunkDial(t, e, "0611223344", 200*time.Millisecond)
	inv := raw.Next(sip.INVITE).req
	raw.Reply(inv, 100, "Trying", nil)
	raw.Reply(inv, 503, "Service Unavailable", nil)
	if ack := raw.Next(sip.ACK).req; ack.CallID().Value() != inv.CallID().Value() {
		t.Fatalf("ACK for another call: %s", ack.CallID().Value())
	}
	fc := trunkFamilyInvite(t, e.family)
	if fc.CallID == inv.CallID().Value() {
		t.Errorf("the second attempt reused the first's Call-ID %s", fc.CallID)
	}
	res := trunkResult(t, call)
	if !res.Answered || res.Code != 200 {
		t.Fatalf("port got %+v", res)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Trunk != "good" || rec.CallID != inv.CallID().Value() {
		t.Fatalf("record = %+v (first attempt's Call-ID %s)", rec, inv.CallID().Value())
	}
	if st := e.srv.TrunkStatus(); st[0].Active != 0 || st[1].Active != 0 {
		t.Errorf("call slots not released: %+v", st)
	}
}

// TestTrunkLastTrunk5xxRelayed: when every trunk answers 503 the port gets
// the last one's answer and the record names the last trunk tried.
func TestTrunkLastTrunk5xxRelayed(t *testing.T) {
	a, b := newRawTrunk(t), newRawTrunk(t)
	e := start(t, opts{cfg: withTrunks(nil,
		trunks.Trunk{Name: "a", Address: a.Addr()},
		trunks.Trunk{Name: "b", Address: b.Addr()},
	)})
	call := trunkDial(t, e, "0611223344", 0)
	a.Reply(a.Next(sip.INVITE).req, 500, "Server Internal Error", nil)
	b.Reply(b.Next(sip.INVITE).req, 503, "Service Unavailable", nil)
	if res := trunkResult(t, call); res.Code != 503 || res.Answered {
		t.Fatalf("port got %+v, want 503", res)
	}
	if rec := e.record(t); rec.Disposition != wire.DispFailed || rec.Trunk != "b" || !strings.Contains(rec.Reason, "503") {
		t.Fatalf("record = %+v", rec)
	}
}

// TestTrunkBusyIsNotFailover: a 486 is the called party's answer: the
// next trunk is not tried.
func TestTrunkBusyIsNotFailover(t *testing.T) {
	a := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil, trunks.Trunk{Name: "a", Address: a.Addr()}, trunks.Trunk{Name: "b", Address: c.Trunk.Address})(c)
	}})
	call := trunkDial(t, e, "0611223344", 0)
	a.Reply(a.Next(sip.INVITE).req, 486, "Busy Here", nil)
	if res := trunkResult(t, call); res.Code != 486 {
		t.Fatalf("port got %+v, want 486", res)
	}
	if rec := e.record(t); rec.Disposition != wire.DispBusy || rec.Trunk != "a" {
		t.Fatalf("record = %+v", rec)
	}
	trunkNoFamilyInvite(t, e.family, "after a 486")
}

// TestTrunkNoAnswerAbandoned: the first trunk sends nothing at all. After
// its Timeout its INVITE is given up and the second trunk carries the
// call. When the first wakes up late, its 180 is CANCELled and its 200
// ACKed and hung up at once: never bridged, never a second call.
func TestTrunkNoAnswerAbandoned(t *testing.T) {
	raw := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "silent", Address: raw.Addr(), Timeout: attemptTimeout},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	call := trunkDial(t, e, "0611223344", 300*time.Millisecond)
	inv := raw.Next(sip.INVITE).req
	trunkNoFamilyInvite(t, e.family, "before the timeout")
	testkit.Eventually(t, waitLong, "the ring and attempt timers", func() bool { return e.clk.Pending() >= 2 })
	e.clk.Advance(attemptTimeout)
	trunkFamilyInvite(t, e.family)
	res := trunkResult(t, call)
	if !res.Answered {
		t.Fatalf("port got %+v", res)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted || rec.Trunk != "good" {
		t.Fatalf("record = %+v", rec)
	}

	// The silent trunk wakes up: 180, then 200.
	raw.Drain() // INVITE retransmissions sent before the give-up
	raw.Reply(inv, 180, "Ringing", nil)
	cancel := raw.Next(sip.CANCEL).req
	if cancel.CallID().Value() != inv.CallID().Value() || cancel.Via().Params.GetOr("branch", "c") != inv.Via().Params.GetOr("branch", "i") {
		t.Fatalf("CANCEL does not match the INVITE:\n%s", cancel)
	}
	raw.Reply(cancel, 200, "OK", nil)
	raw.Reply(inv, 200, "OK", raw.SDP())
	raw.Next(sip.ACK)
	bye := raw.Next(sip.BYE).req
	raw.Reply(bye, 200, "OK", nil)
	if len(e.relays.All()) != 1 {
		t.Errorf("%d media sessions: the late answer must not get one", len(e.relays.All()))
	}
}

// TestTrunkCancelledBeforeNextTried: the first trunk sends 100 Trying and
// never rings. After its Timeout it is CANCELled, and the second trunk is
// not tried until the first has given its final answer (487): the
// appliance waits through the CANCEL's retransmission, the family phone
// stays silent, and only the 487 lets the call move on.
func TestTrunkCancelledBeforeNextTried(t *testing.T) {
	raw := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "stalls", Address: raw.Addr(), Timeout: attemptTimeout},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	call := trunkDial(t, e, "0611223344", 200*time.Millisecond)
	inv := raw.Next(sip.INVITE).req
	raw.Reply(inv, 100, "Trying", nil)
	trunkResponded(t, e, "stalls", 100)
	e.clk.Advance(attemptTimeout)
	cancel := raw.Next(sip.CANCEL).req
	again := raw.Next(sip.CANCEL) // unanswered: retransmitted (T1 later)
	trunkNoFamilyInvite(t, e.family, "CANCEL unanswered")
	raw.Reply(again.req, 200, "OK", nil)
	trunkNoFamilyInvite(t, e.family, "CANCEL answered, no 487 yet")
	raw.Reply(inv, 487, "Request Terminated", nil)
	if ack := raw.Next(sip.ACK).req; ack.CallID().Value() != cancel.CallID().Value() {
		t.Fatalf("ACK of the 487 for another call")
	}
	trunkFamilyInvite(t, e.family)
	if res := trunkResult(t, call); !res.Answered {
		t.Fatalf("port got %+v", res)
	}
	if rec := e.record(t); rec.Trunk != "good" || rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}

// TestTrunk200CrossingCancelWins: the first trunk is CANCELled for not
// ringing in time, but its 200 crosses the CANCEL: that trunk carries
// the call and the second is never tried.
func TestTrunk200CrossingCancelWins(t *testing.T) {
	raw := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "late", Address: raw.Addr(), Timeout: attemptTimeout},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	call := trunkDial(t, e, "0611223344", 300*time.Millisecond)
	inv := raw.Next(sip.INVITE).req
	raw.Reply(inv, 100, "Trying", nil)
	trunkResponded(t, e, "late", 100)
	e.clk.Advance(attemptTimeout)
	cancel := raw.Next(sip.CANCEL).req
	raw.Reply(cancel, 200, "OK", nil)
	raw.Reply(inv, 200, "OK", raw.SDP()) // the family answered as the CANCEL flew
	raw.Next(sip.ACK)
	res := trunkResult(t, call)
	if !res.Answered {
		t.Fatalf("port got %+v", res)
	}
	bye := raw.Next(sip.BYE).req
	raw.Reply(bye, 200, "OK", nil)
	if rec := e.record(t); rec.Trunk != "late" || rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
	trunkNoFamilyInvite(t, e.family, "after the call")
}

// TestTrunkRingingIsNeverLeft: a trunk that rang (180) is not left for
// another however long it rings: its Timeout only covers the wait for
// ringing, so the family's phone is never rung by two trunks at once.
func TestTrunkRingingIsNeverLeft(t *testing.T) {
	raw := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "rings", Address: raw.Addr(), Timeout: attemptTimeout},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	call := trunkDial(t, e, "0611223344", 200*time.Millisecond)
	inv := raw.Next(sip.INVITE).req
	raw.Reply(inv, 180, "Ringing", nil)
	trunkResponded(t, e, "rings", 180)
	e.clk.Advance(2 * attemptTimeout)
	raw.Reply(inv, 200, "OK", raw.SDP())
	raw.Next(sip.ACK)
	if res := trunkResult(t, call); !res.Answered {
		t.Fatalf("port got %+v", res)
	}
	raw.Reply(raw.Next(sip.BYE).req, 200, "OK", nil)
	if rec := e.record(t); rec.Trunk != "rings" {
		t.Fatalf("record = %+v", rec)
	}
	for _, r := range raw.Drain() {
		if r.Method == sip.CANCEL {
			t.Fatalf("a ringing trunk was cancelled:\n%s", r)
		}
	}
	trunkNoFamilyInvite(t, e.family, "after the call")
}

// TestTrunkMarkedDownByOptions: a trunk whose OPTIONS keep-alives go
// unanswered is marked down and calls skip it (no INVITE reaches it, no
// Timeout is waited); the first answered OPTIONS brings it back.
func TestTrunkMarkedDownByOptions(t *testing.T) {
	raw := newRawTrunk(t)
	const every = 30 * time.Second
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "probed", Address: raw.Addr(), Domain: "carrier.example", Timeout: attemptTimeout, KeepAlive: every, DownAfter: 2},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	// Two OPTIONS unanswered, each given up after Timeout.
	opt := raw.Next(sip.OPTIONS).req
	if opt.Recipient.Host != "carrier.example" {
		t.Errorf("OPTIONS Request-URI %s, want the trunk's domain", opt.Recipient.String())
	}
	testkit.Eventually(t, waitLong, "the probe's timer", func() bool { return e.clk.Pending() >= 1 })
	e.clk.Advance(attemptTimeout)
	testkit.Eventually(t, waitLong, "the next probe armed", func() bool { return e.clk.Pending() >= 1 })
	e.clk.Advance(every)
	raw.Next(sip.OPTIONS)
	testkit.Eventually(t, waitLong, "the second probe's timer", func() bool { return e.clk.Pending() >= 1 })
	e.clk.Advance(attemptTimeout)
	testkit.Eventually(t, waitLong, "the trunk marked down", func() bool { return !e.srv.TrunkStatus()[0].Up })

	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call with the first trunk down: %+v %v", res, err)
	}
	rec := e.record(t)
	if rec.Trunk != "good" {
		t.Fatalf("record = %+v", rec)
	}
	for _, r := range raw.Drain() {
		if r.Method == sip.INVITE {
			t.Fatal("a trunk marked down was sent an INVITE")
		}
	}
	if fc := trunkFamilyInvite(t, e.family); fc.CallID != rec.CallID {
		t.Errorf("the first INVITE sent (a skipped trunk is no attempt) has Call-ID %s, want the call id %s", fc.CallID, rec.CallID)
	}

	// It answers the next OPTIONS: up, and first in line again.
	testkit.Eventually(t, waitLong, "the next probe armed", func() bool { return e.clk.Pending() >= 1 })
	e.clk.Advance(every)
	raw.Reply(raw.Next(sip.OPTIONS).req, 200, "OK", nil)
	testkit.Eventually(t, waitLong, "the trunk up again", func() bool { return e.srv.TrunkStatus()[0].Up })
	call := trunkDial(t, e, "0611223344", 0)
	raw.Reply(raw.Next(sip.INVITE).req, 486, "Busy Here", nil)
	if res := trunkResult(t, call); res.Code != 486 {
		t.Fatalf("port got %+v", res)
	}
	if rec := e.record(t); rec.Trunk != "probed" {
		t.Fatalf("record = %+v", rec)
	}
}

// TestTrunkCallLimit: a trunk carrying its MaxCalls is skipped while the
// call holds its slot; the slot is free again once that call ends.
func TestTrunkCallLimit(t *testing.T) {
	overflow, err := phone.NewFamily(phone.FamilyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { overflow.Close() })
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "small", Address: c.Trunk.Address, MaxCalls: 1},
			trunks.Trunk{Name: "overflow", Address: overflow.Addr().String()},
		)(c)
	}})
	first := trunkDial(t, e, "0611223344", 4*time.Second)
	trunkFamilyInvite(t, e.family)
	testkit.Eventually(t, waitLong, "the first call on small", func() bool { return e.srv.TrunkStatus()[0].Active == 1 })
	p2 := e.port(t, "port2", "pw2")
	res, err := p2.Call(ctxT(t), "0622334455", 100*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("second call: %+v %v", res, err)
	}
	select {
	case fc := <-overflow.Invites():
		if fc.Number != "0622334455" {
			t.Errorf("overflow got %q", fc.Number)
		}
	case <-time.After(waitLong):
		t.Fatal("the second call did not overflow")
	}
	if rec := e.record(t); rec.Number != "0622334455" || rec.Trunk != "overflow" {
		t.Fatalf("second record = %+v", rec)
	}
	if r := trunkResult(t, first); !r.Answered {
		t.Fatalf("first call: %+v", r)
	}
	if rec := e.record(t); rec.Trunk != "small" {
		t.Fatalf("first record = %+v", rec)
	}
	testkit.Eventually(t, waitLong, "small's slot released", func() bool { return e.srv.TrunkStatus()[0].Active == 0 })
	if res, err := p2.Call(ctxT(t), "0633445566", 100*time.Millisecond); err != nil || !res.Answered {
		t.Fatalf("third call: %+v %v", res, err)
	}
	if rec := e.record(t); rec.Trunk != "small" {
		t.Fatalf("third record = %+v", rec)
	}
}

// TestTrunkRoutesByPrefixAndType: international calls (by the rate's
// destination type) take their own trunk, "0800" numbers theirs by
// prefix, everything else the catch-all; a number no route matches is
// refused with 503 and no trunk on its record.
func TestTrunkRoutesByPrefixAndType(t *testing.T) {
	intl, err := phone.NewFamily(phone.FamilyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { intl.Close() })
	auth := callctl.AuthorizerFunc(func(_ context.Context, r callctl.AuthRequest) callctl.AuthResult {
		typ := wire.DestNational
		if strings.HasPrefix(r.Number, "+") || strings.HasPrefix(r.Number, "00") {
			typ = wire.DestInternational
		}
		return callctl.AuthResult{Allowed: true, PersonID: "p1", Record: true, DestinationType: typ}
	})
	var e *env
	e = start(t, opts{auth: auth, cfg: func(c *callctl.Config) {
		withTrunks([]trunks.Route{
			{Types: []string{wire.DestInternational}, Trunks: []string{"intl"}},
			{Prefix: "0", Types: []string{wire.DestNational}, Trunks: []string{"national"}},
		},
			trunks.Trunk{Name: "national", Address: c.Trunk.Address},
			trunks.Trunk{Name: "intl", Address: intl.Addr().String()},
		)(c)
	}})
	p := e.port(t, portUser, portPass)
	for _, c := range []struct{ number, trunk string }{{"0034911223344", "intl"}, {"0611223344", "national"}} {
		res, err := p.Call(ctxT(t), c.number, 100*time.Millisecond)
		if err != nil || !res.Answered {
			t.Fatalf("%s: %+v %v", c.number, res, err)
		}
		if rec := e.record(t); rec.Trunk != c.trunk {
			t.Fatalf("%s went to %q, want %q", c.number, rec.Trunk, c.trunk)
		}
	}
	res, err := p.Call(ctxT(t), "611223344", 0) // national, not starting with 0: no route
	if err != nil || res.Code != 503 {
		t.Fatalf("unrouted call: %+v %v", res, err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispFailed || rec.Trunk != "" || !strings.Contains(rec.Reason, "no route") {
		t.Fatalf("record = %+v", rec)
	}
}

// TestSippTrunkFailover503: two sipp trunks; the first answers 503, the
// second answers and echoes RTP. The call is answered through the second,
// the port never hears the 503, both scenarios pass (the 503 was ACKed).
func TestSippTrunkFailover503(t *testing.T) {
	sipprun.Need(t)
	// The trunks bind first, on ports sipprun retries until free: a port
	// chosen before the server starts could be taken by its own sockets.
	bad := sipprun.Start(t, 0, "trunk_503.xml")
	good := sipprun.Start(t, 0, "trunk_answer.xml", "-rtp_echo")
	e := start(t, opts{cfg: withTrunks(nil,
		trunks.Trunk{Name: "carrier-a", Address: bad.Addr()},
		trunks.Trunk{Name: "carrier-b", Address: good.Addr()},
	)})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 1500*time.Millisecond)
	if err != nil || !res.Answered || res.Code != 200 {
		t.Fatalf("call: %+v %v", res, err)
	}
	if err := bad.Wait(t); err != nil {
		t.Fatalf("sipp 503 trunk: %v", err)
	}
	if err := good.Wait(t); err != nil {
		t.Fatalf("sipp answering trunk: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted || rec.Trunk != "carrier-b" {
		t.Fatalf("record = %+v", rec)
	}
	if res.RTP.Received < 20 {
		t.Errorf("no echoed RTP through the second trunk: %+v", res.RTP)
	}
	if strings.Count(good.Messages(), "INVITE sip:0611223344@") == 0 || strings.Contains(good.Messages(), "CANCEL sip:") {
		t.Errorf("the answering trunk's INVITE is missing or it was cancelled:\n%s", good.Messages())
	}
}

// TestSippTrunkFailoverSilent: the first sipp trunk receives the INVITE
// and answers nothing; after its Timeout (the injected clock) the second
// sipp trunk carries the call.
func TestSippTrunkFailoverSilent(t *testing.T) {
	sipprun.Need(t)
	dead := sipprun.Start(t, 0, "trunk_silent.xml") // bound first: see TestSippTrunkFailover503
	good := sipprun.Start(t, 0, "trunk_answer.xml", "-rtp_echo")
	e := start(t, opts{cfg: withTrunks(nil,
		trunks.Trunk{Name: "dead", Address: dead.Addr(), Timeout: attemptTimeout},
		trunks.Trunk{Name: "alive", Address: good.Addr()},
	)})
	call := trunkDial(t, e, "0611223344", 1500*time.Millisecond)
	if err := dead.Wait(t); err != nil { // the INVITE reached the dead trunk
		t.Fatalf("sipp silent trunk: %v", err)
	}
	testkit.Eventually(t, waitLong, "the ring and attempt timers", func() bool { return e.clk.Pending() >= 2 })
	e.clk.Advance(attemptTimeout)
	res := trunkResult(t, call)
	if !res.Answered {
		t.Fatalf("port got %+v", res)
	}
	if err := good.Wait(t); err != nil {
		t.Fatalf("sipp answering trunk: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted || rec.Trunk != "alive" {
		t.Fatalf("record = %+v", rec)
	}
}

// TestTrunkConfigValidate: the single Trunk and Trunks are exclusive, a
// bad trunk or route is an ErrConfig, and a single Trunk validates with or
// without WithDefaults.
func TestTrunkConfigValidate(t *testing.T) {
	term := []callctl.Terminal{{ID: "T1", SIPUser: "u", Password: "p"}}
	good := callctl.Config{Listen: "127.0.0.1:0", PublicIP: "127.0.0.1", Terminals: term, Trunk: callctl.Trunk{Address: "10.0.0.1:5060"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("single trunk, no defaults: %v", err)
	}
	if err := good.WithDefaults().Validate(); err != nil {
		t.Fatalf("single trunk with defaults: %v", err)
	}
	for name, mod := range map[string]func(*callctl.Config){
		"no trunk": func(c *callctl.Config) { c.Trunk = callctl.Trunk{} },
		"both":     func(c *callctl.Config) { c.Trunks = []trunks.Trunk{{Name: "a", Address: "10.0.0.2:5060"}} },
		"bad route": func(c *callctl.Config) {
			c.Trunk = callctl.Trunk{}
			c.Trunks = []trunks.Trunk{{Name: "a", Address: "10.0.0.2:5060"}}
			c.Routes = []trunks.Route{{Trunks: []string{"b"}}}
		},
		"bad transport": func(c *callctl.Config) {
			c.Trunk = callctl.Trunk{}
			c.Trunks = []trunks.Trunk{{Name: "a", Address: "10.0.0.2:5060", Transport: "sctp"}}
		},
	} {
		c := good
		mod(&c)
		if _, err := callctl.New(c, callctl.Deps{Authorizer: callctltest.Allow("p"), Media: (&callctltest.Relays{}).Factory()}); !errors.Is(err, callctl.ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
	c := good
	c.Trunk = callctl.Trunk{}
	c.Trunks = []trunks.Trunk{{Name: "a", Address: "10.0.0.2:5060", Transport: "tcp"}}
	if c = c.WithDefaults(); !c.TCP {
		t.Error("a TCP trunk did not turn the TCP listener on")
	}
}

// TestTrunkTransportErrorFailsOver: a TCP trunk that refuses the
// connection is left for the next trunk at once.
func TestTrunkTransportErrorFailsOver(t *testing.T) {
	closed := freeTCPPort(t) // nothing listens there
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "refuses", Address: "127.0.0.1:" + strconv.Itoa(closed), Transport: "tcp"},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 100*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call: %+v %v", res, err)
	}
	if rec := e.record(t); rec.Trunk != "good" || rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}

// TestTrunk200CrossingRefusedCancelWins: the first trunk answers 200 just
// as the appliance CANCELs it (it did not ring in time) and so answers
// the CANCEL with 481. That trunk still wins:
// the call is bridged through it and the second trunk is never tried.
func TestTrunk200CrossingRefusedCancelWins(t *testing.T) {
	raw := newRawTrunk(t)
	var e *env
	e = start(t, opts{cfg: func(c *callctl.Config) {
		withTrunks(nil,
			trunks.Trunk{Name: "late", Address: raw.Addr(), Timeout: attemptTimeout},
			trunks.Trunk{Name: "good", Address: c.Trunk.Address},
		)(c)
	}})
	call := trunkDial(t, e, "0611223344", 300*time.Millisecond)
	inv := raw.Next(sip.INVITE).req
	raw.Reply(inv, 100, "Trying", nil)
	trunkResponded(t, e, "late", 100)
	e.clk.Advance(attemptTimeout)
	cancel := raw.Next(sip.CANCEL).req
	body := raw.SDP()
	raw.Reply(inv, 200, "OK", body) // answered as the CANCEL flew
	raw.Reply(cancel, 481, "Call/Transaction Does Not Exist", nil)
	// The INVITE's transaction is still read after our CANCEL: its 200
	// is acknowledged and carries the call.
	raw.Next(sip.ACK)
	res := trunkResult(t, call)
	if !res.Answered {
		t.Fatalf("port got %+v", res)
	}
	raw.Reply(raw.Next(sip.BYE).req, 200, "OK", nil)
	if rec := e.record(t); rec.Trunk != "late" || rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
	trunkNoFamilyInvite(t, e.family, "after the call")
}
