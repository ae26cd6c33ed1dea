package hiltests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// TestSippTrunkFailoverAgainstAppliance: the real kinline-appliance with
// four trunks tried in order: one with nothing behind it, marked down by
// its OPTIONS keep-alives before the call (so never sent the INVITE), a
// sipp trunk that receives the INVITE and answers nothing (given up after
// its 1 s timeout), a sipp trunk answering 503, and a sipp trunk that
// answers and echoes RTP. The call is answered through the last, recorded,
// and central's record names that trunk.
func TestSippTrunkFailoverAgainstAppliance(t *testing.T) {
	sipprun.Need(t)
	deadPort := sipprun.FreeUDPPort(t) // nobody listens there
	silent := sipprun.Start(t, 0, "trunk_silent.xml")
	failing := sipprun.Start(t, 0, "trunk_503.xml")
	good := sipprun.Start(t, 0, "trunk_answer.xml", "-rtp_echo")
	trunks := fmt.Sprintf(`  trunks:
    - {name: dead, address: "127.0.0.1:%d", keepalive: 1s, timeout: 1s, down_after: 1}
    - {name: silent, address: %q, timeout: 1s}
    - {name: failing, address: %q}
    - {name: good, address: %q}
`, deadPort, silent.Addr(), failing.Addr(), good.Addr())
	var dir string
	e := newEnv(t, good.Addr(), func(d string, o *stack.Options) { dir, o.Trunks = d, trunks })
	waitTrunkLog(t, filepath.Join(dir, "kinline-appliance.log"), `msg="trunk down: keep-alives unanswered"`, "trunk=dead")
	seed(t, e)
	e.tap(t, card)
	call := sipprun.Start(t, 0, "iad_register_call.xml", "-s", approved, "-au", stack.PortUser, "-ap", stack.PortPass, "-set", "user", stack.PortUser, e.SIPAddr)
	if err := call.Wait(t); err != nil {
		t.Fatalf("allowed call: %v", err)
	}
	for name, r := range map[string]*sipprun.Run{"silent": silent, "503": failing, "answering": good} {
		if err := r.Wait(t); err != nil {
			t.Fatalf("sipp %s trunk: %v", name, err)
		}
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Trunk != "good" {
		t.Fatalf("central's record names trunk %q, want good: %+v", c.Trunk, c)
	}
	checkSippCall(t, e, calls[0])
	log, _ := os.ReadFile(filepath.Join(dir, "kinline-appliance.log"))
	if strings.Contains(string(log), "trunk=dead address=") {
		t.Errorf("the trunk marked down was tried:\n%s", log)
	}
}

// waitTrunkLog waits (generously) until the log file has a line holding every
// one of want.
func waitTrunkLog(t *testing.T, path string, want ...string) {
	t.Helper()
	testkit.EventuallyNil(t, time.Minute, fmt.Sprintf("%s to log %q", filepath.Base(path), want), func() error {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			n := 0
			for _, w := range want {
				if strings.Contains(line, w) {
					n++
				}
			}
			if n == len(want) {
				return nil
			}
		}
		return fmt.Errorf("the log holds:\n%s", b)
	})
}
