package hiltests

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/tools/stack"
)

// TestSippHotline: sipp is the IAD port hotlining to the real
// kinline-appliance binary on pick-up, keying the PIN, 1 and the number
// as RFC 4733 telephone-events, and sipp is the trunk. First the trunk
// answers: the call is placed for the number keyed, bridged, recorded
// and completed at central. Then (a new card tap, the same trunk port)
// the trunk is busy: the appliance tells the person and hangs up
// itself, and central has the call as busy.
func TestSippHotline(t *testing.T) {
	sipprun.Need(t)
	trunkPort := sipprun.FreeUDPPort(t)
	trunk := sipprun.Start(t, trunkPort, "trunk_answer.xml", "-rtp_echo")
	e := newEnvHotline(t, trunk.Addr())
	id := seed(t, e)
	if err := e.Do(e.ctx, "PATCH", "/api/v1/inmates/"+id, map[string]any{"pin": hotlinePIN}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	iad := func(scenario string) *sipprun.Run {
		return sipprun.Start(t, 0, scenario, "-s", hotlineNumber, "-au", stack.PortUser, "-ap", stack.PortPass, "-set", "user", stack.PortUser, e.SIPAddr)
	}

	e.tap(t, card)
	call := iad("iad_hotline_call.xml")
	if err := call.Wait(t); err != nil {
		t.Fatalf("hotline call: %v", err)
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("trunk: %v", err)
	}
	if !strings.Contains(trunk.Messages(), "INVITE sip:"+hotlineE164+"@") {
		t.Fatalf("the trunk was not called for the number keyed as the policy matched it (%s):\n%s", hotlineE164, trunk.Messages())
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	done := calls[0]
	if done.Disposition != "completed" || done.Answer == nil || !strings.HasSuffix(done.Number, "442079460001") || done.CardUID != card {
		t.Fatalf("hotline call record: %+v", done)
	}
	if _, err := e.WaitRecording(e.ctx, done.ID, time.Minute); err != nil {
		t.Fatalf("hotline call not recorded: %v", err)
	}

	busy := sipprun.Start(t, trunkPort, "trunk_busy.xml")
	e.tap(t, card)
	refused := iad("iad_hotline_busy.xml")
	if err := refused.Wait(t); err != nil {
		t.Fatalf("hotline call to a busy trunk (the appliance should say so and hang up): %v", err)
	}
	if err := busy.Wait(t); err != nil {
		t.Fatalf("busy trunk: %v", err)
	}
	calls, err = e.WaitCalls(e.ctx, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := calls[0]; got.Disposition != "busy" || got.Answer != nil || !strings.Contains(got.Reason, strconv.Itoa(486)) {
		t.Fatalf("busy call record: %+v", got)
	}
}
