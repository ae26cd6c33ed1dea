package callctl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

const hotlineNumber = "100"

// fakeHotline is a Hotline with one tapped person on every terminal.
type fakeHotline struct {
	mu     sync.Mutex
	caller callctl.Caller
	tapped bool
	pin    string
	// pinErr, when set, is returned for every PIN.
	pinErr  error
	pins    []string
	account callctl.Account
}

func (f *fakeHotline) Caller(terminal, callID string) (callctl.Caller, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caller, f.tapped
}

func (f *fakeHotline) VerifyPIN(terminal, callID, pin string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins = append(f.pins, pin)
	switch {
	case f.pinErr != nil:
		return f.pinErr
	case pin != f.pin:
		return fmt.Errorf("fake: %w", policy.ErrBadPIN)
	}
	return nil
}

func (f *fakeHotline) Account(personID string) (callctl.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if personID != f.caller.PersonID {
		return callctl.Account{}, errors.New("fake: unknown person")
	}
	return f.account, nil
}

func (f *fakeHotline) tap(on bool) {
	f.mu.Lock()
	f.tapped = on
	f.mu.Unlock()
}

func (f *fakeHotline) pinsSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pins)
}

// playLog notes what call control plays to the port leg.
type playLog struct {
	mu    sync.Mutex
	plays [][]byte
}

func (p *playLog) add(audio []byte) {
	p.mu.Lock()
	p.plays = append(p.plays, bytes.Clone(audio))
	p.mu.Unlock()
}

// index returns the position of the first play of exactly ids in lang
// at or after from, or -1.
func (p *playLog) index(t *testing.T, from int, lang string, ids ...prompts.ID) int {
	t.Helper()
	want, err := prompts.Sequence(lang, ids...)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; i < len(p.plays); i++ {
		if bytes.Equal(p.plays[i], want) {
			return i
		}
	}
	return -1
}

func (p *playLog) count(t *testing.T, lang string, ids ...prompts.ID) int {
	n := 0
	for i := p.index(t, 0, lang, ids...); i >= 0; i = p.index(t, i+1, lang, ids...) {
		n++
	}
	return n
}

// spyBase is what a real media session offers call control.
type spyBase interface {
	callctl.MediaSession
}

// spySession is a real media session that notes the prompts played to
// leg A.
type spySession struct {
	spyBase
	log *playLog
}

func (s spySession) Play(ctx context.Context, l media.Leg, law g711.Law, audio []byte) error {
	if l == media.LegA {
		s.log.add(audio)
	}
	return s.spyBase.Play(ctx, l, law, audio)
}

// SetRecord fails: a media session unable to turn recording on after
// the IVR (recordingSpy can).
func (s spySession) SetRecord(bool) error { return callctl.ErrRecordUnsupported }

// recordingSpy also takes SetRecord (a media session able to turn
// recording on after the IVR).
type recordingSpy struct {
	spySession
	set *atomic.Int32
}

func (s recordingSpy) SetRecord(on bool) error {
	if on {
		s.set.Add(1)
	}
	return nil
}

// fastClock is the wall clock run speed times faster.
type fastClock struct {
	start time.Time
	speed int
}

func (f fastClock) Now() time.Time {
	return f.start.Add(time.Since(f.start) * time.Duration(f.speed))
}

func (f fastClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	time.AfterFunc(d/time.Duration(f.speed), func() { ch <- f.Now() })
	return ch
}

func (f fastClock) AfterFunc(d time.Duration, fn func()) clock.Timer {
	return time.AfterFunc(d/time.Duration(f.speed), fn)
}

type hotlineEnv struct {
	*env
	hot   *fakeHotline
	plays *playLog
	// auths receives every AuthRequest.
	auths chan callctl.AuthRequest
	// recordSet counts SetRecord(true) (with recordSwitch).
	recordSet atomic.Int32
}

type hotlineOpts struct {
	auth         func(callctl.AuthRequest) callctl.AuthResult
	family       phone.FamilyConfig
	cfg          func(*callctl.Config)
	recordSwitch bool
	hot          *fakeHotline
	names        callctl.Names
	speaker      callctl.Speaker
}

func startHotline(t *testing.T, o hotlineOpts) *hotlineEnv {
	t.Helper()
	h := &hotlineEnv{plays: &playLog{}, auths: make(chan callctl.AuthRequest, 16), hot: o.hot}
	if h.hot == nil {
		h.hot = &fakeHotline{caller: callctl.Caller{PersonID: "p-7", Name: "Ana", Language: "es", NeedsPIN: true}, tapped: true, pin: "1234"}
	}
	if o.auth == nil {
		o.auth = func(r callctl.AuthRequest) callctl.AuthResult {
			return callctl.AuthResult{Allowed: true, PersonID: "p-7", PrisonNumber: "A-7", Language: "es"}
		}
	}
	// Prompts play ten times faster than real time: what is played is
	// checked, not how long it lasts (media's own tests cover pacing).
	mgr, err := media.NewManager(media.Config{RecordDir: t.TempDir(), Clock: fastClock{start: time.Now(), speed: 10}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mf := func(id string, record bool) (callctl.MediaSession, error) {
		s, err := mgr.NewSession(id, record)
		if err != nil {
			return nil, err
		}
		spy := spySession{spyBase: s, log: h.plays}
		if o.recordSwitch {
			return recordingSpy{spySession: spy, set: &h.recordSet}, nil
		}
		return spy, nil
	}
	auth := callctl.AuthorizerFunc(func(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
		h.auths <- r
		return o.auth(r)
	})
	// Registered before start's cleanups, so it runs after the server has
	// stopped and every call has finished.
	t.Cleanup(func() {
		if n := mgr.Active(); n != 0 {
			t.Errorf("%d media sessions left open after the server stopped", n)
		}
	})
	h.env = start(t, opts{media: mf, auth: auth, family: o.family, hotline: h.hot, names: o.names, speaker: o.speaker, cfg: func(c *callctl.Config) {
		c.HotlineNumber = hotlineNumber
		if o.cfg != nil {
			o.cfg(c)
		}
	}})
	return h
}

// dialHotline picks up the port: the appliance answers at once.
func (h *hotlineEnv) dialHotline(t *testing.T) *phone.Call {
	t.Helper()
	var prov []int
	c, err := h.port(t, portUser, portPass).Dial(ctxT(t), hotlineNumber, func(code int) { prov = append(prov, code) })
	if err != nil {
		t.Fatalf("hotline not answered: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Hangup(ctx)
	})
	return c
}

func waitHangup(t *testing.T, c *phone.Call) {
	t.Helper()
	select {
	case <-c.RemoteHangup():
	case <-time.After(waitLong):
		t.Fatal("the appliance never hung up the hotline call")
	}
}

func waitPlayed(t *testing.T, h *hotlineEnv, lang string, ids ...prompts.ID) {
	t.Helper()
	if !testkit.Within(waitLong, 0, func() bool { return h.plays.index(t, 0, lang, ids...) >= 0 }) {
		t.Fatalf("never played %v in %s", ids, lang)
	}
}

// TestHotlineCallRFC4733: pick-up, PIN, menu 1, number, all by RFC 4733
// events; the trunk call is bridged to the answered port leg; the record
// carries the number entered, the limit used and Hidden/Free.
func TestHotlineCallRFC4733(t *testing.T) {
	t.Parallel()
	h := startHotline(t, hotlineOpts{auth: func(r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Allowed: true, PersonID: "p-7", Language: "es", MaxDuration: 90 * time.Second, LimitedBy: wire.LimitBalance, Hidden: true, Free: true}
	}})
	c := h.dialHotline(t)
	ctx := ctxT(t)
	if err := c.SendDTMF(ctx, "1234#"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDTMF(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDTMF(ctx, "0611223344#"); err != nil {
		t.Fatal(err)
	}
	var ar callctl.AuthRequest
	select {
	case ar = <-h.auths:
	case <-time.After(waitLong):
		t.Fatal("never authorized")
	}
	if ar.Number != "0611223344" || ar.Terminal != "T1" {
		t.Fatalf("AuthRequest = %+v", ar)
	}
	var inv phone.FamilyCall
	select {
	case inv = <-h.family.Invites():
	case <-time.After(waitLong):
		t.Fatal("trunk never called")
	}
	if inv.Number != "0611223344" {
		t.Fatalf("trunk INVITE for %q", inv.Number)
	}
	if !testkit.Within(waitLong, 0, func() bool { a := h.srv.ActiveCalls(); return len(a) == 1 && a[0].Answer != nil }) {
		t.Fatal("call never bridged")
	}
	// The family's tone reaches the port through the bridge.
	before := c.Stats().Received
	if !testkit.Within(waitLong, 0, func() bool { return c.Stats().Received > before+20 }) {
		t.Fatal("no audio from the trunk after the bridge")
	}
	if got := h.hot.pinsSeen(); !slices.Equal(got, []string{"1234"}) {
		t.Fatalf("PINs checked %q", got)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Number != "0611223344" || rec.PersonID != "p-7" || rec.Answer == nil {
		t.Fatalf("record = %+v", rec)
	}
	if rec.MaxDurationSeconds != 90 || rec.LimitedBy != wire.LimitBalance || !rec.Hidden || !rec.Free {
		t.Fatalf("record limits/flags = %d %q hidden %v free %v", rec.MaxDurationSeconds, rec.LimitedBy, rec.Hidden, rec.Free)
	}
	if h.plays.index(t, 0, "es", prompts.EnterPIN) < 0 {
		t.Fatal("the PIN prompt was not played in Spanish")
	}
}

// TestHotlineCallSIPINFO: the same flow with every key sent as SIP INFO
// (application/dtmf-relay), and the called party accepting with 1 by
// INFO too.
func TestHotlineCallSIPINFO(t *testing.T) {
	t.Parallel()
	h := startHotline(t, hotlineOpts{
		family: phone.FamilyConfig{Accept: '1', AcceptAfter: 600 * time.Millisecond, AcceptByINFO: true},
		cfg:    func(c *callctl.Config) { c.FamilyAccept = true },
	})
	c := h.dialHotline(t)
	ctx := ctxT(t)
	if err := c.SendINFO(ctx, "1234#1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendINFO(ctx, "0611223344#"); err != nil {
		t.Fatal(err)
	}
	if !testkit.Within(waitLong, 0, func() bool { a := h.srv.ActiveCalls(); return len(a) == 1 && a[0].Answer != nil }) {
		t.Fatal("call never bridged: the family's INFO 1 was not taken")
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	rec := h.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Number != "0611223344" {
		t.Fatalf("record = %+v", rec)
	}
	if fc := <-h.family.Results(); fc.Pressed != '1' {
		t.Fatalf("family = %+v", fc)
	}
	if !slices.Equal(h.hot.pinsSeen(), []string{"1234"}) {
		t.Fatalf("PINs %q", h.hot.pinsSeen())
	}
}

// TestHotlineWrongPINThreeTimes: three wrong PINs: "wrong PIN" after
// the first two, then "wrong PIN, goodbye" and BYE; never authorized.
func TestHotlineWrongPINThreeTimes(t *testing.T) {
	t.Parallel()
	h := startHotline(t, hotlineOpts{})
	c := h.dialHotline(t)
	if err := c.SendDTMF(ctxT(t), "1111#2222#3333#"); err != nil {
		t.Fatal(err)
	}
	waitHangup(t, c)
	rec := h.record(t)
	if rec.Disposition != wire.DispRefused || rec.Reason != policy.ErrBadPIN.Error() || rec.PersonID != "p-7" {
		t.Fatalf("record = %+v", rec)
	}
	if got := h.hot.pinsSeen(); !slices.Equal(got, []string{"1111", "2222", "3333"}) {
		t.Fatalf("PINs checked %q", got)
	}
	if n := h.plays.count(t, "es", prompts.WrongPIN); n != 2 {
		t.Fatalf("\"wrong PIN\" played %d times between tries, want 2", n)
	}
	if h.plays.index(t, 0, "es", prompts.WrongPIN, prompts.Goodbye) < 0 {
		t.Fatal("the final \"wrong PIN, goodbye\" was not played")
	}
	select {
	case r := <-h.auths:
		t.Fatalf("authorized after wrong PINs: %+v", r)
	default:
	}
}

// TestHotlinePINLocked: the authorizer's lock-out is spoken at once.
func TestHotlinePINLocked(t *testing.T) {
	t.Parallel()
	hot := &fakeHotline{caller: callctl.Caller{PersonID: "p-7", Language: "en", NeedsPIN: true}, tapped: true, pinErr: fmt.Errorf("authz: %w", policy.ErrPINLocked)}
	h := startHotline(t, hotlineOpts{hot: hot})
	c := h.dialHotline(t)
	if err := c.SendDTMF(ctxT(t), "9999#"); err != nil {
		t.Fatal(err)
	}
	waitHangup(t, c)
	if rec := h.record(t); rec.Disposition != wire.DispRefused || rec.Reason != policy.ErrPINLocked.Error() {
		t.Fatalf("record = %+v", rec)
	}
	if h.plays.index(t, 0, "en", prompts.PINLocked, prompts.Goodbye) < 0 {
		t.Fatal("\"PIN locked, goodbye\" not played")
	}
}

// TestHotlineBalanceMenu: no PIN needed, the card is tapped only after
// "please tap your card" (polled on the injected clock); 2 at the menu
// reads the balance and calls left, and the menu comes back (a key
// during the balance interrupts it and answers the menu).
func TestHotlineBalanceMenu(t *testing.T) {
	t.Parallel()
	acct := callctl.Account{Rated: true, Balance: 1250, Currency: "EUR", Digits: 2, CallsLeftDay: 2, CallsLeftWeek: -1, CallsLeftMonth: 10}
	hot := &fakeHotline{caller: callctl.Caller{PersonID: "p-7", Language: "en"}, account: acct}
	h := startHotline(t, hotlineOpts{hot: hot})
	c := h.dialHotline(t)
	waitPlayed(t, h, "en", prompts.TapCard)
	hot.tap(true)
	// Poll until the IVR has seen the tap and asks for a choice.
	if !testkit.Within(waitLong, 0, func() bool {
		h.clk.Advance(250 * time.Millisecond)
		return h.plays.index(t, 0, "en", prompts.Menu) >= 0
	}) {
		t.Fatal("menu never played after the tap")
	}
	if err := c.SendDTMF(ctxT(t), "2"); err != nil {
		t.Fatal(err)
	}
	waitPlayed(t, h, "en", callctl.AccountPrompts(acct)...)
	// A key stops the balance (barge-in) and is the menu's answer.
	if err := c.SendDTMF(ctxT(t), "1"); err != nil {
		t.Fatal(err)
	}
	waitPlayed(t, h, "en", prompts.EnterNumber)
	if err := c.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec := h.record(t); rec.Disposition != wire.DispCancelled || rec.PersonID != "p-7" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestAccountPrompts(t *testing.T) {
	got := callctl.AccountPrompts(callctl.Account{Rated: true, Balance: 1250, Digits: 2, CallsLeftDay: 0, CallsLeftWeek: -1, CallsLeftMonth: 12})
	want := []prompts.ID{prompts.BalanceIs, prompts.Digit1, prompts.Digit2, prompts.And, prompts.Digit5, prompts.Digit0, prompts.Cents,
		prompts.CallsLeft, prompts.Digit0, prompts.CallsLeftWeek, prompts.NoLimit, prompts.CallsLeftMonth, prompts.Digit1, prompts.Digit2}
	if !slices.Equal(got, want) {
		t.Fatalf("AccountPrompts = %v\nwant %v", got, want)
	}
	if got := callctl.AccountPrompts(callctl.Account{CallsLeftDay: -1, CallsLeftWeek: -1, CallsLeftMonth: -1}); slices.Contains(got, prompts.BalanceIs) {
		t.Fatalf("unrated account speaks a balance: %v", got)
	}
}

// TestHotlineRefusedNumber: a refused number is spoken with its reason,
// then goodbye and BYE; the trunk is never called.
func TestHotlineRefusedNumber(t *testing.T) {
	t.Parallel()
	h := startHotline(t, hotlineOpts{auth: func(r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Reason: "number blocked", RefusalErr: fmt.Errorf("authz: %w", policy.ErrNumberBlocked), PersonID: "p-7"}
	}})
	c := h.dialHotline(t)
	if err := c.SendINFO(ctxT(t), "1234#10611223344#"); err != nil {
		t.Fatal(err)
	}
	waitHangup(t, c)
	rec := h.record(t)
	if rec.Disposition != wire.DispRefused || rec.Reason != "number blocked" || rec.Number != "0611223344" {
		t.Fatalf("record = %+v", rec)
	}
	// The person's language (es) speaks the refusal: the authorizer gave none.
	if h.plays.index(t, 0, "es", prompts.RefusedNumberBlocked, prompts.Goodbye) < 0 {
		t.Fatal("refusal not spoken")
	}
	select {
	case inv := <-h.family.Invites():
		t.Fatalf("trunk called for a refused number: %+v", inv)
	default:
	}
}

// TestHotlineDispositionsSpoken: busy, no answer, rejected (603 and the
// family hanging up at the acceptance prompt) and failed trunk calls are
// told to the person before the BYE, and recorded as such.
func TestHotlineDispositionsSpoken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		family phone.FamilyConfig
		cfg    func(*callctl.Config)
		disp   string
		prompt prompts.ID
	}{
		{"busy", phone.FamilyConfig{Reject: 486}, nil, wire.DispBusy, prompts.CallBusy},
		{"busy everywhere", phone.FamilyConfig{Reject: 600}, nil, wire.DispBusy, prompts.CallBusy},
		{"unavailable", phone.FamilyConfig{Reject: 480}, nil, wire.DispNoAnswer, prompts.CallNoAnswer},
		{"declined", phone.FamilyConfig{Reject: 603}, nil, wire.DispRejected, prompts.CallRejected},
		{"hung up at acceptance", phone.FamilyConfig{HangupAfter: 300 * time.Millisecond}, func(c *callctl.Config) { c.FamilyAccept = true }, wire.DispRejected, prompts.CallRejected},
		{"failed", phone.FamilyConfig{Reject: 503}, nil, wire.DispFailed, prompts.CallFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := startHotline(t, hotlineOpts{family: tc.family, cfg: tc.cfg})
			c := h.dialHotline(t)
			if err := c.SendINFO(ctxT(t), "1234#10611223344#"); err != nil {
				t.Fatal(err)
			}
			waitHangup(t, c)
			rec := h.record(t)
			if rec.Disposition != tc.disp || rec.Answer != nil {
				t.Fatalf("record = %+v, want %s", rec, tc.disp)
			}
			if h.plays.index(t, 0, "es", tc.prompt, prompts.Goodbye) < 0 {
				t.Fatalf("%s not spoken before the hang-up", tc.prompt)
			}
		})
	}
}

// TestHotlineRingTimeoutSpoken: nobody answers within RingTimeout
// (injected clock): "no answer", goodbye, BYE; disposition no_answer.
func TestHotlineRingTimeoutSpoken(t *testing.T) {
	t.Parallel()
	h := startHotline(t, hotlineOpts{family: phone.FamilyConfig{NoAnswer: true}, cfg: func(c *callctl.Config) { c.RingTimeout = 30 * time.Second }})
	c := h.dialHotline(t)
	if err := c.SendINFO(ctxT(t), "1234#10611223344#"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.family.Invites():
	case <-time.After(waitLong):
		t.Fatal("trunk never called")
	}
	waitLog(t, h.env, "hotline number entered")
	// The ring timer is armed just after the INVITE: keep advancing.
	if !testkit.Within(waitLong, 0, func() bool {
		h.clk.Advance(5 * time.Second)
		select {
		case <-c.RemoteHangup():
			return true
		default:
			return false
		}
	}) {
		t.Fatal("ring timeout never ended the call")
	}
	if rec := h.record(t); rec.Disposition != wire.DispNoAnswer {
		t.Fatalf("record = %+v", rec)
	}
	if h.plays.index(t, 0, "es", prompts.CallNoAnswer, prompts.Goodbye) < 0 {
		t.Fatal("\"no answer\" not spoken")
	}
}

// TestHotlineRecordedCallNeedsRecordSwitch: a call to be recorded is
// placed only when the media session can turn recording on after the
// IVR; otherwise it fails closed, spoken.
func TestHotlineRecordedCallNeedsRecordSwitch(t *testing.T) {
	t.Parallel()
	recorded := func(r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Allowed: true, PersonID: "p-7", Record: true}
	}
	t.Run("without", func(t *testing.T) {
		t.Parallel()
		h := startHotline(t, hotlineOpts{auth: recorded})
		c := h.dialHotline(t)
		if err := c.SendINFO(ctxT(t), "1234#10611223344#"); err != nil {
			t.Fatal(err)
		}
		waitHangup(t, c)
		if rec := h.record(t); rec.Disposition != wire.DispFailed {
			t.Fatalf("record = %+v", rec)
		}
		if h.plays.index(t, 0, "es", prompts.CallFailed, prompts.Goodbye) < 0 {
			t.Fatal("failure not spoken")
		}
		select {
		case inv := <-h.family.Invites():
			t.Fatalf("unrecordable call placed: %+v", inv)
		default:
		}
	})
	t.Run("with", func(t *testing.T) {
		t.Parallel()
		h := startHotline(t, hotlineOpts{auth: recorded, recordSwitch: true})
		c := h.dialHotline(t)
		if err := c.SendINFO(ctxT(t), "1234#10611223344#"); err != nil {
			t.Fatal(err)
		}
		if !testkit.Within(waitLong, 0, func() bool { a := h.srv.ActiveCalls(); return len(a) == 1 && a[0].Answer != nil }) {
			t.Fatal("call never bridged")
		}
		if h.recordSet.Load() != 1 {
			t.Fatalf("SetRecord(true) called %d times", h.recordSet.Load())
		}
		if err := c.Hangup(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if rec := h.record(t); rec.Disposition != wire.DispCompleted {
			t.Fatalf("record = %+v", rec)
		}
	})
}

// TestHotlineDisabledWithoutNumber: without HotlineNumber the number is
// an ordinary destination (authorized and placed as dialled).
func TestHotlineDisabledWithoutNumber(t *testing.T) {
	t.Parallel()
	hot := &fakeHotline{tapped: true}
	e := start(t, opts{hotline: hot})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), hotlineNumber, 200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("result %+v %v", res, err)
	}
	if rec := e.record(t); rec.Number != hotlineNumber || rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}

// inbandSender sends G.711 RTP with DTMF tones from its own socket, as a
// gateway that negotiated no telephone-event and plays keys in the audio.
type inbandSender struct {
	conn *net.UDPConn
	to   *net.UDPAddr
	law  g711.Law
	pt   uint8
	seq  uint16
	ts   uint32
}

// packets sends n 20 ms packets of samples(i) (i counts from the start
// of this call), 2 ms apart (the detector reads samples, not time).
func (s *inbandSender) packets(n int, sample func(i int) float64) error {
	buf := make([]byte, 12+160)
	for p := range n {
		h := rtp.Header{Version: 2, PayloadType: s.pt, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: 0x1234}
		hl, err := h.MarshalTo(buf)
		if err != nil {
			return err
		}
		for i := range 160 {
			buf[hl+i] = s.law.Encode(int16(sample(p*160+i) * 32767))
		}
		if _, err := s.conn.WriteToUDP(buf[:hl+160], s.to); err != nil {
			return err
		}
		s.seq++
		s.ts += 160
		time.Sleep(2 * time.Millisecond) // pacing the sender, not a wait: spread the packets out rather than send one burst
	}
	return nil
}

// keys plays each key as 100 ms of its two tones and 100 ms of silence.
func (s *inbandSender) keys(keys string) error {
	const layout = "123A456B789C*0#D"
	rows := []float64{697, 770, 852, 941}
	cols := []float64{1209, 1336, 1477, 1633}
	for _, k := range keys {
		i := strings.IndexRune(layout, k)
		lo, hi := rows[i/4], cols[i%4]
		if err := s.packets(5, func(n int) float64 {
			t := float64(n) / 8000
			return 0.3*math.Sin(2*math.Pi*lo*t) + 0.3*math.Sin(2*math.Pi*hi*t)
		}); err != nil {
			return err
		}
		if err := s.packets(5, func(int) float64 { return 0 }); err != nil {
			return err
		}
	}
	return nil
}

// TestHotlineInBandDTMF: a port that offers no telephone-event is
// answered without one, and its keys are found in the G.711 audio (the
// in-band fallback): PIN, menu and number reach the IVR.
func TestHotlineInBandDTMF(t *testing.T) {
	t.Parallel()
	h := startHotline(t, hotlineOpts{})
	port, err := phone.NewPort(phone.PortConfig{Appliance: h.srv.Addr().String(), User: portUser, Password: portPass, Silent: true, NoTelephoneEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	c, err := port.Dial(ctxT(t), hotlineNumber, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Hangup(ctx)
	})
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	law := g711.Ulaw
	if c.PayloadType() == media.PayloadPCMA {
		law = g711.Alaw
	}
	s := &inbandSender{conn: conn, to: net.UDPAddrFromAddrPort(c.MediaRemote()), law: law, pt: c.PayloadType()}
	if err := s.keys("1234#10611#"); err != nil {
		t.Fatal(err)
	}
	var ar callctl.AuthRequest
	select {
	case ar = <-h.auths:
	case <-time.After(waitLong):
		t.Fatalf("never authorized; PINs seen %q", h.hot.pinsSeen())
	}
	if ar.Number != "0611" || !slices.Equal(h.hot.pinsSeen(), []string{"1234"}) {
		t.Fatalf("number %q, PINs %q", ar.Number, h.hot.pinsSeen())
	}
	if !testkit.Within(waitLong, 0, func() bool { a := h.srv.ActiveCalls(); return len(a) == 1 && a[0].Answer != nil }) {
		t.Fatal("call never bridged")
	}
	if err := c.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec := h.record(t); rec.Disposition != wire.DispCompleted || rec.Number != "0611" {
		t.Fatalf("record = %+v", rec)
	}
}

// TestHotlineTapTimeout: nobody taps within TapTimeout (injected clock):
// "no card was tapped", goodbye, BYE; refused.
func TestHotlineTapTimeout(t *testing.T) {
	t.Parallel()
	hot := &fakeHotline{caller: callctl.Caller{PersonID: "p-7"}}
	h := startHotline(t, hotlineOpts{hot: hot, cfg: func(c *callctl.Config) { c.TapTimeout = 20 * time.Second }})
	c := h.dialHotline(t)
	waitPlayed(t, h, "en", prompts.TapCard)
	if !testkit.Within(waitLong, 0, func() bool {
		h.clk.Advance(time.Second)
		select {
		case <-c.RemoteHangup():
			return true
		default:
			return false
		}
	}) {
		t.Fatal("tap timeout never ended the call")
	}
	rec := h.record(t)
	if rec.Disposition != wire.DispRefused || rec.Reason != policy.ErrNoTap.Error() {
		t.Fatalf("record = %+v", rec)
	}
	if d := rec.End.Sub(rec.Start); d < 20*time.Second {
		t.Fatalf("gave up after %v of the injected clock, want the 20 s TapTimeout", d)
	}
	if h.plays.index(t, 0, "en", prompts.RefusedNoCard, prompts.Goodbye) < 0 {
		t.Fatal("\"no card was tapped, goodbye\" not spoken")
	}
}

// TestHotlineWaitingForOfficerSpoken: on the hotline, an authorizer that
// waits for the officer (dual authorization) makes the person hear the
// "please wait for the officer" prompt, in their language, while the
// decision is pending; once the officer confirms, the call is placed.
func TestHotlineWaitingForOfficerSpoken(t *testing.T) {
	t.Parallel()
	var h *hotlineEnv
	h = startHotline(t, hotlineOpts{auth: func(r callctl.AuthRequest) callctl.AuthResult {
		r.Waiting()
		// The officer takes a while: the decision waits until the person
		// has heard the waiting prompt.
		if !testkit.Within(waitLong, 0, func() bool { return h.plays.index(t, 0, "es", prompts.WaitOfficer) >= 0 }) {
			return callctl.AuthResult{Reason: "officer did not confirm", RefusalErr: policy.ErrNotConfirmed, PersonID: "p-7"}
		}
		return callctl.AuthResult{Allowed: true, PersonID: "p-7", Language: "es", OfficerID: "o-1", ConfirmMethod: wire.ConfirmButton}
	}})
	c := h.dialHotline(t)
	if err := c.SendINFO(ctxT(t), "1234#10611223344#"); err != nil {
		t.Fatal(err)
	}
	var inv phone.FamilyCall
	select {
	case inv = <-h.family.Invites():
	case <-time.After(waitLong):
		t.Fatal("trunk never called after the officer confirmed")
	}
	if inv.Number != "0611223344" {
		t.Fatalf("trunk INVITE for %q", inv.Number)
	}
	if h.plays.index(t, 0, "es", prompts.WaitOfficer) < 0 {
		t.Fatal("the waiting prompt was never played")
	}
	if err := c.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec := h.record(t); rec.OfficerID != "o-1" || rec.ConfirmMethod != wire.ConfirmButton {
		t.Fatalf("record officer %q method %q", rec.OfficerID, rec.ConfirmMethod)
	}
}
