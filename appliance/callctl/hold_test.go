package callctl_test

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/sipprun"
	"github.com/kinline/kinline/shared/wire"
)

// TestSippHoldAnsweredRecvonly: a port (a sipp IAD) puts an answered call
// on hold with a re-INVITE offering a=sendonly and takes it back with
// a=sendrecv. The appliance answers the hold a=recvonly (RFC 3264
// section 6.1), the resume a=sendrecv, each with the next o= version
// (section 8), and the call goes on to a normal end.
func TestSippHoldAnsweredRecvonly(t *testing.T) {
	sipprun.Need(t)
	trunk := sipprun.Start(t, 0, "trunk_answer.xml")
	e := start(t, opts{cfg: func(c *callctl.Config) { c.Trunk.Address = trunk.Addr() }})
	iad := sipprun.Start(t, 0, "iad_hold.xml", "-s", "0611223344", "-au", portUser, "-ap", portPass, "-set", "user", portUser, e.srv.Addr().String())
	err := iad.Wait(t)
	logs := iad.Logs()
	if err != nil {
		t.Fatalf("sipp IAD (a re-INVITE's answer has no direction or o= version): %v\n%s", err, logs)
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("sipp trunk: %v", err)
	}
	for _, want := range []string{"re-INVITE sendonly answered a=recvonly", "re-INVITE sendrecv answered a=sendrecv"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(logs) {
			t.Errorf("sipp log lacks %q:\n%s", want, logs)
		}
	}
	version := func(what string) int {
		m := regexp.MustCompile(regexp.QuoteMeta(what) + ` o=[^ ]+ [0-9]+ ([0-9]+)`).FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("no %q in the sipp log:\n%s", what, logs)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	v0, v1, v2 := version("answer"), version("re-INVITE sendonly"), version("re-INVITE sendrecv")
	if v1 != v0+1 || v2 != v1+1 {
		t.Errorf("o= versions %d, %d, %d: each changed answer must take the next version", v0, v1, v2)
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}
