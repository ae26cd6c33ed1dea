package callctl_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// announcing wraps a real media session and notes when call control asks
// for announcements (time warnings), on call control's clock.
type announcing struct {
	*media.Session
	clk clock.Clock
	mu  *sync.Mutex
	at  *[]time.Time
}

func (a announcing) Announce(ctx context.Context, law g711.Law, audio []byte) error {
	a.mu.Lock()
	*a.at = append(*a.at, a.clk.Now())
	a.mu.Unlock()
	return a.Session.Announce(ctx, law, audio)
}

// realMedia returns a factory of real media sessions (on the real clock:
// prompts play in real time) and the manager.
func realMedia(t *testing.T) (*media.Manager, callctl.MediaFactory) {
	t.Helper()
	mgr, err := media.NewManager(media.Config{RecordDir: t.TempDir(), Clock: clock.Real{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mgr, func(id string, record bool) (callctl.MediaSession, error) {
		s, err := mgr.NewSession(id, record)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

func acceptCfg(c *callctl.Config) { c.FamilyAccept = true }

// waitLog waits until the server log contains s.
func waitLog(t *testing.T, e *env, s string) {
	t.Helper()
	testkit.Eventually(t, waitLong, fmt.Sprintf("the log to say %q", s), func() bool { return strings.Contains(e.logs.String(), s) })
}

// TestFamilyAcceptsWithOne: the called party hears the announcement,
// presses 1 (RFC 4733) and only then is the call bridged: Answer is the
// acceptance time on the injected clock, not the trunk's answer.
func TestFamilyAcceptsWithOne(t *testing.T) {
	mgr, mf := realMedia(t)
	e := start(t, opts{media: mf, cfg: acceptCfg, family: phone.FamilyConfig{Accept: '1', AcceptAfter: 1500 * time.Millisecond}})
	type out struct {
		res phone.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 800*time.Millisecond)
		done <- out{res, err}
	}()
	waitLog(t, e, "asking for acceptance")
	if calls := e.srv.ActiveCalls(); len(calls) != 1 || calls[0].Answer != nil {
		t.Fatalf("during the acceptance prompt: active calls %+v, want one unanswered", calls)
	}
	e.clk.Advance(7 * time.Second) // the trunk answered 7 s before acceptance
	o := <-done
	if o.err != nil || !o.res.Answered {
		t.Fatalf("call: %+v %v", o.res, o.err)
	}
	if !slices.Contains(o.res.Provisional, 180) {
		t.Errorf("port heard no ringback (180) while the family decided: %v", o.res.Provisional)
	}
	if o.res.RTP.Received < 10 {
		t.Errorf("port received %d RTP packets after the bridge", o.res.RTP.Received)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Answer == nil || !rec.Answer.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("record = %+v, want completed with Answer = acceptance (t0+7s)", rec)
	}
	fc := <-e.family.Results()
	if fc.Pressed != '1' || fc.Heard < 75 {
		t.Fatalf("family pressed %q after %d packets of prompt, want '1' after >= 75", fc.Pressed, fc.Heard)
	}
	if mgr.Active() != 0 {
		t.Fatalf("%d media sessions left open", mgr.Active())
	}
}

// TestFamilyBlocksWithNine: 9 ends the call unbridged as "rejected"
// (blocked by called party) and reports a NumberBlocked.
func TestFamilyBlocksWithNine(t *testing.T) {
	_, mf := realMedia(t)
	blocked := make(chan wire.NumberBlocked, 1)
	e := start(t, opts{media: mf, cfg: acceptCfg, family: phone.FamilyConfig{Accept: '9', AcceptAfter: time.Second},
		onBlocked: func(b wire.NumberBlocked) { blocked <- b }})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil || res.Answered || res.Code != 603 {
		t.Fatalf("port result %+v %v, want 603 unanswered", res, err)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispRejected || rec.Reason != callctl.ReasonBlocked || rec.Answer != nil {
		t.Fatalf("record = %+v", rec)
	}
	select {
	case b := <-blocked:
		if b.CallID != rec.CallID || b.PersonID != "person-1" || b.Number != "0611223344" || b.Terminal != "T1" {
			t.Fatalf("blocked = %+v", b)
		}
	default:
		t.Fatal("no NumberBlocked reported")
	}
	if fc := <-e.family.Results(); fc.Pressed != '9' {
		t.Fatalf("family = %+v", fc)
	}
}

// TestFamilyNoKeyTimesOut: no key within AcceptTimeout (injected clock):
// rejected, never bridged, never answered; the family did hear the prompt.
func TestFamilyNoKeyTimesOut(t *testing.T) {
	_, mf := realMedia(t)
	e := start(t, opts{media: mf, cfg: func(c *callctl.Config) { c.FamilyAccept = true; c.AcceptTimeout = 15 * time.Second }})
	done := make(chan phone.Result, 1)
	go func() {
		res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	waitLog(t, e, "asking for acceptance")
	// Real time on purpose, not a wait: the prompt is paced by the real clock and the
	// family phone counts what it heard only when the call ends, so there is nothing to poll.
	time.Sleep(500 * time.Millisecond) // let some prompt audio reach the family phone
	e.clk.Advance(14 * time.Second)
	select {
	case <-done:
		t.Fatal("call ended before the acceptance timeout")
	case <-time.After(200 * time.Millisecond):
	}
	e.clk.Advance(time.Second)
	res := <-done
	if res.Answered || res.Code != 603 {
		t.Fatalf("port result %+v", res)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispRejected || rec.Reason != callctl.ReasonNotAccepted || rec.Answer != nil {
		t.Fatalf("record = %+v", rec)
	}
	if fc := <-e.family.Results(); fc.RTP.Received < 10 || fc.Pressed != 0 {
		t.Fatalf("family heard %d prompt packets, pressed %q", fc.RTP.Received, fc.Pressed)
	}
}

// TestFamilyHangsUpDuringPrompt: the called party hangs up instead of
// pressing a key: rejected, not bridged.
func TestFamilyHangsUpDuringPrompt(t *testing.T) {
	_, mf := realMedia(t)
	e := start(t, opts{media: mf, cfg: acceptCfg, family: phone.FamilyConfig{HangupAfter: 500 * time.Millisecond}})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil || res.Answered || res.Code != 603 {
		t.Fatalf("port result %+v %v", res, err)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispRejected || rec.Reason != callctl.ReasonHungUp || rec.Answer != nil {
		t.Fatalf("record = %+v", rec)
	}
}

// TestSpokenRefusal: the refusal is spoken to the port as early media
// (183 + SDP, RTP) before the 403 with the reason phrase.
func TestSpokenRefusal(t *testing.T) {
	_, mf := realMedia(t)
	auth := callctl.AuthorizerFunc(func(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Reason: "number not approved", RefusalErr: fmt.Errorf("x: %w", policy.ErrNotApproved), PersonID: "p1", Language: "es"}
	})
	e := start(t, opts{media: mf, auth: auth, cfg: func(c *callctl.Config) { c.SpokenRefusals = true }})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 403 || res.Reason != "number not approved" || !slices.Contains(res.Provisional, 183) {
		t.Fatalf("port result %+v, want 183 then 403", res)
	}
	if res.RTP.Received < 25 { // the prompt lasts well over half a second
		t.Fatalf("port heard %d packets of early media", res.RTP.Received)
	}
	if rec := e.record(t); rec.Disposition != wire.DispRefused {
		t.Fatalf("record = %+v", rec)
	}
}

// TestRefusalSilentByDefault: without SpokenRefusals the 403 comes at
// once, with no early media.
func TestRefusalSilentByDefault(t *testing.T) {
	_, mf := realMedia(t)
	e := start(t, opts{media: mf, auth: callctl.AuthorizerFunc(func(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Reason: "no", RefusalErr: policy.ErrNotApproved}
	})})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil || res.Code != 403 || slices.Contains(res.Provisional, 183) || res.RTP.Received != 0 {
		t.Fatalf("port result %+v %v", res, err)
	}
}

// TestLimitWarningsAndHardStop: a 3-minute per-call limit from the
// authorizer: announcements at 1 and 2 minutes after the answer (2 and 1
// minutes left), then both legs hung up as "limited", on the fake clock.
func TestLimitWarningsAndHardStop(t *testing.T) {
	mgr, err := media.NewManager(media.Config{RecordDir: t.TempDir(), Clock: clock.Real{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var at []time.Time
	var e *env
	mf := func(id string, record bool) (callctl.MediaSession, error) {
		s, err := mgr.NewSession(id, record)
		if err != nil {
			return nil, err
		}
		return announcing{Session: s, clk: e.clk, mu: &mu, at: &at}, nil
	}
	auth := callctl.AuthorizerFunc(func(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Allowed: true, PersonID: "p1", Record: true, MaxDuration: 3 * time.Minute}
	})
	e = start(t, opts{media: mf, auth: auth})
	done := make(chan phone.Result, 1)
	go func() {
		res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", waitLong)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	if !testkit.Within(waitLong, 0, func() bool { c := e.srv.ActiveCalls(); return len(c) == 1 && c[0].Answer != nil }) {
		t.Fatal("call never answered")
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(at) }
	e.clk.Advance(59 * time.Second)
	e.clk.Advance(time.Second)
	if !testkit.Within(waitLong, 0, func() bool { return count() == 1 }) {
		t.Fatalf("no warning at 2 minutes left (announcements %d)", count())
	}
	e.clk.Advance(time.Minute)
	if !testkit.Within(waitLong, 0, func() bool { return count() == 2 }) {
		t.Fatalf("no warning at 1 minute left (announcements %d)", count())
	}
	time.Sleep(300 * time.Millisecond) // not a wait: real time passes to show that nothing happens, the call is still up
	select {
	case res := <-done:
		t.Fatalf("call ended before its limit: %+v", res)
	default:
	}
	e.clk.Advance(time.Minute)
	res := <-done
	if !res.RemoteHangup {
		t.Fatalf("port result %+v, want the appliance to hang up", res)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispLimited {
		t.Fatalf("record = %+v", rec)
	}
	mu.Lock()
	defer mu.Unlock()
	if !at[0].Equal(rec.Answer.Add(time.Minute)) || !at[1].Equal(rec.Answer.Add(2*time.Minute)) {
		t.Fatalf("announcements at %v, answer %v", at, rec.Answer)
	}
	if fc := <-e.family.Results(); !fc.HungUp && fc.RTP.Received < 10 {
		t.Fatalf("family = %+v", fc)
	}
}
