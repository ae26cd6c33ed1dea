package hiltests

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

const (
	officerCard = "0F0F0F0F"
	blakeCard   = "04B0B0B0"
	// confirmWindow is the high-supervision rule's window.
	confirmWindow = 6 * time.Second
)

// officerTap presents a card on the officer panel's reader (the second
// simulated PN532) and waits until the appliance's driver has read it.
func officerTap(t *testing.T, r *readersim.Sim, uid string, last *time.Time) {
	t.Helper()
	b, err := readersim.ParseUID(uid)
	if err != nil {
		t.Fatal(err)
	}
	if wait := time.Until(last.Add(2200 * time.Millisecond)); wait > 0 {
		time.Sleep(wait) // real time on purpose: the driver's duplicate-read window
	}
	before := r.Stats().Targets
	if err := r.Tap(b, readersim.DefaultHold); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the appliance to read officer card "+uid, func() bool { return r.Stats().Targets != before })
	*last = time.Now().Add(readersim.DefaultHold)
}

// callAsync places a call in the background; the result arrives on the
// channel.
func callAsync(t *testing.T, e *env, port *phone.Port, number string, talk time.Duration) <-chan phone.Result {
	t.Helper()
	out := make(chan phone.Result, 1)
	go func() {
		res, err := port.Call(e.ctx, number, talk)
		if err != nil {
			t.Errorf("call %s: %v", number, err)
		}
		out <- res
	}()
	return out
}

func waitResult(t *testing.T, ch <-chan phone.Result, d time.Duration) phone.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatal("the call never ended")
	}
	return phone.Result{}
}

func has180(r phone.Result) bool {
	for _, c := range r.Provisional {
		if c == 180 {
			return true
		}
	}
	return false
}

// TestDualAuthorization runs dual authorization end to end through the
// real binaries: rules and officers set at central reach the appliance;
// a call waits (the port hears ringing) until the simulated confirm button
// is pressed through the panel's control socket; one is refused when the
// window runs out; one is confirmed by the officer's card on a second
// simulated PN532 plus the button; the officer's idle tap ends a call in
// progress. Central shows who confirmed and ended what, and every panel
// action.
func TestDualAuthorization(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	var offReader *readersim.Sim
	e := newEnv(t, family.Addr().String(), func(dir string, o *stack.Options) {
		var err error
		offReader, err = readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "officer-reader")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { offReader.Close() })
		o.OfficerReaderDevice = offReader.Path()
	})
	var lastOfficerTap time.Time

	if err := e.SetRules(e.ctx, []wire.CallRule{
		{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: int(confirmWindow / time.Second), OfficerTapEndsCall: true},
	}); err != nil {
		t.Fatal(err)
	}
	alex, err := e.Seed(e.ctx, stack.Person{PrisonNumber: "A1234BC", Name: "Alex Morgan", Card: card, Numbers: []string{approved}, SupervisionLevel: "high"})
	if err != nil {
		t.Fatal(err)
	}
	blake, err := e.Seed(e.ctx, stack.Person{PrisonNumber: "B5678DE", Name: "Blake Quinn", Card: blakeCard, Numbers: []string{approved}, Confirm: wire.ConfirmBoth})
	if err != nil {
		t.Fatal(err)
	}
	officer, err := e.EnrolOfficer(e.ctx, "S-0042", "Officer Reyes", officerCard)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	port := newPort(t, e)

	// 1. The button, pressed through the control socket while the call waits.
	e.tap(t, card)
	ch := callAsync(t, e, port, approved, 2*time.Second)
	state, err := e.WaitPanelPending(e.ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(state, "terminal="+stack.Terminal) || !strings.Contains(state, "mode=button") {
		t.Fatalf("panel state %q", state)
	}
	if _, err := e.Panel(e.ctx, "press confirm"); err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, ch, time.Minute)
	if !res.Answered || !has180(res) || res.RTP.Received < 20 {
		t.Fatalf("confirmed call: %+v", res)
	}

	// 2. Nobody confirms: refused when the window runs out.
	e.tap(t, card)
	begin := time.Now()
	ch = callAsync(t, e, port, approved, time.Second)
	if _, err := e.WaitPanelPending(e.ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	res = waitResult(t, ch, time.Minute)
	wantRefused(t, res, "officer did not confirm")
	if waited := time.Since(begin); waited < confirmWindow-time.Second || !has180(res) {
		t.Fatalf("refused after %v (window %v), provisional %v", waited, confirmWindow, res.Provisional)
	}

	// 3. Blake needs both: the officer's card on the second PN532, then the
	// button.
	e.tap(t, blakeCard)
	ch = callAsync(t, e, port, approved, 2*time.Second)
	if state, err = e.WaitPanelPending(e.ctx, 20*time.Second); err != nil || !strings.Contains(state, "mode=both") {
		t.Fatalf("panel %q %v", state, err)
	}
	officerTap(t, offReader, officerCard, &lastOfficerTap)
	if err := stack.WaitFor(e.ctx, 10*time.Second, "the officer card on the panel", func() error {
		s, err := e.Panel(e.ctx, "state")
		if err == nil && !strings.Contains(s, "card=done") {
			err = fmt.Errorf("panel: %s", s)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Panel(e.ctx, "press confirm"); err != nil {
		t.Fatal(err)
	}
	if res := waitResult(t, ch, time.Minute); !res.Answered {
		t.Fatalf("card+button call: %+v", res)
	}

	// 4. Alex's call, confirmed, then ended by the officer's idle tap.
	e.tap(t, card)
	ch = callAsync(t, e, port, approved, time.Minute)
	if _, err := e.WaitPanelPending(e.ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Panel(e.ctx, "press confirm"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // real time on purpose: the call is answered and talking for a while
	officerTap(t, offReader, officerCard, &lastOfficerTap)
	if res := waitResult(t, ch, 30*time.Second); !res.Answered || !res.RemoteHangup {
		t.Fatalf("call to be ended by the officer: %+v", res)
	}

	calls, err := e.WaitCalls(e.ctx, 4, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 {
		t.Fatalf("%d calls", len(calls))
	}
	// Newest first.
	ended, both, refused, button := calls[0], calls[1], calls[2], calls[3]
	if button.PersonID != alex || button.Disposition != wire.DispCompleted || button.ConfirmMethod != "button" || button.OfficerID != "" {
		t.Errorf("button-confirmed call: %+v", button)
	}
	if refused.PersonID != alex || refused.Disposition != wire.DispRefused || refused.Reason != "officer did not confirm" {
		t.Errorf("unconfirmed call: %+v", refused)
	}
	if both.PersonID != blake || both.Disposition != wire.DispCompleted || both.OfficerID != officer ||
		both.OfficerName != "Officer Reyes" || both.ConfirmMethod != "button+card" {
		t.Errorf("card+button call: %+v", both)
	}
	if ended.PersonID != alex || ended.Disposition != wire.DispEnded || ended.EndedBy != officer || ended.Reason != "ended by officer" {
		t.Errorf("call ended by the officer: %+v", ended)
	}
	if got, err := e.Calls(e.ctx, url.Values{"officer": {officer}}); err != nil || len(got) != 2 {
		t.Errorf("calls of the officer: %d %v", len(got), err)
	}

	// Every panel action reached central as an event.
	var acts []people.OfficerAction
	want := map[string]int{"confirm": 3, "timeout": 1, "tap": 1, "end_call": 1}
	err = stack.WaitFor(e.ctx, 30*time.Second, "the officer actions at central", func() error {
		if acts, err = e.OfficerActions(e.ctx); err != nil {
			return err
		}
		got := map[string]int{}
		for _, a := range acts {
			got[a.Action]++
		}
		for k, n := range want {
			if got[k] != n {
				return fmt.Errorf("actions so far %v, want %v", got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		switch {
		case a.Action == "confirm" && a.CallID == both.ID && a.OfficerID != officer:
			t.Errorf("confirm of %s without the officer: %+v", both.ID, a)
		case a.Action == "end_call" && (a.CallID != ended.ID || a.OfficerID != officer):
			t.Errorf("end_call action: %+v", a)
		case a.Action == "timeout" && a.CallID != refused.ID:
			t.Errorf("timeout action: %+v", a)
		}
	}
}
