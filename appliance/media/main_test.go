package media

import (
	"os"
	"os/exec"
	"testing"
)

// rxModeEnv, set to "goroutine", runs the package's tests with every leg
// read by a goroutine of its own (the mode of systems without epoll)
// instead of the shared event loops. TestGoroutineMode sets it.
const rxModeEnv = "KINLINE_MEDIA_RX"

func TestMain(m *testing.M) {
	perLegRxDefault = os.Getenv(rxModeEnv) == "goroutine"
	os.Exit(m.Run())
}

// TestGoroutineMode runs this package's tests again in goroutine mode, so
// that both ways of receiving pass the same relay, recording, IVR and
// robustness tests.
func TestGoroutineMode(t *testing.T) {
	if perLegRxDefault {
		t.Skip("already in goroutine mode")
	}
	if testing.Short() {
		t.Skip("-short: the suite is not run twice")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=5m", "-test.skip=^(TestGoroutineMode|Fuzz)")
	cmd.Env = append(os.Environ(), rxModeEnv+"=goroutine")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite in goroutine mode failed: %v\n%s", err, out)
	}
}
