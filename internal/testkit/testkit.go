// Package testkit holds the helpers every tier of Kinline's tests shares:
// NeedPeer, which finds a real peer (sipp, mosquitto, sox, ...) or skips
// the test saying which Debian package to install, and fails instead under
// KINLINE_REQUIRE_PEERS=1 (as .ci/run sets), so that CI never passes by
// skipping; and Eventually (with EventuallyNil), the one polling loop for a
// condition that becomes true in its own time.
//
// Only tests import it; the binaries do not link it (internal/deptest).
package testkit

import (
	"context"
	"github.com/kinline/kinline/internal/poll"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RequirePeersEnv is the environment variable that, set to 1, turns a
// missing peer into a failure.
const RequirePeersEnv = "KINLINE_REQUIRE_PEERS"

// sbinDirs are searched after PATH: Debian installs daemons such as
// mosquitto in /usr/sbin, which is not on an ordinary user's PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// LookPeer returns the path of the executable bin, on PATH or in an sbin
// directory, or "" if it is not installed.
func LookPeer(bin string) string {
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, bin)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// NeedPeer returns the path of the executable bin (LookPeer). When it is
// not installed the test is skipped with a message naming debianPackage,
// or fails if KINLINE_REQUIRE_PEERS=1.
func NeedPeer(t testing.TB, bin, debianPackage string) string {
	t.Helper()
	p := LookPeer(bin)
	if p == "" {
		MissingPeer(t, bin, debianPackage)
	}
	return p
}

// OptionalPeer is NeedPeer for a check a test can do without: when bin is
// missing it logs that the check is left out and returns "", and fails the
// test only if KINLINE_REQUIRE_PEERS=1.
func OptionalPeer(t testing.TB, bin, debianPackage string) string {
	t.Helper()
	p := LookPeer(bin)
	if p != "" {
		return p
	}
	if os.Getenv(RequirePeersEnv) == "1" {
		t.Fatalf("%s not installed (Debian package %s) and %s=1", bin, debianPackage, RequirePeersEnv)
	}
	t.Logf("%s not installed (Debian package %s): the check that needs it is left out", bin, debianPackage)
	return ""
}

// MissingPeer skips the test because the peer what (found some other way
// than on PATH: a plugin, a server under a versioned directory) is missing,
// or fails it if KINLINE_REQUIRE_PEERS=1. It does not return.
func MissingPeer(t testing.TB, what, debianPackage string) {
	t.Helper()
	if os.Getenv(RequirePeersEnv) == "1" {
		t.Fatalf("%s not installed (Debian package %s) and %s=1", what, debianPackage, RequirePeersEnv)
	}
	t.Skipf("SKIP: %s not installed (apt-get install %s); .ci/run installs it", what, debianPackage)
}

// PollInterval is how often Eventually checks its condition.
const PollInterval = 5 * time.Millisecond

// Eventually calls cond every PollInterval until it returns true, and fails
// the test (naming what it waited for) if that takes longer than timeout.
// Timeouts are for a loaded machine: generous, since a test that passes
// only on an idle one is a flaky test.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(timeout, PollInterval, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Within is the loop under Eventually for a caller that fails its own way
// (say, with a dump of a browser page): it calls cond every interval
// (PollInterval if 0; a longer one for a costly condition, such as a
// round trip to a browser) until it returns true, and reports whether it
// did within timeout.
func Within(timeout, interval time.Duration, cond func() bool) bool {
	if interval <= 0 {
		interval = PollInterval
	}
	return poll.Until(context.Background(), timeout, interval, cond) == nil
}

// EventuallyNil is Eventually for a step that reports why it is not done
// yet: it calls try every PollInterval until it returns nil, and on timeout
// fails the test with try's last error.
func EventuallyNil(t testing.TB, timeout time.Duration, what string, try func() error) {
	t.Helper()
	var err error
	if !Within(timeout, PollInterval, func() bool { err = try(); return err == nil }) {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
}
