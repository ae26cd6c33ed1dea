package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeDemoConsole: `make demo` hands CONSOLE to the demo's -http
// (default 127.0.0.1:8080).
func TestMakeDemoConsole(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	for args, want := range map[string]string{"": "-http 127.0.0.1:8080", "CONSOLE=0.0.0.0:9090": "-http 0.0.0.0:9090"} {
		cmd := exec.Command(mk, "-n", "-s", "-C", "../..", "demo")
		if args != "" {
			cmd.Args = append(cmd.Args, args)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make -n demo %s: %v", args, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		last := lines[len(lines)-1]
		if !strings.Contains(last, "kinline-demo ") || !strings.HasSuffix(last, want) {
			t.Errorf("make demo %s runs %q, want it to end with %q", args, last, want)
		}
	}
}
