package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// TestCallEndEndsItsTap: a call's end (callEnded, call control's
// OnCallEnd) ends the tap it used: a hotline call hung up at the menu
// leaves no tap for the next call on the terminal, and a refused direct
// call leaves none either.
func TestCallEndEndsItsTap(t *testing.T) {
	s, clk := newSystem(t, "", Deps{Stater: roomy()})
	t.Cleanup(func() {
		if s.Panel != nil {
			s.Panel.Close()
		}
		s.Store.Close()
	})
	h := callctl.Hotline(hotline{s.Authz})
	noTap := func(what, id string) {
		t.Helper()
		r := s.authorize(context.Background(), callctl.AuthRequest{CallID: id, Terminal: "t1", Number: numRecorded, Time: clk.Now()})
		if r.Allowed || !errors.Is(r.RefusalErr, policy.ErrNoTap) {
			t.Fatalf("%s: the next call without a tap: %+v", what, r)
		}
	}

	// The hotline: card, then the caller hangs up at the menu.
	s.Authz.Tap("t1", "AA")
	if c, ok := h.Caller("t1", "h1"); !ok || c.PersonID != "A" {
		t.Fatalf("hotline caller %+v %v", c, ok)
	}
	clk.Advance(3 * time.Second)
	s.callEnded(wire.CallRecord{CallID: "h1", Terminal: "t1", Start: clk.Now().Add(-3 * time.Second), End: clk.Now(),
		Disposition: wire.DispCancelled, Reason: "caller hung up"})
	if _, ok := h.Caller("t1", "h2"); ok {
		t.Fatal("the hotline call's tap outlived its hang-up")
	}
	noTap("hotline call hung up", "d0")

	// A direct call refused for its number.
	s.Authz.Tap("t1", "AA")
	if r := s.authorize(context.Background(), callctl.AuthRequest{CallID: "d1", Terminal: "t1", Number: "+449990000", Time: clk.Now()}); r.Allowed {
		t.Fatalf("unapproved number allowed: %+v", r)
	}
	noTap("refused direct call", "d2")
}
