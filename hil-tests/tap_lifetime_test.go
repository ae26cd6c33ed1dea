package hiltests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// tapLifeEnv is an installation with the hotline on hotlineNumber, Alex
// (card, PIN hotlinePIN) and Blake (whose calls need the officer's confirm
// button), the family phone answering on the trunk.
func tapLifeEnv(t *testing.T) (*env, *phone.Family, *phone.Port) {
	t.Helper()
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e := newEnv(t, family.Addr().String(), func(_ string, o *stack.Options) { o.HotlineNumber = hotlineNumber })
	id := seed(t, e)
	if err := e.Do(e.ctx, "PATCH", "/api/v1/inmates/"+id, map[string]any{"pin": hotlinePIN}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Seed(e.ctx, stack.Person{PrisonNumber: "B5678DE", Name: "Blake Quinn", Card: blakeCard, Numbers: []string{approved},
		Confirm: wire.ConfirmButton}); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return e, family, newPort(t, e)
}

// hotlineUpTo dials the hotline and keys keys once the appliance speaks.
func hotlineUpTo(t *testing.T, e *env, port *phone.Port, keys string) *phone.Call {
	t.Helper()
	c, err := port.Dial(e.ctx, hotlineNumber, nil)
	if err != nil {
		t.Fatalf("the appliance did not answer the hotline: %v", err)
	}
	testkit.Eventually(t, 15*time.Second, "prompt audio from the appliance after it answered", func() bool { return c.Stats().Received > 10 })
	if keys != "" {
		if err := c.SendDTMF(e.ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func hangup(t *testing.T, c *phone.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTapServesOneCall: through the real binaries, a card tap serves one
// call, whatever its outcome, well inside the 60 s tap window: after a
// refused call, an allowed call, a hotline call placed after a wrong PIN
// was retried in it, a hotline call hung up at the menu (PIN entered), and
// a call abandoned while the officer was asked, the next call on the
// phone without a new tap is refused "no card tapped", never placed as
// the person who tapped.
func TestTapServesOneCall(t *testing.T) {
	e, family, port := tapLifeEnv(t)
	noTap := func(what string) {
		t.Helper()
		res := call(t, e, port, approved, time.Second)
		if res.Answered || res.Code != 403 || res.Reason != "no card tapped" {
			t.Fatalf("after %s, a call without a tap: %d %q (answered %v), want 403 \"no card tapped\"", what, res.Code, res.Reason, res.Answered)
		}
	}

	// 1. Refused (a number not approved), the handset back on hook.
	e.tap(t, blakeCard)
	wantRefused(t, call(t, e, port, unapproved, time.Second), "number not approved")
	noTap("a refused call")

	// 2. Allowed, talked, hung up.
	e.tap(t, blakeCard)
	ch := callAsync(t, e, port, approved, time.Second)
	if _, err := e.WaitPanelPending(e.ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Panel(e.ctx, "press confirm"); err != nil {
		t.Fatal(err)
	}
	if res := waitResult(t, ch, time.Minute); !res.Answered {
		t.Fatalf("confirmed call: %+v", res)
	}
	noTap("an allowed call")

	// 3. The hotline: a wrong PIN, retried in the same call, then the
	// number; the call is placed, bridged and hung up.
	e.tap(t, card)
	c := hotlineUpTo(t, e, port, "1111#"+hotlinePIN+"#1"+hotlineDialled+"#")
	select {
	case inv := <-family.Invites():
		if !strings.HasSuffix(inv.Number, "442079460001") {
			t.Fatalf("trunk INVITE for %q", inv.Number)
		}
	case <-c.RemoteHangup():
		t.Fatal("the hotline hung up: the right PIN after a wrong one was not taken in the same call")
	case <-time.After(time.Minute):
		t.Fatal("the trunk was never called")
	}
	before := c.Stats().Received
	testkit.Eventually(t, 15*time.Second, "audio from the family after the trunk answered", func() bool { return c.Stats().Received > before+25 })
	hangup(t, c)
	noTap("a hotline call")

	// 4. The hotline, PIN entered, hung up at the menu: the next person
	// must not call as Alex, PIN and all.
	e.tap(t, card)
	c = hotlineUpTo(t, e, port, hotlinePIN+"#")
	// The PIN reaches the appliance (keys at RFC 4733 pace) before the
	// hang-up: wait until the appliance has spoken past it (the menu).
	heard := c.Stats().Received
	testkit.Eventually(t, 15*time.Second, "the hotline to speak after the PIN", func() bool { return c.Stats().Received > heard+100 })
	hangup(t, c)
	noTap("a hotline call hung up at the menu")

	// 5. Abandoned while the officer was asked (the caller hangs up: CANCEL).
	e.tap(t, blakeCard)
	cctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := port.Call(cctx, approved, time.Second)
		done <- err
	}()
	if _, err := e.WaitPanelPending(e.ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned call: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the abandoned call never ended")
	}
	if err := stack.WaitFor(e.ctx, 20*time.Second, "the panel to stop waiting", func() error {
		s, err := e.Panel(e.ctx, "state")
		if err == nil && strings.Contains(s, "pending=on") {
			err = errors.New(s)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	noTap("a call abandoned while the officer was asked")

	// Central: 10 attempts; the five without a tap refused as such, and
	// none placed in anyone's name.
	calls, err := e.WaitCalls(e.ctx, 10, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	noCard, answered := 0, 0
	for _, c := range calls {
		if c.Reason == "no card tapped" {
			noCard++
			if c.PersonID != "" || c.CardUID != "" {
				t.Errorf("a call without a tap charged to %q (card %q)", c.PersonID, c.CardUID)
			}
		}
		if c.Answer != nil {
			answered++
		}
	}
	if noCard != 5 || answered != 2 {
		t.Fatalf("%d calls refused for no card, %d answered; want 5 and 2", noCard, answered)
	}
}
