package callctl_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/wire"
)

func TestSippIADRegisterCall(t *testing.T) {
	sipprun.Need(t)
	e := start(t, opts{})
	s := sipprun.Start(t, 0, "iad_register_call.xml", "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())
	if err := s.Wait(t); err != nil {
		t.Fatalf("sipp: %v", err)
	}
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
	sipprun.Need(t)
	e := start(t, opts{auth: callctltest.Refuse("number not approved")})
	s := sipprun.Start(t, 0, "iad_refused.xml", "-s", "0699999999", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())
	if err := s.Wait(t); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispRefused || rec.Reason != "number not approved" {
		t.Fatalf("record = %+v", rec)
	}
	if logs := s.Logs(); !bytes.Contains([]byte(logs), []byte("403 number not approved")) {
		t.Errorf("sipp did not log the 403 reason:\n%s", logs)
	}
}

// trunkEnv starts a Server whose trunk is a sipp UAS on a free port. sipp
// binds first (sipprun retries a port taken meanwhile): a port chosen
// before the server starts could be taken by the server's own sockets.
func trunkEnv(t *testing.T, scenario string, args ...string) (*env, *sipprun.Run) {
	r := sipprun.Start(t, 0, scenario, args...)
	e := start(t, opts{cfg: func(c *callctl.Config) { c.Trunk.Address = r.Addr() }})
	return e, r
}

func TestSippTrunkAnswer(t *testing.T) {
	sipprun.Need(t)
	e, s := trunkEnv(t, "trunk_answer.xml", "-rtp_echo")
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 1500*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call: %+v %v", res, err)
	}
	if err := s.Wait(t); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Out.String())
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
	sipprun.Need(t)
	e, s := trunkEnv(t, "trunk_busy.xml")
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 486 || res.Answered {
		t.Fatalf("port got %+v, want 486", res)
	}
	if err := s.Wait(t); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispBusy {
		t.Fatalf("record = %+v", rec)
	}
}
