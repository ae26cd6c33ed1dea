package authz

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
)

// TestTapServesOneCall: whatever a call's outcome (refused by the policy,
// allowed, refused or abandoned while the officer was asked), the next
// call on the terminal finds no tap, well inside the tap window.
func TestTapServesOneCall(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	a := New(clk, time.Minute)
	a.SetPolicy(dualPolicy())
	ctx := context.Background()
	next := func(id string) {
		t.Helper()
		r := a.Check(ctx, Request{CallID: id, Terminal: "t1", Number: "5550100"}, &fakeConfirmer{conf: Confirmation{Method: "button"}})
		if r.Allowed || !errors.Is(r.Err, policy.ErrNoTap) {
			t.Fatalf("%s, the next call without a new tap: %+v", id, r)
		}
	}

	a.Tap("t1", "01010101")
	if r := a.Check(ctx, Request{CallID: "c1", Terminal: "t1", Number: "5550999"}, nil); !errors.Is(r.Err, policy.ErrNotApproved) {
		t.Fatalf("unapproved number: %+v", r)
	}
	next("c1-next")

	a.Tap("t1", "01010101")
	if r := a.Check(ctx, Request{CallID: "c2", Terminal: "t1", Number: "5550100"}, nil); !r.Allowed {
		t.Fatalf("allowed call: %+v", r)
	}
	next("c2-next")

	a.Tap("t1", "02020202") // needs the officer
	if r := a.Check(ctx, Request{CallID: "c3", Terminal: "t1", Number: "5550100"}, &fakeConfirmer{err: policy.ErrOfficerRefused}); !errors.Is(r.Err, policy.ErrOfficerRefused) {
		t.Fatalf("officer refused: %+v", r)
	}
	next("c3-next")

	a.Tap("t1", "02020202")
	if r := a.Check(ctx, Request{CallID: "c4", Terminal: "t1", Number: "5550100"}, &fakeConfirmer{err: fmt.Errorf("%w: timeout", policy.ErrNotConfirmed)}); !errors.Is(r.Err, policy.ErrNotConfirmed) {
		t.Fatalf("officer never came: %+v", r)
	}
	next("c4-next")

	a.Tap("t1", "02020202")
	cctx, cancel := context.WithCancel(ctx)
	cancel() // the caller hung up while the officer was asked
	if r := a.Check(cctx, Request{CallID: "c5", Terminal: "t1", Number: "5550100"}, &fakeConfirmer{block: true}); r.Allowed {
		t.Fatalf("abandoned call allowed: %+v", r)
	}
	next("c5-next")

	a.Tap("t1", "02020202")
	if r := a.Check(ctx, Request{CallID: "c6", Terminal: "t1", Number: "5550100"}, nil); !errors.Is(r.Err, policy.ErrPanelUnavailable) {
		t.Fatalf("no panel: %+v", r)
	}
	next("c6-next")
}

// TestTapHeldByTheCallThatUsesIt: the hotline's card, PIN (a wrong one
// retried) and number are one call; while it runs no other call sees the
// tap, and when it ends, whatever happened, the tap ends with it.
func TestTapHeldByTheCallThatUsesIt(t *testing.T) {
	hash, err := pin.Hash("4321")
	if err != nil {
		t.Fatal(err)
	}
	p := dualPolicy()
	p.People[0].PINHash = hash
	clk := clock.NewFake(time.Unix(0, 0))
	a := New(clk, time.Minute)
	a.SetPolicy(p)

	a.Tap("t1", "01010101")
	if c, ok := a.Caller("t1", "h1"); !ok || c.PersonID != "p1" || !c.NeedsPIN {
		t.Fatalf("hotline caller: %+v %v", c, ok)
	}
	if _, ok := a.Caller("t1", "other"); ok {
		t.Fatal("another call saw the tap the hotline call holds")
	}
	if err := a.VerifyPIN("t1", "other", "4321"); !errors.Is(err, policy.ErrNoTap) {
		t.Fatalf("another call's PIN on the held tap: %v", err)
	}
	if r := a.Authorize("t1", "5550100"); !errors.Is(r.Err, policy.ErrNoTap) {
		t.Fatalf("a direct call on the held tap: %+v", r)
	}
	if err := a.VerifyPIN("t1", "h1", "0000"); !errors.Is(err, policy.ErrBadPIN) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := a.VerifyPIN("t1", "h1", "4321"); err != nil {
		t.Fatalf("the right PIN, retried in the same call: %v", err)
	}
	clk.Advance(30 * time.Second)
	if r := a.Check(context.Background(), Request{CallID: "h1", Terminal: "t1", Number: "5550100"}, nil); !r.Allowed {
		t.Fatalf("the hotline call: %+v", r)
	}
	a.EndCall("t1", "h1")
	if _, ok := a.Caller("t1", "h2"); ok {
		t.Fatal("a tap left after the allowed hotline call")
	}

	// Hung up at the menu (balance heard, no number): nothing left.
	a.Tap("t1", "01010101")
	if _, ok := a.Caller("t1", "h3"); !ok {
		t.Fatal("no caller")
	}
	if err := a.VerifyPIN("t1", "h3", "4321"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	a.EndCall("t1", "h3")
	if _, ok := a.Caller("t1", "h4"); ok {
		t.Fatal("the tap of a call abandoned at the menu outlived it")
	}
	if r := a.Authorize("t1", "5550100"); !errors.Is(r.Err, policy.ErrNoTap) {
		t.Fatalf("direct call after the abandoned hotline call: %+v", r)
	}
}

// TestEndCallDropsOnlyItsTap: a call's end drops the tap that call
// holds, and only that: not a tap read after it (the next person's,
// even before the end is reported), not one on another terminal, not one
// another call holds.
func TestEndCallDropsOnlyItsTap(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	a := New(clk, time.Minute)
	a.SetPolicy(dualPolicy())

	a.Tap("t1", "01010101")
	a.Tap("t2", "01010101")
	if _, ok := a.Caller("t1", "c1"); !ok {
		t.Fatal("no caller")
	}
	a.Tap("t1", "02020202") // the next person taps before c1's end is reported
	a.EndCall("t1", "c1")
	c, ok := a.Caller("t1", "c2")
	if !ok || c.PersonID != "p2" {
		t.Fatalf("the next person's tap was dropped with c1's end: %+v %v", c, ok)
	}
	a.EndCall("t1", "c1") // reported twice: c2's tap stays
	a.EndCall("t1", "")
	if r := a.Check(context.Background(), Request{CallID: "c2", Terminal: "t1", Number: "5550100"}, &fakeConfirmer{conf: Confirmation{Method: "button"}}); !r.Allowed || r.PersonID != "p2" {
		t.Fatalf("c2 lost the tap it holds: %+v", r)
	}
	a.EndCall("t2", "c9")
	if _, ok := a.Caller("t2", ""); !ok {
		t.Fatal("a call that never used t2's tap ended it")
	}
}
