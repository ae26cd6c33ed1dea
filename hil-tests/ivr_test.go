package hiltests

import (
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/tools/stack"
)

// ivrEnv is an installation with the production call flow switched on:
// the called party must press 1 to accept, refusals are spoken.
func ivrEnv(t *testing.T, accept byte) *env {
	t.Helper()
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond, Accept: accept, AcceptAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e := newEnv(t, family.Addr().String(), func(_ string, o *stack.Options) {
		o.IVR, o.AcceptTimeout = true, 4*time.Second
	})
	seed(t, e)
	return e
}

// TestIVRFamilyAccepts: the called party hears the announcement, presses 1,
// and only then is the call bridged (its Answer time, which billing starts
// from, is the acceptance); a refusal is spoken to the caller before the 403.
func TestIVRFamilyAccepts(t *testing.T) {
	e := ivrEnv(t, '1')
	port := newPort(t, e)

	e.tap(t, card)
	res := call(t, e, port, unapproved, time.Second)
	if res.Code != 403 || res.Reason != "number not approved" || res.RTP.Received < 25 {
		t.Fatalf("refusal: %d %q with %d packets of early media; want 403 with the reason spoken first", res.Code, res.Reason, res.RTP.Received)
	}

	e.tap(t, card) // the refusal used the tap up
	res = call(t, e, port, approved, 2*time.Second)
	if !res.Answered {
		t.Fatalf("accepted call: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := calls[0] // newest first
	if c.Disposition != "completed" || c.Answer == nil {
		t.Fatalf("accepted call record: %+v", c)
	}
	// The phone pressed 1 after hearing a second of the announcement.
	if d := c.Answer.Sub(c.Start); d < time.Second {
		t.Errorf("answered %v after the INVITE: bridged before the called party accepted", d)
	}
	if _, err := e.WaitRecording(e.ctx, c.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestIVRFamilyBlocks: pressing 9 ends the call unbridged and unbilled, as
// a block of further calls from this person.
func TestIVRFamilyBlocks(t *testing.T) {
	e := ivrEnv(t, '9')
	port := newPort(t, e)
	e.tap(t, card)
	if res := call(t, e, port, approved, 2*time.Second); res.Answered {
		t.Fatalf("blocked call was bridged: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Disposition != "rejected" || c.Reason != callctl.ReasonBlocked || c.Answer != nil || c.Recording != nil {
		t.Fatalf("blocked call record: %+v", c)
	}
}

// TestIVRFamilySilent: no key within the accept timeout: not bridged.
func TestIVRFamilySilent(t *testing.T) {
	e := ivrEnv(t, 0)
	port := newPort(t, e)
	e.tap(t, card)
	if res := call(t, e, port, approved, 8*time.Second); res.Answered {
		t.Fatalf("unaccepted call was bridged: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Disposition != "rejected" || c.Reason != callctl.ReasonNotAccepted || c.Answer != nil {
		t.Fatalf("unaccepted call record: %+v", c)
	}
}
