package callctl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

const (
	portUser = "port1"
	portPass = "s3cret-1"
	waitLong = 20 * time.Second
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	srv     *callctl.Server
	clk     *clock.Fake
	records *callctltest.Records
	relays  *callctltest.Relays
	family  *phone.Family
	logs    *syncBuf
	cfg     callctl.Config
	stop    func() error // cancels Run and returns its result
}

type opts struct {
	auth   callctl.Authorizer
	family phone.FamilyConfig
	media  callctl.MediaFactory
	cfg    func(*callctl.Config)
	// onBlocked receives Deps.OnNumberBlocked.
	onBlocked func(wire.NumberBlocked)
	// hotline is Deps.Hotline.
	hotline callctl.Hotline
	// names and speaker are Deps.Names and Deps.Speaker.
	names   callctl.Names
	speaker callctl.Speaker
}

func start(t testing.TB, o opts) *env {
	t.Helper()
	e := &env{clk: clock.NewFake(t0), records: callctltest.NewRecords(1 << 14), logs: &syncBuf{}}
	e.relays = &callctltest.Relays{Result: media.Result{Path: "/rec/x.wav", SHA256: strings.Repeat("ab", 32), Bytes: 1234, Format: "wav/pcmu-stereo"}}
	fam, err := phone.NewFamily(o.family)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fam.Close() })
	e.family = fam
	e.cfg = callctl.Config{
		Listen:    "127.0.0.1:0",
		Terminals: []callctl.Terminal{{ID: "T1", SIPUser: portUser, Password: portPass}, {ID: "T2", SIPUser: "port2", Password: "pw2"}},
		Trunk:     callctl.Trunk{Address: fam.Addr().String()},
	}
	if o.cfg != nil {
		o.cfg(&e.cfg)
	}
	if o.auth == nil {
		o.auth = callctltest.Allow("person-1")
	}
	mf := o.media
	if mf == nil {
		mf = e.relays.Factory()
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := callctl.New(e.cfg, callctl.Deps{Logger: log, Clock: e.clk, Authorizer: o.auth, Media: mf, OnCallEnd: e.records.OnCallEnd, OnNumberBlocked: o.onBlocked, Hotline: o.hotline, Names: o.names, Speaker: o.speaker})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	var runErr error
	e.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitLong):
				runErr = errors.New("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() || os.Getenv("CALLCTL_TEST_LOGS") != "" {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	e.srv = srv
	return e
}

func (e *env) port(t *testing.T, user, pass string) *phone.Port {
	t.Helper()
	p, err := phone.NewPort(phone.PortConfig{Appliance: e.srv.Addr().String(), User: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (e *env) record(t *testing.T) wire.CallRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	rec, err := e.records.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

func TestRegisterGoodCredentials(t *testing.T) {
	e := start(t, opts{})
	p := e.port(t, portUser, portPass)
	if err := p.Register(ctxT(t), 10*time.Minute); err != nil {
		t.Fatalf("register: %v", err)
	}
	b := e.srv.Bindings()
	if len(b) != 1 || b[0].Terminal != "T1" || b[0].User != portUser {
		t.Fatalf("bindings = %+v", b)
	}
	if got := b[0].Expires.Sub(t0); got != 10*time.Minute {
		t.Errorf("binding expires after %v, want 10m", got)
	}
	if !strings.Contains(b[0].Contact, p.Addr().String()) {
		t.Errorf("contact %q does not name the port at %s", b[0].Contact, p.Addr())
	}
	// The binding expires by the injected clock.
	e.clk.Advance(10*time.Minute + time.Second)
	if b := e.srv.Bindings(); len(b) != 0 {
		t.Fatalf("binding survived its expiry: %+v", b)
	}
	// Re-register, then unregister with Expires: 0.
	if err := p.Register(ctxT(t), time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(e.srv.Bindings()) != 1 {
		t.Fatal("no binding after re-register")
	}
	if err := p.Register(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	if b := e.srv.Bindings(); len(b) != 0 {
		t.Fatalf("binding survived unregister: %+v", b)
	}
}

func TestRegisterBadCredentials(t *testing.T) {
	e := start(t, opts{})
	for _, tc := range []struct{ user, pass string }{{portUser, "wrong"}, {"nobody", "x"}} {
		p := e.port(t, tc.user, tc.pass)
		err := p.Register(ctxT(t), time.Hour)
		var se *phone.StatusError
		if !errors.As(err, &se) || se.Code != 403 {
			t.Fatalf("register %s/%s: err = %v, want 403", tc.user, tc.pass, err)
		}
	}
	if !strings.Contains(e.logs.String(), "SIP authentication failed") || !strings.Contains(e.logs.String(), "level=WARN") {
		t.Errorf("no warning logged:\n%s", e.logs.String())
	}
	if len(e.srv.Bindings()) != 0 {
		t.Fatal("a bad REGISTER created a binding")
	}
	// The server keeps serving.
	if err := e.port(t, portUser, portPass).Register(ctxT(t), time.Hour); err != nil {
		t.Fatalf("good register after bad ones: %v", err)
	}
}

// exchange sends one raw datagram from a fresh socket and returns the
// first response (or "" after timeout). LOCAL in msg is replaced by the
// socket's address, so Via names it.
func exchange(t *testing.T, to string, msg string, timeout time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg = strings.ReplaceAll(msg, "LOCAL", c.LocalAddr().String())
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func rawInvite(local, appliance, callID, extra, body string) string {
	return fmt.Sprintf("INVITE sip:0123456789@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@%s>;tag=abc\r\n"+
		"To: <sip:0123456789@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:%s@%s>\r\n"+
		"%s"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		appliance, local, callID, portUser, appliance, appliance, callID, portUser, local, extra, len(body), body)
}

const offerSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"

func TestInviteWithoutAuthIsChallenged(t *testing.T) {
	e := start(t, opts{})
	res := exchange(t, e.srv.Addr().String(), rawInvite("LOCAL", e.srv.Addr().String(), "noauth-1", "", offerSDP), 5*time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 100") && !strings.HasPrefix(res, "SIP/2.0 407") {
		t.Fatalf("response: %q", res)
	}
	if !strings.HasPrefix(res, "SIP/2.0 407") {
		t.Fatalf("want 407, got %q", firstLine(res))
	}
	if !strings.Contains(res, "Proxy-Authenticate: Digest") || !strings.Contains(res, `realm="kinline"`) || !strings.Contains(res, "nonce=") {
		t.Fatalf("407 without a digest challenge:\n%s", res)
	}
	if e.records.Pending() != 0 {
		t.Fatal("an unauthenticated INVITE produced a call record")
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

func TestRefusedCall(t *testing.T) {
	var got callctl.AuthRequest
	var mu sync.Mutex
	auth := callctl.AuthorizerFunc(func(_ context.Context, r callctl.AuthRequest) callctl.AuthResult {
		mu.Lock()
		got = r
		mu.Unlock()
		return callctl.AuthResult{Reason: "number not approved", PersonID: "p7", PrisonNumber: "A1234", CardUID: "04AA"}
	})
	e := start(t, opts{auth: auth})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 403 || res.Reason != "number not approved" || res.Answered {
		t.Fatalf("result = %+v, want 403 number not approved", res)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispRefused || rec.Reason != "number not approved" || rec.Terminal != "T1" ||
		rec.Number != "0611223344" || rec.PersonID != "p7" || rec.PrisonNumber != "A1234" || rec.CardUID != "04AA" ||
		rec.Answer != nil || rec.Recording != nil || rec.CallID == "" || !rec.Start.Equal(t0) {
		t.Fatalf("record = %+v", rec)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Terminal != "T1" || got.Number != "0611223344" || got.CallID != rec.CallID || !got.Time.Equal(t0) {
		t.Fatalf("authorizer got %+v", got)
	}
	select {
	case inv := <-e.family.Invites():
		t.Fatalf("refused call reached the trunk: %+v", inv)
	default:
	}
}

func TestAllowedCallCompleted(t *testing.T) {
	e := start(t, opts{})
	p := e.port(t, portUser, portPass)
	var provisional []int
	c, err := p.Dial(ctxT(t), "0611223344", func(code int) { provisional = append(provisional, code) })
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	inv := <-e.family.Invites()
	if inv.Number != "0611223344" || !strings.Contains(string(inv.Offer), "PCMU/8000") || !strings.Contains(string(inv.Offer), "telephone-event/8000") {
		t.Fatalf("trunk INVITE: number %q offer:\n%s", inv.Number, inv.Offer)
	}
	relays := e.relays.All()
	if len(relays) != 1 {
		t.Fatalf("%d media sessions", len(relays))
	}
	r := relays[0]
	if !strings.Contains(string(inv.Offer), fmt.Sprintf("m=audio %d ", r.LocalAddr(media.LegB).Port())) {
		t.Errorf("trunk offer does not name leg B %s:\n%s", r.LocalAddr(media.LegB), inv.Offer)
	}
	if c.MediaRemote() != r.LocalAddr(media.LegA) {
		t.Errorf("port sends RTP to %s, want leg A %s", c.MediaRemote(), r.LocalAddr(media.LegA))
	}
	if len(provisional) == 0 || provisional[0] != 180 {
		t.Errorf("provisional = %v, want 180 relayed", provisional)
	}
	if calls := e.srv.ActiveCalls(); len(calls) != 1 || calls[0].Answer == nil || calls[0].Terminal != "T1" {
		t.Errorf("active calls = %+v", calls)
	}
	// A session refresh from the port keeps the anchored media.
	code, body, err := c.Refresh(ctxT(t))
	if err != nil || code != 200 || !strings.Contains(string(body), fmt.Sprintf("m=audio %d ", r.LocalAddr(media.LegA).Port())) {
		t.Fatalf("re-INVITE: %d %v\n%s", code, err, body)
	}
	// RTP flows both ways through the relay. Wait until the relay has
	// forwarded a margin beyond what the family phone must have counted, so
	// the hang-up below cannot race the last packets on a loaded machine.
	if !callctltest.WaitFor(waitLong, func() bool {
		pk := r.Packets()
		return c.Stats().Received >= 10 && pk[0] >= 14 && pk[1] >= 10
	}) {
		t.Fatalf("port received %d RTP packets, relay %v", c.Stats().Received, r.Packets())
	}
	e.clk.Advance(90 * time.Second)
	if err := c.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Answer == nil || !rec.Answer.Equal(t0) || !rec.End.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("record = %+v", rec)
	}
	if rec.PersonID != "person-1" || rec.Recording == nil || rec.Recording.ID != rec.CallID || rec.Recording.Bytes != 1234 || rec.Recording.Format != "wav/pcmu-stereo" {
		t.Fatalf("record = %+v recording %+v", rec, rec.Recording)
	}
	var fc phone.FamilyCall
	select {
	case fc = <-e.family.Results():
	case <-time.After(waitLong):
		t.Fatal("family phone never finished")
	}
	if !fc.Answered || fc.HungUp || fc.RTP.Received < 10 {
		t.Fatalf("family call = %+v", fc)
	}
	pk := r.Packets()
	if pk[0] < 10 || pk[1] < 10 {
		t.Fatalf("relay packets = %v", pk)
	}
	if len(e.srv.ActiveCalls()) != 0 {
		t.Fatal("call still active after hangup")
	}
}

func TestTrunkHangsUp(t *testing.T) {
	e := start(t, opts{family: phone.FamilyConfig{HangupAfter: 300 * time.Millisecond}})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Answered || !res.RemoteHangup {
		t.Fatalf("result = %+v", res)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Answer == nil || rec.Reason != "called party hung up" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestTrunkErrors(t *testing.T) {
	for _, tc := range []struct {
		code int
		disp string
	}{
		{486, wire.DispBusy}, {600, wire.DispBusy}, {480, wire.DispNoAnswer}, {603, wire.DispRejected}, {404, wire.DispFailed},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			e := start(t, opts{family: phone.FamilyConfig{Reject: tc.code}})
			res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Code != tc.code || res.Answered {
				t.Fatalf("port got %+v, want %d relayed", res, tc.code)
			}
			rec := e.record(t)
			if rec.Disposition != tc.disp || rec.Answer != nil || !strings.HasPrefix(rec.Reason, fmt.Sprintf("trunk: %d", tc.code)) {
				t.Fatalf("record = %+v, want %s", rec, tc.disp)
			}
			if n := len(e.relays.All()); n != 1 {
				t.Fatalf("%d media sessions for one attempt", n)
			}
		})
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	e := start(t, opts{family: phone.FamilyConfig{NoAnswer: true}})
	p := e.port(t, portUser, portPass)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	_, err := p.Dial(ctx, "0611223344", func(code int) {
		if code == 180 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("dial err = %v, want cancelled", err)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCancelled || rec.Answer != nil {
		t.Fatalf("record = %+v", rec)
	}
	select {
	case fc := <-e.family.Results():
		if !fc.Cancelled || fc.Answered {
			t.Fatalf("family call = %+v, want cancelled", fc)
		}
	case <-time.After(waitLong):
		t.Fatal("trunk leg was not cancelled")
	}
}

func TestRingTimeout(t *testing.T) {
	e := start(t, opts{family: phone.FamilyConfig{NoAnswer: true}, cfg: func(c *callctl.Config) { c.RingTimeout = 45 * time.Second }})
	p := e.port(t, portUser, portPass)
	ringing := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		_, err := p.Dial(ctxT(t), "0611223344", func(code int) { once.Do(func() { close(ringing) }) })
		errc <- err
	}()
	select {
	case <-ringing:
	case <-time.After(waitLong):
		t.Fatal("no ringing")
	}
	e.clk.Advance(44 * time.Second)
	select {
	case err := <-errc:
		t.Fatalf("call ended before the ring timeout: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	e.clk.Advance(time.Second)
	var se *phone.StatusError
	if err := <-errc; !errors.As(err, &se) || se.Code != 480 {
		t.Fatalf("dial err = %v, want 480", err)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispNoAnswer {
		t.Fatalf("record = %+v", rec)
	}
	if fc := <-e.family.Results(); !fc.Cancelled {
		t.Fatalf("family call = %+v, want cancelled", fc)
	}
}

func TestEndCallAndMaxDuration(t *testing.T) {
	e := start(t, opts{cfg: func(c *callctl.Config) { c.MaxDuration = 10 * time.Minute }})
	p := e.port(t, portUser, portPass)

	c, err := p.Dial(ctxT(t), "0611223344", nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.srv.ActiveCalls()
	if len(calls) != 1 {
		t.Fatalf("active = %+v", calls)
	}
	if err := e.srv.EndCall(ctxT(t), calls[0].CallID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.RemoteHangup():
	case <-time.After(waitLong):
		t.Fatal("port not hung up by EndCall")
	}
	if rec := e.record(t); rec.Disposition != wire.DispEnded || rec.CallID != calls[0].CallID {
		t.Fatalf("record = %+v", rec)
	}
	if fc := <-e.family.Results(); !fc.Answered {
		t.Fatalf("family = %+v", fc)
	}
	if err := e.srv.EndCall(ctxT(t), "nope"); !errors.Is(err, callctl.ErrNoSuchCall) {
		t.Fatalf("EndCall(unknown) = %v", err)
	}

	c2, err := p.Dial(ctxT(t), "0611223344", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Minute)
	select {
	case <-c2.RemoteHangup():
	case <-time.After(waitLong):
		t.Fatal("port not hung up at the time limit")
	}
	if rec := e.record(t); rec.Disposition != wire.DispLimited {
		t.Fatalf("record = %+v", rec)
	}
}

func TestHostileInput(t *testing.T) {
	e := start(t, opts{})
	addr := e.srv.Addr().String()
	local := "LOCAL"
	hostile := map[string]string{
		"garbage":        "\x00\xff\xfe garbage \r\n\r\n\x01\x02",
		"bad via":        strings.Replace(rawInvite(local, addr, "h1", "", offerSDP), "Via: SIP/2.0/UDP "+local, "Via: SIP/9.9/XYZ ::::", 1),
		"no call-id":     strings.Replace(rawInvite(local, addr, "h2", "", offerSDP), "Call-ID: h2\r\n", "", 1),
		"no cseq":        strings.Replace(rawInvite(local, addr, "h3", "", offerSDP), "CSeq: 1 INVITE\r\n", "", 1),
		"no from":        strings.Replace(rawInvite(local, addr, "h4", "", offerSDP), "From: <sip:"+portUser+"@"+addr+">;tag=abc\r\n", "", 1),
		"no contact":     strings.Replace(rawInvite(local, addr, "h5", "", offerSDP), "Contact: <sip:"+portUser+"@"+local+">\r\n", "", 1),
		"oversized":      rawInvite(local, addr, "h6", "X-Big: "+strings.Repeat("A", 60000)+"\r\n", offerSDP),
		"bad length":     strings.Replace(rawInvite(local, addr, "h7", "", offerSDP), "Content-Length: ", "Content-Length: 99999", 1),
		"bad auth":       rawInvite(local, addr, "h8", "Proxy-Authorization: Digest username=\"port1\", realm=\"kinline\", nonce=\"zz\", uri=\"x\", response=\"00\"\r\n", offerSDP),
		"garbage auth":   rawInvite(local, addr, "h9", "Proxy-Authorization: Digest ,,,===\"\r\n", offerSDP),
		"bye unknown":    "BYE sip:x@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-b1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: nope\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
		"register empty": "REGISTER sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-r1\r\nContent-Length: 0\r\n\r\n",
		"ack stray":      "ACK sip:x@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-a1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: nope2\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		"reinvite":       strings.Replace(rawInvite(local, addr, "h10", "", offerSDP), "To: <sip:0123456789@"+addr+">", "To: <sip:0123456789@"+addr+">;tag=zz", 1),
		"cancel unknown": "CANCEL sip:x@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-c1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: nope3\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
		"utf8 number":    strings.Replace(rawInvite(local, addr, "h11", "", offerSDP), "INVITE sip:0123456789@", "INVITE sip:%E2%80%AE;;@", 1),
	}
	for name, msg := range hostile {
		res := exchange(t, addr, msg, 300*time.Millisecond)
		t.Logf("%s -> %q", name, firstLine(res))
		if strings.HasPrefix(res, "SIP/2.0 2") {
			t.Errorf("%s: accepted: %q", name, firstLine(res))
		}
	}
	// Still serving: a real call goes through.
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call after hostile input: %+v %v", res, err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
	if e.records.Pending() != 0 {
		t.Fatalf("%d extra records from hostile input", e.records.Pending())
	}
}

func TestWrongPasswordOnInvite(t *testing.T) {
	e := start(t, opts{})
	res, err := e.port(t, portUser, "bad").Call(ctxT(t), "0611223344", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 403 {
		t.Fatalf("result %+v, want 403", res)
	}
	if e.records.Pending() != 0 {
		t.Fatal("an unauthenticated call produced a record")
	}
}

func TestPrivilegedCallNotRecorded(t *testing.T) {
	auth := callctl.AuthorizerFunc(func(_ context.Context, r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Allowed: true, PersonID: "p1", Record: false}
	})
	var mu sync.Mutex
	var recordFlags []bool
	relays := &callctltest.Relays{Result: media.Result{Path: "/should/not/appear"}}
	mf := func(id string, record bool) (callctl.MediaSession, error) {
		mu.Lock()
		recordFlags = append(recordFlags, record)
		mu.Unlock()
		return relays.Factory()(id, record)
	}
	e := start(t, opts{auth: auth, media: mf})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0800123456", 200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("%+v %v", res, err)
	}
	rec := e.record(t)
	mu.Lock()
	defer mu.Unlock()
	if len(recordFlags) != 1 || recordFlags[0] || rec.Recording != nil {
		t.Fatalf("record flags %v, recording %+v", recordFlags, rec.Recording)
	}
}

func TestShutdownEndsCalls(t *testing.T) {
	e := start(t, opts{})
	c, err := e.port(t, portUser, portPass).Dial(ctxT(t), "0611223344", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-c.RemoteHangup():
	case <-time.After(waitLong):
		t.Fatal("port not hung up at shutdown")
	}
	if rec := e.record(t); rec.Disposition != wire.DispEnded || rec.Reason != "appliance shutting down" || rec.Answer == nil {
		t.Fatalf("record = %+v", rec)
	}
	if fc := <-e.family.Results(); !fc.Answered {
		t.Fatalf("family = %+v", fc)
	}
}
