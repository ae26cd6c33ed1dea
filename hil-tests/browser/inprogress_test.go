package browsertests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/tools/stack"
)

const (
	cardLive   = "04B2C3D4"
	numberLive = "+442079460077"
)

// TestCallsInProgressLive: with the calls-in-progress page open, a call
// starts (block B's person taps a card and calls); it appears on the page
// without a reload, naming the person, and its elapsed time advances.
func TestCallsInProgressLive(t *testing.T) {
	in := fixture(t)
	ctx, cancel := context.WithTimeout(in.ctx, 90*time.Second)
	defer cancel()
	// Block B's person gets a card and an approved number (the appliance
	// serves block B by now).
	if err := in.Do(ctx, "POST", "/api/v1/inmates/"+in.PersonB+"/cards", map[string]string{"uid": cardLive}, nil); err != nil {
		t.Fatal(err)
	}
	if err := in.Do(ctx, "POST", "/api/v1/inmates/"+in.PersonB+"/contacts", map[string]any{
		"number": numberLive, "name": "Family member", "relationship": "family"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := in.WaitPolicyApplied(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	b := newTab(t)
	b.loginOK("ada")
	b.open("/calls/in-progress")
	b.waitFor("the page to go live", `document.getElementById("live-status").textContent.startsWith("Live")`)
	eval[int](b, "mark the page (a reload would lose the mark)", `window.kinlineMark = 1`)
	if strings.Contains(b.bodyText(), nameB) {
		b.failf("a call of %s is in progress before it starts", nameB)
	}

	done := make(chan error, 1)
	go func() { done <- placeLiveCall(ctx, in, 12*time.Second) }()
	b.waitFor("the call to appear without a reload", fmt.Sprintf(
		`window.kinlineMark === 1 && Array.from(document.querySelectorAll("#live-calls tbody tr")).some(r => r.innerText.includes(%q))`, nameB))
	// The row's elapsed time (m:ss) in seconds.
	elapsed := fmt.Sprintf(`(() => { const r = Array.from(document.querySelectorAll("#live-calls tbody tr")).find(r => r.innerText.includes(%q));
		if (!r) { return -1; } const [m, s] = r.querySelector("td.elapsed").textContent.split(":"); return Number(m) * 60 + Number(s); })()`, nameB)
	first := eval[int](b, "read the elapsed time", elapsed)
	if first < 0 {
		b.failf("the call's row has gone")
	}
	b.waitFor("the elapsed time to advance", fmt.Sprintf(`window.kinlineMark === 1 && %s > %d`, elapsed, first+1))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.waitFor("the ended call to leave the list", fmt.Sprintf(
		`window.kinlineMark === 1 && !document.getElementById("live-calls").innerText.includes(%q)`, nameB))
}

// placeLiveCall taps the live card on the appliance's reader and calls
// the live number, talking for talk.
func placeLiveCall(ctx context.Context, in *installation, talk time.Duration) error {
	port, err := phone.NewPort(phone.PortConfig{Appliance: in.SIPAddr, User: stack.PortUser, Password: stack.PortPass})
	if err != nil {
		return err
	}
	defer port.Close()
	if err := port.Register(ctx, time.Hour); err != nil {
		return fmt.Errorf("REGISTER: %w", err)
	}
	uid, err := readersim.ParseUID(cardLive)
	if err != nil {
		return err
	}
	lines, err := in.ApplianceLogLines(`msg="card tap"`, "uid="+cardLive+" ")
	if err != nil {
		return err
	}
	if err := in.reader.Tap(uid, readersim.DefaultHold); err != nil {
		return err
	}
	if _, err := in.WaitApplianceLog(ctx, 15*time.Second, len(lines)+1, `msg="card tap"`, "uid="+cardLive+" "); err != nil {
		return err
	}
	res, err := port.Call(ctx, numberLive, talk)
	if err != nil {
		return fmt.Errorf("call %s: %w", numberLive, err)
	}
	if !res.Answered {
		return fmt.Errorf("the live call was not answered: %+v", res)
	}
	return nil
}
