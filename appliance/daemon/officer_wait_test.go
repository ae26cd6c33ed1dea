package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// officerWaitSystem is newSystem with person A (card AA) under a rule that
// needs the confirm button within 30 s, an officer (card 0F0F0F0F) and a
// person who is not an officer (card BB).
func officerWaitSystem(t *testing.T) *System {
	t.Helper()
	s, _ := newSystem(t, "", Deps{Stater: roomy()})
	t.Cleanup(func() {
		if s.Panel != nil {
			s.Panel.Close()
		}
		s.Store.Close()
	})
	if s.Panel == nil {
		t.Fatal("the simulated board has no officer panel")
	}
	s.applyPolicy(&wire.Policy{V: 1, Version: 2, ApplianceID: "blk-a",
		Rules: []wire.CallRule{{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: 30, MaxDurationSeconds: 3600}},
		People: []wire.Person{
			{ID: "A", PrisonNumber: "A1234BC", Status: wire.StatusActive, SupervisionLevel: "high", Cards: []string{"AA"},
				Numbers: []wire.ApprovedNumber{{Number: numRecorded}}},
			{ID: "B", PrisonNumber: "B5678DE", Status: wire.StatusActive, Cards: []string{"BB"}},
			{ID: "O", Status: wire.StatusActive, Officer: true, Cards: []string{"0F0F0F0F"}},
		},
	})
	return s
}

// dialAsync is dial in the background; it waits until the panel shows the
// call.
func dialAsync(t *testing.T, s *System, id string) <-chan callctl.AuthResult {
	t.Helper()
	out := make(chan callctl.AuthResult, 1)
	go func() { out <- dial(s, id, numRecorded) }()
	testkit.Eventually(t, waitLong, "call "+id+" to be shown on the panel", func() bool { return s.Panel.State().CallID == id })
	return out
}

func authDone(t *testing.T, ch <-chan callctl.AuthResult) callctl.AuthResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLong):
		t.Fatal("the call was never decided")
		return callctl.AuthResult{}
	}
}

// wantSpoken checks that a refused call is spoken with prompt want.
func wantSpoken(t *testing.T, what string, r callctl.AuthResult, want prompts.ID) {
	t.Helper()
	if r.Allowed {
		t.Fatalf("%s: allowed %+v", what, r)
	}
	if got, ok := prompts.ForReason(r.RefusalErr); !ok || got != want {
		t.Fatalf("%s: refused %q (%v), spoken as %q, want %q", what, r.Reason, r.RefusalErr, got, want)
	}
}

// TestOfficerReaderIgnoresOtherCards: a prisoner's card and an unknown
// card on the officer reader while a call waits for confirmation neither
// refuse nor confirm it (each raises a not_officer_card alarm for
// central); the call is then refused by the officer's cancel button and
// the caller hears "the officer did not allow this call".
func TestOfficerReaderIgnoresOtherCards(t *testing.T) {
	s := officerWaitSystem(t)
	ch := dialAsync(t, s, "c1")
	s.officerTapped(cardreader.Tap{Reader: "officer", UID: "BB"})       // a prisoner's card
	s.officerTapped(cardreader.Tap{Reader: "officer", UID: "DEADBEEF"}) // a card nobody holds
	select {
	case r := <-ch:
		t.Fatalf("a card that is not an officer's decided the call: %+v", r)
	default:
	}
	if st := s.Panel.State(); st.CallID != "c1" || !st.Pending {
		t.Fatalf("panel after cards that are not an officer's: %+v", st)
	}
	var alarms []wire.Alarm
	for _, a := range alarmsInOutbox(t, s) {
		if a.Code == AlarmNotOfficerCard {
			alarms = append(alarms, a)
		}
	}
	if len(alarms) != 2 || alarms[0].Source != "officer" || !strings.Contains(alarms[0].Message, "B5678DE") ||
		!strings.Contains(alarms[1].Message, "DEADBEEF") {
		t.Fatalf("not_officer_card alarms: %+v", alarms)
	}

	if err := s.Panel.Press(context.Background(), board.RoleCancel); err != nil {
		t.Fatal(err)
	}
	wantSpoken(t, "cancel button", authDone(t, ch), prompts.RefusedOfficer)

	// The officer's own card raises no alarm.
	before := len(alarmsInOutbox(t, s))
	s.officerTapped(cardreader.Tap{Reader: "officer", UID: "0F0F0F0F"})
	if n := len(alarmsInOutbox(t, s)); n != before {
		t.Fatalf("the officer's card raised %d alarm(s)", n-before)
	}
}

// TestOfficerWaitEndingsSpoken: each way a wait for the officer ends
// without a confirmation is spoken as itself: the window running out with
// only a prisoner's card tapped is "no officer confirmed this call in
// time", and a closed or missing panel is "the officer panel is not
// available".
func TestOfficerWaitEndingsSpoken(t *testing.T) {
	s := officerWaitSystem(t)
	clk := s.Clock.(interface{ Advance(time.Duration) })

	ch := dialAsync(t, s, "c2")
	s.officerTapped(cardreader.Tap{Reader: "officer", UID: "BB"})
	clk.Advance(31 * time.Second)
	wantSpoken(t, "window ran out", authDone(t, ch), prompts.RefusedNotConfirmed)

	s.Panel.Close()
	wantSpoken(t, "closed panel", dial(s, "c3", numRecorded), prompts.RefusedPanelUnavailable)
	s.Panel = nil
	wantSpoken(t, "no panel", dial(s, "c4", numRecorded), prompts.RefusedPanelUnavailable)
}
