package hiltests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// The hotline as the IAD uses it: the port hotlines to the appliance on
// pick-up (sip.hotline_number in the appliance's config), the appliance
// answers, the person taps the card, enters the PIN, presses 1 and the
// number, all as RFC 4733 events, and the call is placed on the trunk
// and bridged to the answered port leg.
const (
	hotlineNumber = "100"
	hotlinePIN    = "4321"
	// hotlineDialled is the approved number as keys on a phone: "00" is
	// the international prefix, normalized to '+' by the policy.
	hotlineDialled = "00442079460001"
	// hotlineE164 is hotlineDialled as the policy matched it, the number
	// the trunk is asked for (issue 11).
	hotlineE164 = "+442079460001"
)

// hotlineEnv starts an installation whose appliance answers
// hotlineNumber (its config gets sip.hotline_number before it starts),
// with the person seeded, given a PIN, and the family phone as trunk.
func hotlineEnv(t *testing.T, family *phone.Family) *env {
	t.Helper()
	e := newEnvHotline(t, family.Addr().String())
	id := seed(t, e)
	if err := e.Do(e.ctx, "PATCH", "/api/v1/inmates/"+id, map[string]any{"pin": hotlinePIN}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return e
}

// newEnvHotline is newEnv with sip.hotline_number added to the
// appliance's config (tools/stack has no option for it yet): newEnv
// starts the appliance at once, so the config file the stack wrote is
// edited and the appliance restarted with it.
func newEnvHotline(t *testing.T, trunk string) *env {
	t.Helper()
	var cfgPath string
	e := newEnv(t, trunk, func(dir string, o *stack.Options) {
		cfgPath = filepath.Join(dir, "appliance.yaml")
	})
	// newEnv has started the appliance with the stack's config: restart it
	// with the hotline number added.
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	if !strings.Contains(cfg, "hotline_number") {
		cfg = strings.Replace(cfg, "sip:\n", "sip:\n  hotline_number: \""+hotlineNumber+"\"\n", 1)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.KillAppliance(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	if err := e.StartAppliance(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestHotlineCall is the whole hotline flow through the real binaries.
// It needs the daemon's hotline wiring (appliance/daemon passing
// sip.hotline_number and the authorizer's Hotline to call control).
func TestHotlineCall(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e := hotlineEnv(t, family)
	port := newPort(t, e)

	e.tap(t, card)
	start := time.Now()
	c, err := port.Dial(e.ctx, hotlineNumber, nil)
	if err != nil {
		t.Fatalf("the appliance did not answer the hotline: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Hangup(ctx)
	}()
	// The appliance speaks first ("enter your PIN"): its prompt reaches
	// the port.
	testkit.Eventually(t, 15*time.Second, "prompt audio from the appliance after it answered", func() bool { return c.Stats().Received > 10 })
	if err := c.SendDTMF(e.ctx, hotlinePIN+"#"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDTMF(e.ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDTMF(e.ctx, hotlineDialled+"#"); err != nil {
		t.Fatal(err)
	}
	var inv phone.FamilyCall
	select {
	case inv = <-family.Invites():
	case <-time.After(time.Minute):
		t.Fatal("the trunk was never called")
	}
	if inv.Number != hotlineE164 {
		t.Fatalf("trunk INVITE for %q, want %q", inv.Number, hotlineE164)
	}
	t.Logf("pick-up to trunk INVITE: %v (keys sent at RFC 4733 pace)", time.Since(start))
	// Bridged: the family's tone now reaches the port for a while.
	before := c.Stats().Received
	testkit.Eventually(t, 15*time.Second, "audio from the family after the trunk answered", func() bool { return c.Stats().Received > before+50 })
	hctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil {
		t.Fatal(err)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := calls[0]
	if got.Disposition != "completed" || got.Answer == nil || !strings.HasSuffix(got.Number, "442079460001") {
		t.Fatalf("call record: %+v", got)
	}
	if _, err := e.WaitRecording(e.ctx, got.ID, time.Minute); err != nil {
		t.Fatalf("hotline call not recorded: %v", err)
	}
}

// TestHotlineWrongPIN: three wrong PINs end the call from the appliance
// (spoken, then BYE), refused, without a trunk call.
func TestHotlineWrongPIN(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e := hotlineEnv(t, family)
	port := newPort(t, e)
	e.tap(t, card)
	c, err := port.Dial(e.ctx, hotlineNumber, nil)
	if err != nil {
		t.Fatalf("the appliance did not answer the hotline: %v", err)
	}
	if err := c.SendDTMF(e.ctx, "1111#2222#3333#"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.RemoteHangup():
	case <-time.After(time.Minute):
		t.Fatal("the appliance never hung up after three wrong PINs")
	}
	select {
	case inv := <-family.Invites():
		t.Fatalf("trunk called after wrong PINs: %+v", inv)
	default:
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := calls[0]; got.Disposition != "refused" {
		t.Fatalf("call record: %+v", got)
	}
}
