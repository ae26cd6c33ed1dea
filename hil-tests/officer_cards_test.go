package hiltests

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// officerWaitWindow is the confirmation window of the rule these tests
// use: long enough for cards to be tapped and read on a loaded machine.
const officerWaitWindow = 15 * time.Second

// wantSpokenRefusal checks a refused call's 403 reason and that the early
// media heard before it was the refusal prompt id in lang: as many RTP
// packets (20 ms each) as the prompt lasts, within 10%. The three ways a
// wait for the officer can end have prompts of clearly different lengths
// (appliance/prompts: refused_officer, refused_not_confirmed,
// refused_panel_unavailable).
func wantSpokenRefusal(t *testing.T, res phone.Result, reason, lang string, id prompts.ID) {
	t.Helper()
	if res.Answered || res.Code != 403 || res.Reason != reason {
		t.Fatalf("got %d %q (answered %v), want 403 %q", res.Code, res.Reason, res.Answered, reason)
	}
	audio, err := prompts.Get(lang, id)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(len(audio)) / 160
	if got := float64(res.RTP.Received); got < want*0.9 || got > want*1.1 {
		t.Fatalf("%q: %v packets of early media, want about %.0f (the %s prompt %s)", reason, got, want, lang, id)
	}
}

// officerCardsEnv is an installation with spoken refusals, a second
// simulated PN532 as the officer panel's reader, the rule "high" needing
// the confirm button within officerWaitWindow, Alex (English) and Dani
// (Spanish) under it, Blake (a prisoner with no rule of note) and an
// officer.
type officerCardsEnv struct {
	*env
	offReader *readersim.Sim
	lastTap   time.Time
	port      *phone.Port
	officer   string
}

func newOfficerCardsEnv(t *testing.T) *officerCardsEnv {
	t.Helper()
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond, Accept: '1', AcceptAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	oe := &officerCardsEnv{}
	oe.env = newEnv(t, family.Addr().String(), func(dir string, o *stack.Options) {
		var err error
		oe.offReader, err = readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "officer-reader")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { oe.offReader.Close() })
		o.OfficerReaderDevice = oe.offReader.Path()
		o.IVR, o.AcceptTimeout = true, 4*time.Second
	})
	e := oe.env
	if err := e.SetRules(e.ctx, []wire.CallRule{
		{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: int(officerWaitWindow / time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []stack.Person{
		{PrisonNumber: "A1234BC", Name: "Alex Morgan", Card: card, Numbers: []string{approved}, SupervisionLevel: "high"},
		{PrisonNumber: "D4321ZZ", Name: "Dani Ruiz", Card: daniCard, Numbers: []string{approved}, SupervisionLevel: "high", Language: "es"},
		{PrisonNumber: "B5678DE", Name: "Blake Quinn", Card: blakeCard, Numbers: []string{approved}},
	} {
		if _, err := e.Seed(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if oe.officer, err = e.EnrolOfficer(e.ctx, "S-0042", "Officer Reyes", officerCard); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	oe.port = newPort(t, e)
	return oe
}

const daniCard = "04D0D0D0"

// stillPending fails unless the panel still shows the call waiting on
// terminal t1.
func (oe *officerCardsEnv) stillPending(t *testing.T, what string) {
	t.Helper()
	s, err := oe.Panel(oe.ctx, "state")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "pending=on") || !strings.Contains(s, "terminal="+stack.Terminal) {
		t.Fatalf("after %s the panel no longer waits for the officer: %s", what, s)
	}
}

// TestOfficerReaderIgnoresPrisonersCards: through the real binaries, a
// prisoner's card and a card nobody holds, read on the officer panel's
// reader while a call waits for confirmation, neither refuse nor confirm
// it: the panel keeps waiting, central gets a not_officer_card alarm and
// an unknown_card action for each. The caller then hears the true reason
// the wait ended: "the officer did not allow this call" only when the
// officer pressed cancel, and, in Spanish, "no officer confirmed this call
// in time" when the window ran out with only a prisoner's card tapped.
func TestOfficerReaderIgnoresPrisonersCards(t *testing.T) {
	oe := newOfficerCardsEnv(t)
	e := oe.env

	// 1. A prisoner's card, then an unknown one, then the cancel button.
	e.tap(t, card)
	ch := callAsync(t, e, oe.port, approved, time.Second)
	if _, err := e.WaitPanelPending(e.ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	officerTap(t, oe.offReader, blakeCard, &oe.lastTap)
	officerTap(t, oe.offReader, "DEADBEEF", &oe.lastTap)
	// The appliance raises each card's alarm after its panel has had the
	// card: once central has both, the panel has seen both, and the call
	// must still be waiting.
	if _, err := e.WaitAlarms(e.ctx, "not_officer_card", 2, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-ch:
		t.Fatalf("a card that is not an officer's ended the wait: %+v", res)
	default:
	}
	oe.stillPending(t, "a prisoner's card and an unknown card")
	if _, err := e.Panel(e.ctx, "press cancel"); err != nil {
		t.Fatal(err)
	}
	wantSpokenRefusal(t, waitResult(t, ch, time.Minute), "officer refused", "en", prompts.RefusedOfficer)

	// 2. Dani (Spanish): a prisoner's card, then nobody. The window runs
	// out: not confirmed, never "refused".
	e.tap(t, daniCard)
	begin := time.Now()
	ch = callAsync(t, e, oe.port, approved, time.Second)
	if _, err := e.WaitPanelPending(e.ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	officerTap(t, oe.offReader, blakeCard, &oe.lastTap)
	if _, err := e.WaitAlarms(e.ctx, "not_officer_card", 3, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, ch, time.Minute)
	wantSpokenRefusal(t, res, "officer did not confirm", "es", prompts.RefusedNotConfirmed)
	if waited := time.Since(begin); waited < officerWaitWindow-time.Second {
		t.Fatalf("refused after %v, before the %v window ran out", waited, officerWaitWindow)
	}

	// Central: two refused calls with their true reasons; the panel's
	// actions name the calls the cards were tapped during; the alarms
	// name the cards.
	calls, err := e.WaitCalls(e.ctx, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	timedOut, cancelled := calls[0], calls[1] // newest first
	if cancelled.Disposition != wire.DispRefused || cancelled.Reason != "officer refused" ||
		timedOut.Disposition != wire.DispRefused || timedOut.Reason != "officer did not confirm" {
		t.Fatalf("calls: %+v / %+v", cancelled, timedOut)
	}
	want := map[string]int{"unknown_card": 3, "cancel": 1, "timeout": 1}
	err = stack.WaitFor(e.ctx, 30*time.Second, "the officer actions at central", func() error {
		acts, err := e.OfficerActions(e.ctx)
		if err != nil {
			return err
		}
		got := map[string]int{}
		perCall := map[string]int{}
		for _, a := range acts {
			got[a.Action]++
			if a.Action == "unknown_card" {
				perCall[a.CallID]++
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || perCall[cancelled.ID] != 2 || perCall[timedOut.ID] != 1 {
			return fmt.Errorf("actions %v (unknown cards per call %v), want %v", got, perCall, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	alarms, err := e.AlarmsWithCode(e.ctx, "not_officer_card")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, a := range alarms {
		msgs = append(msgs, a.Message)
	}
	all := strings.Join(msgs, "\n")
	if len(alarms) != 3 || strings.Count(all, "B5678DE") != 2 || strings.Count(all, "DEADBEEF") != 1 {
		t.Fatalf("not_officer_card alarms:\n%s", all)
	}
}

// TestOfficerPanelUnavailableSpoken: an appliance on a board whose panel
// cannot be opened here (the rpi4 board's GPIO is not on this machine, as
// when the panel is missing or broken) refuses a call that needs an
// officer with the reason "officer panel unavailable", spoken as such in
// the caller's language (Spanish here), not as an officer's refusal or a
// timeout.
func TestOfficerPanelUnavailableSpoken(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond, Accept: '1', AcceptAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e := newEnv(t, family.Addr().String(), func(_ string, o *stack.Options) {
		o.Board = "rpi4"
		o.IVR, o.AcceptTimeout = true, 4*time.Second
	})
	if err := e.SetRules(e.ctx, []wire.CallRule{{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: 30}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Seed(e.ctx, stack.Person{PrisonNumber: "D4321ZZ", Name: "Dani Ruiz", Card: daniCard, Numbers: []string{approved},
		SupervisionLevel: "high", Language: "es"}); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WaitAlarms(e.ctx, "panel_down", 1, 30*time.Second); err != nil {
		t.Fatalf("the appliance did not report its panel down: %v", err)
	}
	port := newPort(t, e)
	e.tap(t, daniCard)
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	res, err := port.Call(ctx, approved, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantSpokenRefusal(t, res, "officer panel unavailable", "es", prompts.RefusedPanelUnavailable)
}
