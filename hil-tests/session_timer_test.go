package hiltests

import (
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// TestTrunkSessionTimer: the real appliance asks a sipp trunk for RFC
// 4028 session timers with itself as refresher; the trunk sets a 4 s
// interval, and the appliance refreshes the dialog with UPDATE (the trunk
// allows it) every half interval, twice, until the trunk hangs up; the
// call is recorded as completed.
func TestTrunkSessionTimer(t *testing.T) {
	sipprun.Need(t)
	trunk := sipprun.Start(t, 0, "trunk_session_timer.xml", "-rtp_echo")
	e := newEnv(t, trunk.Addr())
	seed(t, e)
	e.tap(t, card)
	iad := sipprun.Start(t, 0, "iad_call_far_hangup.xml", "-s", approved, "-au", stack.PortUser, "-ap", stack.PortPass, "-set", "user", stack.PortUser, e.SIPAddr)
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("trunk with session timers: %v", err)
	}
	if err := iad.Wait(t); err != nil {
		t.Fatalf("IAD: %v", err)
	}
	m := trunk.Messages()
	if strings.Count(m, "UPDATE sip:") < 2 || !strings.Contains(m, "Session-Expires: 600;refresher=uac") {
		t.Errorf("the trunk did not see the session timer and its refreshes:\n%s", m)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Disposition != wire.DispCompleted || c.Answer == nil {
		t.Fatalf("call: %+v", c)
	}
}
