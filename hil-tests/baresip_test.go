package hiltests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/tone"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/tools/stack"
)

// baresipTone is the sine the baresip family phone sends (ausine), told
// apart from the IAD port's 440 Hz in the call's stereo recording.
const baresipTone = 660

// baresipPhone is a real SIP softphone (Debian's baresip) standing in for
// the family's phone on the trunk: headless (ausine as its microphone,
// nothing as its speaker), configured from hil-tests/baresip/*.tmpl into
// its own directory, answering every call at once and driven over its
// ctrl_tcp control socket (netstring JSON commands and events).
type baresipPhone struct {
	SIPAddr string
	log     string
	cmd     *exec.Cmd
	exited  chan struct{}
	ctrl    net.Conn

	mu      sync.Mutex
	events  []baresipEvent
	changed chan struct{} // closed and replaced whenever events grows
	replies map[string]chan baresipReply
}

// baresipEvent is one event of ctrl_tcp ({"event":true,"type":...}).
type baresipEvent struct {
	Type    string `json:"type"`
	Class   string `json:"class"`
	PeerURI string `json:"peeruri"`
	Param   string `json:"param"`
}

// baresipReply is ctrl_tcp's response to a command.
type baresipReply struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// startBaresip writes the config for a phone answering number and starts
// baresip; it is stopped (and its log shown, if the test failed) at the
// end of the test. baresip binds its SIP port on UDP and TCP; a port that
// was free on UDP may already be taken on TCP by another test process, so
// a start-up that fails with "Address already in use" is retried on new
// ports.
func startBaresip(t *testing.T, number string) *baresipPhone {
	t.Helper()
	bin := testkit.NeedPeer(t, "baresip", "baresip")
	modules := "/usr/lib/baresip/modules"
	if _, err := os.Stat(filepath.Join(modules, "ausine.so")); err != nil {
		t.Fatalf("baresip is installed but its modules are not in %s: %v", modules, err)
	}
	const attempts = 6
	for i := 1; ; i++ {
		p, err := tryStartBaresip(t, bin, modules, number)
		if err == nil {
			return p
		}
		if !errors.Is(err, errBaresipPortTaken) || i == attempts {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; retrying on new ports", i, err)
	}
}

// errBaresipPortTaken marks a start-up that lost a race for its ports.
var errBaresipPortTaken = errors.New("baresip: a port it was given was taken")

// freeSIPAddr returns a loopback address whose port is free on both UDP
// and TCP at the time of the call.
func freeSIPAddr() (string, error) {
	for range 20 {
		addr, err := stack.FreeUDP()
		if err != nil {
			return "", err
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr, nil
	}
	return "", errors.New("no loopback port free on both UDP and TCP")
}

// tryStartBaresip makes one attempt at starting baresip. On failure the
// process is gone; the log of a failed attempt is part of the error.
func tryStartBaresip(t *testing.T, bin, modules, number string) (*baresipPhone, error) {
	t.Helper()
	dir := t.TempDir()
	sipAddr, err := freeSIPAddr()
	if err != nil {
		return nil, err
	}
	ctrlAddr, err := stack.FreeTCP()
	if err != nil {
		return nil, err
	}
	vars := map[string]any{
		"SIPAddr": sipAddr, "CtrlAddr": ctrlAddr, "Tone": baresipTone, "Number": number,
		"ModulePath": modules, "RTPPorts": "10000-19998",
	}
	for _, name := range []string{"config", "accounts"} {
		tpl, err := template.ParseFiles(filepath.Join("baresip", name+".tmpl"))
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, vars); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
			return nil, err
		}
	}

	p := &baresipPhone{
		SIPAddr: sipAddr, log: filepath.Join(dir, "baresip.log"), exited: make(chan struct{}),
		changed: make(chan struct{}), replies: map[string]chan baresipReply{},
	}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	// -s: SIP trace in the log, shown when the test fails.
	p.cmd = exec.Command(bin, "-f", dir, "-s")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	go func() {
		p.cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	stop := func() {
		if p.ctrl != nil {
			p.ctrl.Close()
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}

	// The control socket is up once baresip has loaded its modules.
	var dialErr error
	exited := false
	if !testkit.Within(20*time.Second, 50*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", ctrlAddr, time.Second)
		if err == nil {
			p.ctrl = c
			return true
		}
		dialErr = err
		select {
		case <-p.exited:
			exited = true
			return true
		default:
			return false
		}
	}) {
		stop()
		return nil, fmt.Errorf("baresip's ctrl_tcp never listened on %s: %w", ctrlAddr, dialErr)
	}
	if exited {
		b, _ := os.ReadFile(p.log)
		if bytes.Contains(b, []byte("Address already in use")) {
			return nil, fmt.Errorf("%w (exit %v):\n%s", errBaresipPortTaken, p.cmd.ProcessState, b)
		}
		return nil, fmt.Errorf("baresip exited at start-up: %v\n%s", p.cmd.ProcessState, b)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 16000 {
				b = b[len(b)-16000:]
			}
			t.Logf("---- baresip.log (tail) ----\n%s", b)
		}
	})
	go p.readCtrl(bufio.NewReader(p.ctrl))
	return p, nil
}

// readNetstring reads one "<len>:<payload>," frame.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(head, ":")))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("netstring without its trailing comma")
	}
	return buf[:n], nil
}

func (p *baresipPhone) readCtrl(r *bufio.Reader) {
	for {
		msg, err := readNetstring(r)
		if err != nil {
			return
		}
		var kind struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if json.Unmarshal(msg, &kind) != nil {
			continue
		}
		p.mu.Lock()
		switch {
		case kind.Event:
			var ev baresipEvent
			if json.Unmarshal(msg, &ev) == nil {
				p.events = append(p.events, ev)
				close(p.changed)
				p.changed = make(chan struct{})
			}
		case kind.Response:
			var rep baresipReply
			if json.Unmarshal(msg, &rep) == nil {
				if ch, ok := p.replies[rep.Token]; ok {
					ch <- rep
					delete(p.replies, rep.Token)
				}
			}
		}
		p.mu.Unlock()
	}
}

// command runs one baresip command (as typed after "/" on its console)
// and returns its output.
func (p *baresipPhone) command(ctx context.Context, command, params string) (string, error) {
	token := fmt.Sprintf("t%d", time.Now().UnixNano())
	ch := make(chan baresipReply, 1)
	p.mu.Lock()
	p.replies[token] = ch
	p.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": token})
	if _, err := fmt.Fprintf(p.ctrl, "%d:%s,", len(b), b); err != nil {
		return "", fmt.Errorf("baresip %s: %w", command, err)
	}
	select {
	case rep := <-ch:
		if !rep.OK {
			return rep.Data, fmt.Errorf("baresip %s %s: refused: %s", command, params, rep.Data)
		}
		return rep.Data, nil
	case <-ctx.Done():
		return "", fmt.Errorf("baresip %s: %w", command, ctx.Err())
	case <-time.After(15 * time.Second):
		return "", fmt.Errorf("baresip %s: no response", command)
	}
}

// waitEvent waits for the first event of type typ (e.g. CALL_ESTABLISHED).
func (p *baresipPhone) waitEvent(ctx context.Context, typ string, d time.Duration) (baresipEvent, error) {
	timeout := time.After(d)
	for {
		p.mu.Lock()
		for _, ev := range p.events {
			if ev.Type == typ {
				p.mu.Unlock()
				return ev, nil
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.exited:
			return baresipEvent{}, fmt.Errorf("baresip exited waiting for %s", typ)
		case <-ctx.Done():
			return baresipEvent{}, ctx.Err()
		case <-timeout:
			return baresipEvent{}, fmt.Errorf("no %s from baresip within %v (events: %v)", typ, d, p.eventTypes())
		}
	}
}

func (p *baresipPhone) eventTypes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, ev := range p.events {
		out = append(out, ev.Type)
	}
	return out
}

// TestBaresipFamilyPhone: a real softphone as the family's phone behind
// the trunk, with the production call flow (IVR on). The appliance's
// INVITE reaches baresip, which answers at once; the called party hears the
// announcement and baresip presses 1 (an RFC 4733 telephone-event); only
// then is the IAD port's call answered and bridged. Central gets a
// completed call whose answer time is the acceptance and whose stereo
// recording has the person in prison (440 Hz) on the left and baresip's
// tone (660 Hz) on the right; the port's hang-up reaches baresip as a BYE.
func TestBaresipFamilyPhone(t *testing.T) {
	bs := startBaresip(t, approved)
	e := newEnv(t, bs.SIPAddr, func(_ string, o *stack.Options) {
		o.IVR, o.AcceptTimeout = true, 10*time.Second
	})
	seed(t, e)
	port := newPort(t, e)
	e.tap(t, card)

	// The family side: once baresip has answered, let the announcement play
	// for a second (as a person listens), then press 1.
	type press struct {
		at  time.Time
		err error
	}
	pressed := make(chan press, 1)
	go func() {
		if _, err := bs.waitEvent(e.ctx, "CALL_ESTABLISHED", time.Minute); err != nil {
			pressed <- press{err: err}
			return
		}
		time.Sleep(time.Second) // real time on purpose: the key is pressed a second into the call
		at := time.Now()
		_, err := bs.command(e.ctx, "sndcode", "1")
		pressed <- press{at: at, err: err}
	}()

	res := call(t, e, port, approved, 3*time.Second)
	var pr press
	select {
	case pr = <-pressed:
	case <-time.After(time.Minute):
		t.Fatal("the family side never got to press 1")
	}
	if pr.err != nil {
		t.Fatalf("baresip: %v (call result %+v)", pr.err, res)
	}
	if !res.Answered || res.RTP.Received < 50 || res.RTP.Sent < 50 {
		t.Fatalf("call through baresip: %+v", res)
	}
	// The port hung up; the appliance must end the trunk leg with a BYE.
	if _, err := bs.waitEvent(e.ctx, "CALL_CLOSED", 30*time.Second); err != nil {
		t.Errorf("baresip's call was not closed after the port hung up: %v", err)
	}
	// baresip answered the appliance's trunk leg (auto-answer raises no
	// CALL_INCOMING), from the appliance's SIP identity.
	if ev, err := bs.waitEvent(e.ctx, "CALL_ESTABLISHED", time.Second); err != nil || !strings.HasPrefix(ev.PeerURI, "sip:") {
		t.Errorf("baresip's established call: %+v, %v", ev, err)
	}

	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := calls[0]
	if c.Disposition != "completed" || c.Number != approved || c.Answer == nil || !c.End.After(*c.Answer) {
		t.Fatalf("call record: %+v", c)
	}
	// Bridged (and billed) from the acceptance, not from baresip's 200 OK:
	// the appliance's clock and ours are the same machine's.
	if c.Answer.Before(pr.at.Add(-200 * time.Millisecond)) {
		t.Errorf("call answered at %v, before baresip pressed 1 at %v", c.Answer, pr.at)
	}
	if d := c.Answer.Sub(c.Start); d < time.Second {
		t.Errorf("answered %v after the INVITE: bridged before the called party accepted", d)
	}
	if d := c.End.Sub(*c.Answer); d < 2*time.Second || d > 15*time.Second {
		t.Errorf("bridged for %v, want about 3s", d)
	}

	data, err := e.WaitRecording(e.ctx, c.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
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
	if f, _ := tone.Dominant(pcm[0], 8000, 440, baresipTone); f != 440 {
		t.Errorf("left channel (person in prison) dominated by %v Hz, want 440", f)
	}
	if f, _ := tone.Dominant(pcm[1], 8000, 440, baresipTone); f != baresipTone {
		t.Errorf("right channel (baresip) dominated by %v Hz, want %d", f, baresipTone)
	}
	// ausine's tone measures an RMS of about 0.3 of full scale: far above
	// silence or comfort noise, so the right channel really carries baresip's audio.
	if rms := tone.RMS(pcm[1]); rms < 0.05 {
		t.Errorf("right channel (baresip) RMS %.3f of full scale: baresip's audio did not reach the recording", rms)
	}
	t.Logf("recording: %d samples per channel, right channel RMS %.3f, left %.3f", len(pcm[1]), tone.RMS(pcm[1]), tone.RMS(pcm[0]))
}

// TestBaresipFamilyPhoneSilent: baresip answers but nobody presses a key:
// the call is never bridged, the IAD port is refused, the trunk leg is
// hung up and central records an unaccepted, unbilled call.
func TestBaresipFamilyPhoneSilent(t *testing.T) {
	bs := startBaresip(t, approved)
	e := newEnv(t, bs.SIPAddr, func(_ string, o *stack.Options) {
		o.IVR, o.AcceptTimeout = true, 3*time.Second
	})
	seed(t, e)
	port := newPort(t, e)
	e.tap(t, card)

	if res := call(t, e, port, approved, time.Second); res.Answered {
		t.Fatalf("call bridged although baresip never pressed 1: %+v", res)
	}
	if _, err := bs.waitEvent(e.ctx, "CALL_ESTABLISHED", time.Second); err != nil {
		t.Errorf("baresip never answered the trunk leg: %v", err)
	}
	if _, err := bs.waitEvent(e.ctx, "CALL_CLOSED", 30*time.Second); err != nil {
		t.Errorf("the appliance did not hang up the unaccepted trunk leg: %v", err)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Disposition != "rejected" || c.Reason != callctl.ReasonNotAccepted || c.Answer != nil || c.Recording != nil {
		t.Fatalf("unaccepted call record: %+v", c)
	}
}
