package firmware

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kinline/kinline/internal/testkit"
)

// unitValues returns every value of key in a unit file's text.
func unitValues(unit, key string) []string {
	var vs []string
	for _, m := range regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(key)+`=(.*)$`).FindAllStringSubmatch(unit, -1) {
		vs = append(vs, strings.TrimSpace(m[1]))
	}
	return vs
}

// TestCentralUnit: the central unit runs the binary with the config path
// the example documents, as its own unprivileged user, with the example's
// data_dir as its only writable state directory, hardened.
func TestCentralUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/kinline-central.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	ex, err := os.ReadFile("../central/cmd/kinline-central/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := regexp.MustCompile(`(?m)^# Run: (kinline-central -config \S+)$`).FindStringSubmatch(string(ex))
	dataDir := regexp.MustCompile(`(?m)^data_dir: (\S+)$`).FindStringSubmatch(string(ex))
	if run == nil || dataDir == nil {
		t.Fatal("example.yaml no longer says how to run central or its data_dir")
	}
	want := map[string]string{
		"ExecStart":       "/usr/bin/" + run[1],
		"User":            "kinline",
		"StateDirectory":  strings.TrimPrefix(dataDir[1], "/var/lib/"),
		"ReadWritePaths":  dataDir[1],
		"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true",
		"CapabilityBoundingSet": "", "UMask": "0077",
	}
	for k, v := range want {
		if got := unitValues(unit, k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	verify(t, unit, "kinline-central")
}

// TestApplianceUnit: the appliance's unit still verifies.
func TestApplianceUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/kinline-appliance.service")
	if err != nil {
		t.Fatal(err)
	}
	verify(t, string(b), "kinline-appliance")
}

// verify runs systemd-analyze verify on the unit, its binary replaced by
// an executable that exists here (it checks the ExecStart path).
func verify(t *testing.T, unit, bin string) {
	t.Helper()
	sa := testkit.NeedPeer(t, "systemd-analyze", "systemd")
	stand, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to stand in for the binary")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, bin+".service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/"+bin, stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", bin, err, out)
	}
}
