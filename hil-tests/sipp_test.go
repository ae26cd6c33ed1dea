package hiltests

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/audio/tone"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/tools/stack"
)

// TestSippAgainstAppliance: sipp plays both the IAD port and the SIP trunk
// around the real kinline-appliance binary: a port with wrong credentials
// is refused and the appliance keeps serving, a refused call gets its
// reason, and an allowed call is registered, authenticated, relayed (RTP
// from sipp's rtp_stream, echoed back by the trunk) and recorded, and
// arrives at central.
func TestSippAgainstAppliance(t *testing.T) {
	sipprun.Need(t)
	trunk := sipprun.Start(t, 0, "trunk_answer.xml", "-rtp_echo")
	e := newEnv(t, trunk.Addr())
	seed(t, e)
	iad := func(scenario string, args ...string) *sipprun.Run {
		return sipprun.Start(t, 0, scenario, append(args, "-set", "user", stack.PortUser, e.SIPAddr)...)
	}

	bad := iad("iad_bad_auth.xml", "-au", stack.PortUser, "-ap", "not-the-password")
	if err := bad.Wait(t); err != nil {
		t.Fatalf("wrong credentials were not refused with 403: %v", err)
	}

	e.tap(t, card)
	refused := iad("iad_refused.xml", "-s", unapproved, "-au", stack.PortUser, "-ap", stack.PortPass)
	if err := refused.Wait(t); err != nil {
		t.Fatalf("refused call: %v", err)
	}
	if !strings.Contains(refused.Logs(), "403 number not approved") {
		t.Errorf("sipp did not see the 403 reason:\n%s", refused.Logs())
	}

	e.tap(t, card) // the refusal used the tap up
	call := iad("iad_register_call.xml", "-s", approved, "-au", stack.PortUser, "-ap", stack.PortPass)
	if err := call.Wait(t); err != nil {
		t.Fatalf("allowed call: %v", err)
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("trunk: %v", err)
	}

	calls, err := e.WaitCalls(e.ctx, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Fatalf("central has %d calls, want 2 (a failed digest auth makes no call record)", len(calls))
	}
	done, ref := calls[0], calls[1] // newest first
	if ref.Disposition != "refused" || ref.Reason != "number not approved" || ref.Number != unapproved {
		t.Errorf("refused call: %+v", ref)
	}
	checkSippCall(t, e, done)
}

// TestSippOverTCPAgainstAppliance: the same allowed call with sipp
// speaking SIP over TCP on both sides (an IAD set to TCP, a trunk reached
// over TCP): registered, authenticated, relayed, recorded, at central.
func TestSippOverTCPAgainstAppliance(t *testing.T) {
	sipprun.Need(t)
	trunkAddr, err := stack.FreeTCP()
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(trunkAddr)
	port, _ := strconv.Atoi(p)
	trunk := sipprun.Start(t, port, "trunk_answer.xml", "-t", "t1", "-rtp_echo")
	e := newEnv(t, trunk.Addr(), func(_ string, o *stack.Options) { o.SIPTransport = "tcp" })
	seed(t, e)
	e.tap(t, card)
	call := sipprun.Start(t, 0, "iad_register_call.xml", "-t", "t1", "-s", approved, "-au", stack.PortUser, "-ap", stack.PortPass, "-set", "user", stack.PortUser, e.SIPAddr)
	if err := call.Wait(t); err != nil {
		t.Fatalf("allowed call over TCP: %v", err)
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("trunk over TCP: %v", err)
	}
	if m := trunk.Messages(); !strings.Contains(m, "TCP message received") || !strings.Contains(m, "transport=tcp") {
		t.Errorf("the trunk's INVITE did not come over TCP with a TCP Contact:\n%s", m)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	checkSippCall(t, e, calls[0])
}

// checkSippCall checks the call sipp's iad_register_call.xml made through
// a trunk_answer.xml trunk (-rtp_echo): completed, and its recording at
// central carries sipp's 440 Hz on the port's channel and the echo on the
// trunk's.
func checkSippCall(t *testing.T, e *env, done store.Call) {
	t.Helper()
	if done.Disposition != "completed" || done.Answer == nil || done.Number != approved || done.CardUID != card {
		t.Fatalf("completed call: %+v", done)
	}
	data, err := e.WaitRecording(e.ctx, done.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := wav.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := rd.ReadAllPCM(8000 * 60)
	if err != nil {
		t.Fatal(err)
	}
	// sipp streams 440 Hz from the port; the trunk echoes it back, so both
	// channels carry it, and the port's channel must not be silent.
	if f, p := tone.Dominant(pcm[0], 8000, 440, 1000); f != 440 || p == 0 {
		t.Errorf("port channel: dominant %v Hz (power %v), want sipp's 440 Hz", f, p)
	}
	if tone.RMS(pcm[1]) < 0.05 { // full scale = 1
		t.Errorf("trunk channel silent (RMS %v): sipp's echo was not recorded", tone.RMS(pcm[1]))
	}
}
