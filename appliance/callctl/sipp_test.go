package callctl_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/wire"
)

// sippRun is one sipp process.
type sippRun struct {
	port int
	out  bytes.Buffer
	done chan error
	dir  string
}

func sippPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not on PATH (Debian package sip-tester): skipping sipp scenarios")
	}
	return p
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startSipp runs hil-tests/sipp/<scenario> with args on local UDP port
// (0: any free port), in a temp dir holding tone.ulaw (1 s of 440 Hz
// mu-law).
func startSipp(t *testing.T, port int, scenario string, args ...string) *sippRun {
	t.Helper()
	bin := sippPath(t)
	sf, err := filepath.Abs(filepath.Join("..", "..", "hil-tests", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	if port == 0 {
		port = freeUDPPort(t)
	}
	r := &sippRun{port: port, done: make(chan error, 1), dir: t.TempDir()}
	tone := make([]byte, 8000)
	for i := range tone {
		tone[i] = g711.Ulaw.Encode(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	if err := os.WriteFile(filepath.Join(r.dir, "tone.ulaw"), tone, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	all := append([]string{"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(r.port), "-m", "1", "-nostdin",
		"-timeout", "45s", "-trace_err", "-error_file", filepath.Join(r.dir, "errors.log"), "-trace_logs", "-log_file", filepath.Join(r.dir, "logs.log"), "-trace_msg", "-message_file", filepath.Join(r.dir, "msg.log")}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = &r.out, &r.out
	cmd.Env = append(os.Environ(), "TERM=dumb")
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp: %v", err)
	}
	go func() { r.done <- cmd.Wait(); cancel() }()
	// Wait until sipp has bound its port (binding it ourselves then fails).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait returns sipp's exit error; on failure it logs sipp's error file.
func (r *sippRun) wait(t *testing.T) error {
	t.Helper()
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-time.After(60 * time.Second):
		err = fmt.Errorf("sipp did not finish")
	}
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(r.dir, "errors.log"))
		msgs, _ := os.ReadFile(filepath.Join(r.dir, "msg.log"))
		t.Logf("sipp errors:\n%s\nsipp messages:\n%s", errs, msgs)
	}
	return err
}

func (r *sippRun) logs() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "logs.log"))
	return string(b)
}

func TestSippIADRegisterCall(t *testing.T) {
	sippPath(t)
	e := start(t, opts{})
	s := startSipp(t, 0, "iad_register_call.xml", "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())
	if err := s.wait(t); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "msg.log"))
			t.Logf("sipp messages:\n%s", b)
		}
	})
	if len(e.srv.Bindings()) != 1 {
		t.Errorf("no binding after sipp REGISTER")
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Answer == nil || rec.Terminal != "T1" || rec.Number != "0611223344" {
		t.Fatalf("record = %+v", rec)
	}
	fc := <-e.family.Results()
	t.Logf("family phone received %d RTP packets from sipp through the relay", fc.RTP.Received)
	if fc.RTP.Received < 20 {
		t.Errorf("sipp's rtp_stream did not reach the called party: %d packets", fc.RTP.Received)
	}
}

func TestSippIADRefused(t *testing.T) {
	sippPath(t)
	e := start(t, opts{auth: callctltest.Refuse("number not approved")})
	s := startSipp(t, 0, "iad_refused.xml", "-s", "0699999999", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())
	if err := s.wait(t); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "msg.log"))
			t.Logf("sipp messages:\n%s", b)
		}
	})
	if rec := e.record(t); rec.Disposition != wire.DispRefused || rec.Reason != "number not approved" {
		t.Fatalf("record = %+v", rec)
	}
	if logs := s.logs(); !bytes.Contains([]byte(logs), []byte("403 number not approved")) {
		t.Errorf("sipp did not log the 403 reason:\n%s", logs)
	}
}

// trunkEnv starts a Server whose trunk is a sipp UAS on a free port.
func trunkEnv(t *testing.T, scenario string, args ...string) (*env, *sippRun) {
	port := freeUDPPort(t)
	e := start(t, opts{cfg: func(c *callctl.Config) { c.Trunk.Address = "127.0.0.1:" + strconv.Itoa(port) }})
	return e, startSipp(t, port, scenario, args...)
}

func TestSippTrunkAnswer(t *testing.T) {
	sippPath(t)
	e, s := trunkEnv(t, "trunk_answer.xml", "-rtp_echo")
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 1500*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call: %+v %v", res, err)
	}
	if err := s.wait(t); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.out.String())
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
	t.Logf("port RTP %+v (sipp echoes through the relay)", res.RTP)
	if res.RTP.Received < 20 {
		t.Errorf("no echoed RTP from sipp: %+v", res.RTP)
	}
}

func TestSippTrunkBusy(t *testing.T) {
	sippPath(t)
	e, s := trunkEnv(t, "trunk_busy.xml")
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 486 || res.Answered {
		t.Fatalf("port got %+v, want 486", res)
	}
	if err := s.wait(t); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispBusy {
		t.Fatalf("record = %+v", rec)
	}
}
