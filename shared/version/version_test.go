package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

func TestRequested(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-version"}, true},
		{[]string{"--version"}, true},
		{[]string{"-config", "x.yaml", "-version"}, true},
		{[]string{"family", "-version"}, true},
		{[]string{"-versions"}, false},
		{[]string{"version"}, false},
		{[]string{"--", "-version"}, false},
	} {
		if got := Requested(c.args); got != c.want {
			t.Errorf("Requested(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

func TestFromBuildInfo(t *testing.T) {
	set := func(kv ...string) *debug.BuildInfo {
		var bi debug.BuildInfo
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return &bi
	}
	if got := fromBuildInfo(set()); got != "dev" {
		t.Errorf("no VCS: %q, want dev", got)
	}
	if got := fromBuildInfo(set("vcs.revision", "0123456789abcdef0123", "vcs.modified", "false")); got != "0123456789ab" {
		t.Errorf("clean: %q", got)
	}
	if got := fromBuildInfo(set("vcs.revision", "0123456789abcdef0123", "vcs.modified", "true")); got != "0123456789ab+dirty" {
		t.Errorf("dirty: %q", got)
	}
}

func TestLineAndSetVersion(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = " v1.4.0 "
	line := Line("kinline-x")
	for _, want := range []string{"kinline-x v1.4.0 ", "protocol 1,", "capability ", runtime.Version()} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if i := Get(); i.CapabilityVersion != int(wire.CurrentCapabilityVersion) || i.ProtocolVersion != wire.ProtocolVersion {
		t.Errorf("Get() = %+v", i)
	}
}

// TestStringStaysValidOnTheWire: whatever the linker set, the release an
// appliance reports passes central's validation of its status.
func TestStringStaysValidOnTheWire(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	for set, want := range map[string]string{
		"v1.0.0":                "v1.0.0",
		"v1.0.0\nERROR forged":  "v1.0.0ERROR forged",
		"\x1b[31mv2":            "[31mv2",
		strings.Repeat("é", 40): strings.Repeat("é", 32),
		"v3\xff":                "v3",
		"  \t ":                 "dev-or-vcs",
	} {
		Version = set
		got := String()
		if want == "dev-or-vcs" {
			if got == "" {
				t.Errorf("Version %q: empty release", set)
			}
		} else if got != want {
			t.Errorf("Version %q: String() = %q, want %q", set, got, want)
		}
		st := wire.Status{Software: got, Capability: wire.CurrentCapabilityVersion}
		if err := st.Validate(); err != nil {
			t.Errorf("Version %q: status invalid: %v", set, err)
		}
	}
}

// TestEveryBinaryPrintsVersion builds every command of the Makefile's
// build target the way it does (-ldflags -X), runs each with -version and
// checks the line; and checks that every command under appliance/cmd,
// central/cmd and tools/ is in that target.
func TestEveryBinaryPrintsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root := filepath.Join("..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "LDFLAGS := -X github.com/kinline/kinline/shared/version.Version=$(VERSION)") {
		t.Fatal("the Makefile does not set shared/version.Version")
	}
	if !strings.Contains(string(mk), "$(MAKE) -C firmware images VERSION=$(VERSION)") {
		t.Error("make cross does not pass VERSION to firmware/")
	}
	fw, err := os.ReadFile(filepath.Join(root, "firmware", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(fw), "-X github.com/kinline/kinline/shared/version.Version=$(VERSION)") {
		t.Error("firmware/Makefile does not set shared/version.Version")
	}
	builds := regexp.MustCompile(`(?m)^\t\$\(GO\) build -ldflags "\$\(LDFLAGS\)" -o \$\(BIN\)/(\S+)\s+(\./\S+)$`).FindAllStringSubmatch(string(mk), -1)
	inMake := map[string]string{}
	for _, b := range builds {
		inMake[filepath.Clean(b[2])] = b[1]
	}
	for _, dir := range mainPackages(t, root) {
		if _, ok := inMake[dir]; !ok {
			t.Errorf("command %s is not built with the version by the Makefile's build target", dir)
		}
	}
	bin := t.TempDir()
	for pkg, name := range inMake {
		out := filepath.Join(bin, name)
		cmd := exec.Command("go", "build", "-ldflags", "-X github.com/kinline/kinline/shared/version.Version=v9.8.7-test", "-o", out, "./"+pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
		got, err := exec.Command(out, "-version").Output()
		if err != nil {
			t.Errorf("%s -version: %v", name, err)
			continue
		}
		want := Line(name)
		want = strings.Replace(want, " "+String()+" ", " v9.8.7-test ", 1)
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("%s -version = %q, want %q", name, got, want)
		}
	}
}

// mainPackages lists the directories (relative to root, "./"-less) of
// the commands under appliance/cmd, central/cmd and tools/.
func mainPackages(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	seen := map[string]bool{}
	for _, top := range []string{"appliance/cmd", "central/cmd", "tools"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if regexp.MustCompile(`(?m)^package main$`).Match(b) {
				rel, _ := filepath.Rel(root, filepath.Dir(p))
				if !seen[rel] {
					seen[rel] = true
					dirs = append(dirs, rel)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(dirs) < 8 {
		t.Fatalf("found %d commands: %v", len(dirs), dirs)
	}
	return dirs
}
