package hiltests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/audio/tone"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// TestCallCutByApplianceCrash: a call answered on a sipp trunk, the
// appliance killed with -9 a few seconds in, and started again. At its
// start the appliance closes the call it died with: central gets the call
// with disposition appliance_restarted and a duration > 0, its debit (the
// price of that duration at the call's rate; the reconciliation agrees),
// its recording (sealed from the partial file: playable, the port's tone
// in it, shorter than the call) and the alarm calls_closed_on_restart; no
// .part file is left on the appliance; and the trunk and the IAD port
// each receive a BYE for their dialog (the sipp scenarios pass only on a
// BYE they answer).
func TestCallCutByApplianceCrash(t *testing.T) {
	sipprun.Need(t)
	trunk := sipprun.Start(t, 0, "trunk_answer.xml", "-rtp_echo")
	e := newEnv(t, trunk.Addr())
	person := seed(t, e)
	if err := e.Do(e.ctx, "PUT", "/api/v1/rates", map[string]any{"rates": []wire.Rate{faultRate}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := setCharging(e.ctx, e.Stack, "on"); err != nil {
		t.Fatal(err)
	}
	if err := e.Do(e.ctx, "POST", "/api/v1/accounts/"+person+"/recharges", map[string]any{"amount": "10.00", "receipt": "R-cut"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	e.tap(t, card)
	iad := sipprun.Start(t, 0, "iad_call_cut.xml", "-s", approved, "-au", stack.PortUser, "-ap", stack.PortPass, "-set", "user", stack.PortUser, e.SIPAddr)
	// Talk until the recording holds several seconds (7 sealed segments
	// of 16 KiB, 1 s of stereo G.711 each): the appliance has been
	// relaying that long, so its checkpoints (every 2 s) have followed
	// the answer's.
	var part string
	err := stack.WaitFor(e.ctx, time.Minute, "a recording of a few seconds on the appliance", func() error {
		parts, _ := filepath.Glob(filepath.Join(e.RecordingsDir, "*.part"))
		if len(parts) != 1 {
			return fmt.Errorf("%d .part files", len(parts))
		}
		st, err := os.Stat(parts[0])
		if err != nil {
			return err
		}
		if st.Size() < 28+7*(16<<10+16) {
			return fmt.Errorf(".part holds %d bytes", st.Size())
		}
		part = parts[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.KillAppliance(syscall.SIGKILL)
	killed := time.Now()
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("the killed appliance left no .part: %v", err)
	}
	if err := e.StartAppliance(e.ctx); err != nil {
		t.Fatal(err)
	}

	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := calls[0]
	if c.Disposition != wire.DispRestarted || c.Answer == nil || c.Number != approved || c.CardUID != card || c.PersonID != person {
		t.Fatalf("call at central: %+v", c)
	}
	talk := c.End.Sub(*c.Answer)
	if talk <= 0 || c.End.After(killed) || c.DurationSeconds <= 0 {
		t.Fatalf("call answered %v, ended %v (talk %v, %v s): killed at %v", c.Answer, c.End, talk, c.DurationSeconds, killed)
	}
	t.Logf("call cut by the kill: talk %v billed, killed %v after the answer", talk, killed.Sub(*c.Answer))

	// Its debit, the price of what was billed at the call's rate.
	lr, err := ledger.RateFromWire(faultRate)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(lr.Cost(talk))
	if c.Cost != want {
		t.Errorf("call cost %d, the rate prices %v at %d", c.Cost, talk, want)
	}
	err = stack.WaitFor(e.ctx, 30*time.Second, "the cut call's debit at central", func() error {
		var st statement
		if err := e.Do(e.ctx, "GET", "/api/v1/accounts/"+person, nil, &st); err != nil {
			return err
		}
		for _, l := range st.Lines {
			if l.Kind == wire.LedgerCallDebit && l.Ref == c.ID {
				if int64(-l.Amount) != want || l.Origin != stack.ApplianceID {
					return fmt.Errorf("debit %+v, want %d from %s", l.LedgerEntry, want, stack.ApplianceID)
				}
				return nil
			}
		}
		return fmt.Errorf("no debit among %d lines", len(st.Lines))
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep money.Reconciliation
	if err := e.Do(e.ctx, "GET", "/api/v1/reconciliation", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || int64(rep.Debits) != want || rep.Overspends != 0 {
		t.Errorf("reconciliation: ok %v, debits %d (want %d), %d overspends", rep.OK, rep.Debits, want, rep.Overspends)
	}

	// Its recording: sealed from the .part, playable, shorter than the call.
	data, err := e.WaitRecording(e.ctx, c.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := wav.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("recording does not parse: %v", err)
	}
	pcm, err := rd.ReadAllPCM(8000 * 120)
	if err != nil {
		t.Fatal(err)
	}
	dur := time.Duration(len(pcm[0])) * time.Second / 8000
	t.Logf("recording sealed from the .part: %v of audio", dur)
	if dur < 5*time.Second || dur > killed.Sub(*c.Answer) {
		t.Errorf("recording of %v, want at least 5 s and at most the %v the call lasted", dur, killed.Sub(*c.Answer))
	}
	if f, p := tone.Dominant(pcm[0], 8000, 440, 1000); f != 440 || p == 0 {
		t.Errorf("port channel: dominant %v Hz (power %v), want sipp's 440 Hz", f, p)
	}
	if c.Recording == nil || c.Recording.Bytes != int64(len(data)) {
		t.Errorf("record's recording %+v, served %d bytes", c.Recording, len(data))
	}

	// Nothing partial left on the appliance.
	err = stack.WaitFor(e.ctx, 30*time.Second, "no .part on the appliance", func() error {
		if parts, _ := filepath.Glob(filepath.Join(e.RecordingsDir, "*.part")); len(parts) > 0 {
			return fmt.Errorf("%v", parts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The alarm that tells staff.
	err = stack.WaitFor(e.ctx, 30*time.Second, "the calls_closed_on_restart alarm at central", func() error {
		var out struct {
			Alarms []centralstore.Alarm `json:"alarms"`
		}
		if err := e.Do(e.ctx, "GET", "/api/v1/alarms?appliance="+stack.ApplianceID, nil, &out); err != nil {
			return err
		}
		for _, a := range out.Alarms {
			if a.Code == "calls_closed_on_restart" && strings.Contains(a.Message, c.ID) {
				return nil
			}
		}
		return fmt.Errorf("%d alarms, none about the call", len(out.Alarms))
	})
	if err != nil {
		t.Fatal(err)
	}

	// The trunk and the IAD port got their BYEs (and answered them: the
	// scenarios passed).
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("the sipp trunk never got a BYE for the cut call: %v", err)
	}
	if err := iad.Wait(t); err != nil {
		t.Fatalf("the sipp IAD port never got a BYE for the cut call: %v", err)
	}
	if m := trunk.Messages(); !strings.Contains(m, "BYE sip:") {
		t.Errorf("no BYE in the trunk's trace:\n%s", m)
	}
}
