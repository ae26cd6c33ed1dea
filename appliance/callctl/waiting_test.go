package callctl_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/shared/wire"
)

// TestWaitingRingsThePort: an authorizer that waits for an officer calls
// Waiting; the port hears 180 Ringing before any decision, and the officer
// who confirmed lands in the call record.
func TestWaitingRingsThePort(t *testing.T) {
	rang := make(chan struct{})
	auth := callctl.AuthorizerFunc(func(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
		r.Waiting()
		r.Waiting() // idempotent: one 180
		select {
		case <-rang:
		case <-ctx.Done():
			return callctl.AuthResult{Reason: "gave up"}
		}
		return callctl.AuthResult{Allowed: true, PersonID: "p2", Record: true, OfficerID: "o1", ConfirmMethod: "button+card"}
	})
	e := start(t, opts{auth: auth})
	p := e.port(t, portUser, portPass)
	var provisional []int
	c, err := p.Dial(ctxT(t), "0611223344", func(code int) {
		provisional = append(provisional, code)
		if code == 180 && len(provisional) == 1 {
			close(rang) // the decision comes only after the port heard ringing
		}
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if len(provisional) < 1 || provisional[0] != 180 {
		t.Fatalf("provisional = %v", provisional)
	}
	// Let the ACK land before the BYE (the stacks may handle datagrams
	// out of order).
	if !callctltest.WaitFor(waitLong, func() bool { return c.Stats().Received >= 5 }) {
		t.Fatalf("port received %d RTP packets", c.Stats().Received)
	}
	if err := c.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.OfficerID != "o1" || rec.ConfirmMethod != "button+card" || rec.PersonID != "p2" {
		t.Fatalf("record = %+v", rec)
	}
}

// TestWaitingThenRefused: the port hears ringing, then the refusal with the
// authorizer's reason, and the record has no officer.
func TestWaitingThenRefused(t *testing.T) {
	rang := make(chan struct{})
	auth := callctl.AuthorizerFunc(func(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
		r.Waiting()
		select { // the officer's window runs while the port rings
		case <-rang:
		case <-ctx.Done():
		}
		return callctl.AuthResult{Reason: "officer did not confirm", PersonID: "p2"}
	})
	e := start(t, opts{auth: auth})
	var provisional []int
	_, err := e.port(t, portUser, portPass).Dial(ctxT(t), "0611223344", func(code int) {
		provisional = append(provisional, code)
		if len(provisional) == 1 {
			close(rang)
		}
	})
	var se *phone.StatusError
	if !errors.As(err, &se) || se.Code != 403 || se.Reason != "officer did not confirm" {
		t.Fatalf("dial: %v", err)
	}
	if len(provisional) != 1 || provisional[0] != 180 {
		t.Fatalf("provisional = %v", provisional)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispRefused || rec.Reason != "officer did not confirm" || rec.OfficerID != "" {
		t.Fatalf("record = %+v", rec)
	}
}
