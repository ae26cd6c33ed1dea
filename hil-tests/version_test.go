package hiltests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/version"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// TestFleetVersions: the binaries built with a release print it for
// -version; central serves it on GET /api/v1/version, and the appliance
// reports its own to central, which lists it with the appliance.
func TestFleetVersions(t *testing.T) {
	for _, bin := range []string{"kinline-central", "kinline-appliance"} {
		out, err := exec.Command(filepath.Join(binDir, bin), "-version").Output()
		if err != nil || !strings.HasPrefix(string(out), bin+" "+hilVersion+" (protocol ") {
			t.Fatalf("%s -version: %q %v", bin, out, err)
		}
	}
	trunk, err := stack.FreeUDP()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, trunk)
	var v version.Info
	if err := e.Do(e.ctx, "GET", "/api/v1/version", nil, &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != hilVersion || v.CapabilityVersion != int(wire.CurrentCapabilityVersion) || v.ProtocolVersion != wire.ProtocolVersion {
		t.Fatalf("GET /api/v1/version = %+v", v)
	}
	if err := stack.WaitFor(e.ctx, 60*time.Second, "the appliance to report its version", func() error {
		a, err := e.Appliance(e.ctx)
		if err == nil && a.Software != hilVersion {
			err = fmt.Errorf("software %q, want %q", a.Software, hilVersion)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
