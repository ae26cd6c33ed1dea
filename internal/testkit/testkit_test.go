package testkit_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()                         {}
func (r *recorder) Logf(format string, args ...any) { r.msg = format }
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	r.msg = format
	panic(r)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = format
	panic(r)
}

// run calls fn with a recorder, catching the panic that stands in for
// runtime.Goexit.
func run(t *testing.T, fn func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		fn(r)
	}()
	return r
}

func TestNeedPeerSkipsOrFails(t *testing.T) {
	const missing = "kinline-no-such-peer"
	t.Setenv(testkit.RequirePeersEnv, "")
	if r := run(t, func(tb testing.TB) { testkit.NeedPeer(tb, missing, "no-such-package") }); !r.skipped || r.failed {
		t.Errorf("without %s: skipped %v failed %v", testkit.RequirePeersEnv, r.skipped, r.failed)
	}
	t.Setenv(testkit.RequirePeersEnv, "1")
	if r := run(t, func(tb testing.TB) { testkit.NeedPeer(tb, missing, "no-such-package") }); !r.failed || r.skipped {
		t.Errorf("with %s=1: skipped %v failed %v", testkit.RequirePeersEnv, r.skipped, r.failed)
	}
	if r := run(t, func(tb testing.TB) { testkit.OptionalPeer(tb, missing, "no-such-package") }); !r.failed {
		t.Errorf("OptionalPeer with %s=1 did not fail", testkit.RequirePeersEnv)
	}
	t.Setenv(testkit.RequirePeersEnv, "")
	if r := run(t, func(tb testing.TB) { testkit.OptionalPeer(tb, missing, "no-such-package") }); r.failed || r.skipped {
		t.Errorf("OptionalPeer without %s: skipped %v failed %v", testkit.RequirePeersEnv, r.skipped, r.failed)
	}
	if p := testkit.NeedPeer(t, "sh", "dash"); p == "" {
		t.Error("NeedPeer(sh) returned no path")
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	testkit.Eventually(t, time.Minute, "the third poll", func() bool { return n.Add(1) >= 3 })
	r := run(t, func(tb testing.TB) {
		testkit.Eventually(tb, 20*time.Millisecond, "never", func() bool { return false })
	})
	if !r.failed {
		t.Error("Eventually did not fail on a condition that never holds")
	}
}

func TestWithin(t *testing.T) {
	var n atomic.Int32
	if !testkit.Within(time.Minute, 0, func() bool { return n.Add(1) >= 3 }) {
		t.Error("Within: false for a condition that held on the third poll")
	}
	if testkit.Within(20*time.Millisecond, time.Millisecond, func() bool { return false }) {
		t.Error("Within: true for a condition that never holds")
	}
}

func TestEventuallyNil(t *testing.T) {
	var n atomic.Int32
	testkit.EventuallyNil(t, time.Minute, "the third try", func() error {
		if n.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	r := run(t, func(tb testing.TB) {
		testkit.EventuallyNil(tb, 20*time.Millisecond, "never", func() error { return errors.New("refused") })
	})
	if !r.failed {
		t.Error("EventuallyNil did not fail on a step that never succeeds")
	}
}
