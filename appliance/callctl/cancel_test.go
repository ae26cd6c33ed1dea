package callctl_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/wire"
)

// carrierEnv starts a Server whose trunk is a sipp UAS reached at its
// own address while the Request-URI names the carrier's domain (as real
// trunks are configured): what the appliance sends on the trunk leg
// must go to Trunk.Address, never to the domain.
// transport is "udp" or "tcp" for the trunk, the port and both sipps;
// sippT are the sipp arguments for it.
// The trunk's sipp starts first, on a port it finds free itself (and
// retries if another process takes it first, as on a loaded machine).
func carrierEnv(t *testing.T, scenario, transport string) (e *env, trunk *sipprun.Run, sippT []string) {
	if transport == "tcp" {
		sippT = []string{"-t", "t1"}
	}
	trunk = sipprun.Start(t, 0, scenario, sippT...)
	e = start(t, opts{cfg: func(c *callctl.Config) {
		c.Trunk.Address = "127.0.0.1:" + strconv.Itoa(trunk.Port)
		c.Trunk.Domain = "carrier.invalid"
		c.Trunk.Transport = transport
	}})
	return e, trunk, sippT
}

// TestSippCancelReachesTrunk: the port (a sipp IAD) cancels while the
// trunk (a sipp UAS) rings, over UDP and over TCP. The appliance answers the port 200 and 487
// and cancels the trunk leg (RFC 3261 section 9.1): the trunk gets a
// CANCEL with the INVITE's CSeq number, answers 487 and gets its ACK.
func TestSippCancelReachesTrunk(t *testing.T) {
	sipprun.Need(t)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) { testCancelReachesTrunk(t, tr) })
	}
}

func testCancelReachesTrunk(t *testing.T, transport string) {
	e, trunk, sippT := carrierEnv(t, "trunk_cancel.xml", transport)
	iad := sipprun.Start(t, 0, "iad_cancel.xml", append(sippT, "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())...)
	if err := iad.Wait(t); err != nil {
		t.Fatalf("sipp IAD: %v", err)
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("sipp trunk: the CANCEL did not reach the trunk: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCancelled || rec.Answer != nil {
		t.Fatalf("record = %+v", rec)
	}
	// Same CSeq number as the INVITE (RFC 3261 9.1).
	if logs := trunk.Logs(); !strings.Contains(logs, "CANCEL CSeq ") || cseqsDiffer(logs) {
		t.Errorf("the trunk's CANCEL does not carry the INVITE's CSeq number: %s", logs)
	}
}

// cseqsDiffer reads trunk_cancel.xml's log line "CANCEL CSeq N, INVITE
// CSeq M".
func cseqsDiffer(logs string) bool {
	_, line, _ := strings.Cut(logs, "CANCEL CSeq ")
	line, _, _ = strings.Cut(line, "\n")
	a, b, ok := strings.Cut(line, ", INVITE CSeq ")
	return !ok || strings.TrimSpace(a) != strings.TrimSpace(b)
}

// TestSippCancelCrossesAnswer: the trunk answers as the appliance's
// CANCEL reaches it (its 200 crosses the CANCEL). The appliance
// acknowledges that 200 and hangs it up with a BYE, so the family is not
// left in a call with nobody on it; the port still gets its 487.
func TestSippCancelCrossesAnswer(t *testing.T) {
	sipprun.Need(t)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) { testCancelCrossesAnswer(t, tr) })
	}
}

func testCancelCrossesAnswer(t *testing.T, transport string) {
	e, trunk, sippT := carrierEnv(t, "trunk_cancel_crossed.xml", transport)
	iad := sipprun.Start(t, 0, "iad_cancel.xml", append(sippT, "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())...)
	if err := iad.Wait(t); err != nil {
		t.Fatalf("sipp IAD: %v", err)
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("sipp trunk: the crossing 200 was not acknowledged and hung up: %v", err)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCancelled || rec.Answer != nil {
		t.Fatalf("record = %+v", rec)
	}
}
