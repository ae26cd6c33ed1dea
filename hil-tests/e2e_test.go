package hiltests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/tone"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/tools/stack"
)

const (
	card       = "04A1B2C3"
	approved   = "+442079460001"
	privileged = "+442079460077"
	unapproved = "+442079460999"
)

func newPort(t *testing.T, e *env) *phone.Port {
	t.Helper()
	port, err := phone.NewPort(phone.PortConfig{Appliance: e.SIPAddr, User: stack.PortUser, Password: stack.PortPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	if err := port.Register(e.ctx, time.Hour); err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	return port
}

func seed(t *testing.T, e *env) string {
	t.Helper()
	id, err := e.Seed(e.ctx, stack.Person{PrisonNumber: "A1234BC", Name: "Alex Morgan", Card: card, Numbers: []string{approved}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Do(e.ctx, "POST", "/api/v1/inmates/"+id+"/contacts", map[string]any{
		"number": privileged, "name": "Legal adviser", "relationship": "lawyer", "privileged": true,
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return id
}

func call(t *testing.T, e *env, port *phone.Port, number string, talk time.Duration) phone.Result {
	t.Helper()
	res, err := port.Call(e.ctx, number, talk)
	if err != nil {
		t.Fatalf("call %s: %v", number, err)
	}
	return res
}

func wantRefused(t *testing.T, res phone.Result, reason string) {
	t.Helper()
	if res.Answered || res.Code != 403 || res.Reason != reason {
		t.Fatalf("got %d %q (answered %v), want 403 %q", res.Code, res.Reason, res.Answered, reason)
	}
}

// TestWholeChain drives one installation from card taps on a pty to calls
// reviewed through central's API: refusals with their reasons, an answered
// call recorded in stereo (left: the person in prison, right: the family),
// a privileged call of which no audio byte is written, and a card reader
// unplugged and plugged back in.
func TestWholeChain(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	e := newEnv(t, family.Addr().String())
	personID := seed(t, e)
	port := newPort(t, e)

	wantRefused(t, call(t, e, port, approved, time.Second), "no card tapped")

	e.tap(t, "DEADBEEF")
	wantRefused(t, call(t, e, port, approved, time.Second), "unknown card")

	e.tap(t, card)
	wantRefused(t, call(t, e, port, unapproved, time.Second), "number not approved")

	// The refusal used the tap up (one tap, one call): a new tap, and the
	// approved call goes through.
	e.tap(t, card)
	res := call(t, e, port, approved, 3*time.Second)
	if !res.Answered || res.RTP.Received < 50 || res.RTP.Sent < 50 {
		t.Fatalf("approved call: %+v", res)
	}
	// The allowed call consumed the tap.
	wantRefused(t, call(t, e, port, approved, time.Second), "no card tapped")

	e.tap(t, card)
	if res := call(t, e, port, privileged, 2*time.Second); !res.Answered {
		t.Fatalf("privileged call: %+v", res)
	}

	// Unplug the reader, plug it back: the driver reopens it and taps flow.
	if err := e.Reader.Unplug(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // real time on purpose: the reader stays unplugged a while
	if err := e.Reader.Replug(); err != nil {
		t.Fatal(err)
	}
	// The driver reopens with backoff; wait until it polls the new pty.
	const inListPassiveTarget = 0x4A
	polls := e.Reader.Stats().Commands[inListPassiveTarget]
	testkit.Eventually(t, 40*time.Second, "the driver to come back after the replug", func() bool {
		return e.Reader.Stats().Commands[inListPassiveTarget] != polls
	})
	e.tap(t, card)
	if res := call(t, e, port, approved, time.Second); !res.Answered {
		t.Fatalf("call after replug: %+v", res)
	}

	// 7 attempts: 2 without a tap, unknown card, unapproved number, the
	// approved call, the privileged call, the call after the replug.
	calls, err := e.WaitCalls(e.ctx, 7, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // real time on purpose: a grace period in which nothing more may arrive
	if calls, err = e.Calls(e.ctx, nil); err != nil || len(calls) != 7 {
		t.Fatalf("central has %d calls (%v), want 7", len(calls), err)
	}
	var completed, priv []store.Call
	reasons := map[string]int{}
	for _, c := range calls {
		if c.Terminal != stack.Terminal || c.ApplianceID != stack.ApplianceID {
			t.Errorf("call %s: terminal %q appliance %q", c.ID, c.Terminal, c.ApplianceID)
		}
		switch c.Disposition {
		case "completed":
			if c.Number == privileged {
				priv = append(priv, c)
			} else {
				completed = append(completed, c)
			}
		case "refused":
			reasons[c.Reason]++
		default:
			t.Errorf("call %s: disposition %q", c.ID, c.Disposition)
		}
	}
	if reasons["no card tapped"] != 2 || reasons["unknown card"] != 1 || reasons["number not approved"] != 1 {
		t.Errorf("refusal reasons: %v", reasons)
	}
	if len(completed) != 2 || len(priv) != 1 {
		t.Fatalf("completed %d, privileged %d", len(completed), len(priv))
	}

	// The first answered call (the older one: the list is newest first).
	c := completed[1]
	if c.PersonID != personID || c.Number != approved || c.CardUID != card || c.Answer == nil || !c.End.After(*c.Answer) {
		t.Fatalf("call record: %+v", c)
	}
	if d := c.End.Sub(*c.Answer); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("answered for %v, want about 3s", d)
	}
	data, err := e.WaitRecording(e.ctx, c.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if c.Recording == nil || c.Recording.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("recording SHA-256 %x does not match the call record %+v", sum, c.Recording)
	}
	// Central keeps it sealed at rest (decision 0030): its file is not the WAV.
	onDisk, _ := filepath.Glob(filepath.Join(e.Opts.Dir, "central", "recordings", c.Recording.SHA256[:2], c.Recording.SHA256+".*"))
	if len(onDisk) != 1 || filepath.Ext(onDisk[0]) != ".klrec" {
		t.Fatalf("central's recording files: %v, want one sealed .klrec", onDisk)
	}
	if b, err := os.ReadFile(onDisk[0]); err != nil || bytes.Contains(b, data[:44]) || bytes.HasPrefix(b, []byte("RIFF")) {
		t.Fatalf("central's recording file %s holds the plaintext WAV (%v)", onDisk[0], err)
	}
	rd, err := wav.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if rd.Channels != 2 || rd.SampleRate != 8000 {
		t.Fatalf("recording format %+v", rd.Header)
	}
	pcm, err := rd.ReadAllPCM(8000 * 60)
	if err != nil {
		t.Fatal(err)
	}
	// The port sends 440 Hz, the family phone 660 Hz.
	if f, _ := tone.Dominant(pcm[0], 8000, 440, 660); f != 440 {
		t.Errorf("left channel (person in prison) dominated by %v Hz, want 440", f)
	}
	if f, _ := tone.Dominant(pcm[1], 8000, 440, 660); f != 660 {
		t.Errorf("right channel (family) dominated by %v Hz, want 660", f)
	}

	// Privileged: nothing recorded, nothing to play, no file on the appliance.
	p := priv[0]
	if p.Recording != nil {
		t.Errorf("privileged call has a recording: %+v", p.Recording)
	}
	// Central refuses a privileged call's recording outright (403, audited)
	// rather than looking for one: fail closed even if bytes ever arrived.
	if _, err := e.Recording(e.ctx, p.ID); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("privileged recording fetch: %v, want 403", err)
	}
	filepath.WalkDir(e.Opts.Dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), p.ID) {
			t.Errorf("a file for the privileged call exists: %s", path)
		}
		return nil
	})

	// The unplugged reader raised an alarm that reached central.
	var alarms struct {
		Alarms []store.Alarm `json:"alarms"`
	}
	if err := e.Do(e.ctx, "GET", "/api/v1/alarms", nil, &alarms); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range alarms.Alarms {
		found = found || a.Code == "reader_down"
	}
	if !found {
		t.Errorf("no reader_down alarm at central: %+v", alarms.Alarms)
	}

	// Filters.
	if got, err := e.Calls(e.ctx, url.Values{"disposition": {"refused"}}); err != nil || len(got) != 4 {
		t.Errorf("refused filter: %d calls, %v", len(got), err)
	}
	if got, err := e.Calls(e.ctx, url.Values{"number": {unapproved}}); err != nil || len(got) != 1 {
		t.Errorf("number filter: %d calls, %v", len(got), err)
	}
}

// TestCentralDown: with central killed, the appliance keeps authorizing from
// its cached policy and keeps the records; when central is back, every
// record arrives exactly once.
func TestCentralDown(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	e := newEnv(t, family.Addr().String())
	seed(t, e)
	port := newPort(t, e)

	e.KillCentral(syscall.SIGKILL)
	for i := 0; i < 3; i++ {
		e.tap(t, card)
		if res := call(t, e, port, approved, time.Second); !res.Answered {
			t.Fatalf("call %d with central down: %+v", i, res)
		}
	}
	e.tap(t, card)
	wantRefused(t, call(t, e, port, unapproved, time.Second), "number not approved")

	if err := e.StartCentral(e.ctx); err != nil {
		t.Fatal(err)
	}
	calls, err := e.WaitCalls(e.ctx, 4, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.Disposition == "completed" {
			if _, err := e.WaitRecording(e.ctx, c.ID, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Give redeliveries time to show up, then count again (real time on
	// purpose: load can only hide a duplicate, not make one).
	time.Sleep(2 * time.Second)
	calls, err = e.Calls(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range calls {
		if seen[c.ID] {
			t.Errorf("call %s twice", c.ID)
		}
		seen[c.ID] = true
	}
	if len(calls) != 4 {
		t.Fatalf("central has %d calls after the outage, want exactly 4", len(calls))
	}
}
