package hiltests

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// TestSipsimFamilyAccepts runs the documented tool, `kinline-sipsim family
// -accept`, as the trunk of a real appliance that requires the called
// party's acceptance (as the example config does): it presses 1 at the
// announcement and the call is bridged, recorded and completed. With
// -key 9 the same tool blocks the caller instead.
func TestSipsimFamilyAccepts(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kinline-sipsim")
	if out, err := exec.Command("go", "build", "-o", bin, "../tools/sipsim/cmd/kinline-sipsim").CombinedOutput(); err != nil {
		t.Fatalf("build kinline-sipsim: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		key, disposition string
		answered         bool
	}{{"1", "completed", true}, {"9", "rejected", false}} {
		trunk, err := stack.FreeUDP()
		if err != nil {
			t.Fatal(err)
		}
		lines := startSipsimFamily(t, bin, "family", "-listen", trunk, "-ring", "100ms", "-accept", "-key", tc.key)
		e := newEnv(t, trunk, func(_ string, o *stack.Options) { o.IVR, o.AcceptTimeout = true, 4*time.Second })
		seed(t, e)
		port := newPort(t, e)
		e.tap(t, card)
		if res := call(t, e, port, approved, 2*time.Second); res.Answered != tc.answered {
			t.Fatalf("-key %s: call answered %v, want %v: %+v", tc.key, res.Answered, tc.answered, res)
		}
		calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if c := calls[0]; c.Disposition != tc.disposition || (c.Answer != nil) != tc.answered {
			t.Fatalf("-key %s: call record %+v, want disposition %s", tc.key, c, tc.disposition)
		}
		want := `answered=true cancelled=false hung_up=false pressed="` + tc.key + `"`
		testkit.Eventually(t, 15*time.Second, "kinline-sipsim to print the call's end with the key pressed", func() bool {
			for _, l := range lines() {
				if strings.HasPrefix(l, "END ") && strings.Contains(l, want) {
					return true
				}
			}
			return false
		})
	}
}

// startSipsimFamily starts kinline-sipsim, waits for it to listen and
// returns a function giving the lines it printed so far.
func startSipsimFamily(t *testing.T, bin string, args ...string) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("kinline-sipsim printed:\n%s", strings.Join(lines, "\n"))
			mu.Unlock()
		}
	})
	get := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
	testkit.Eventually(t, 20*time.Second, "kinline-sipsim to listen", func() bool {
		l := get()
		return len(l) > 0 && strings.HasPrefix(l[0], "family phone listening on ")
	})
	return get
}
