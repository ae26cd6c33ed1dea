package pgtest

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
)

// Suite runs this test binary's tests a second time, in PostgreSQL mode,
// against a throwaway server it starts and stops: the package's tests (all
// of them, or those matching $KINLINE_TEST_PG_RUN) then open their stores
// on PostgreSQL. Call it from the package's TestPostgres. It skips itself
// in the PostgreSQL run, in -short mode (PostgreSQL is a real peer, like
// the hil-tests' ones) and, when the binaries are missing, skips or fails
// as Need does. The PostgreSQL run's output is shown with -v, and on
// failure; with -bench, the PostgreSQL run benchmarks too.
func Suite(t *testing.T) {
	if Enabled() {
		t.Skip("this is the PostgreSQL run")
	}
	if testing.Short() {
		t.Skip("SKIP: the PostgreSQL run is not part of -short")
	}
	Need(t)
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-5*time.Second))
	}
	defer cancel()
	srv, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	run := os.Getenv(EnvRun)
	if run == "" {
		run = "."
	}
	// The PostgreSQL run is always verbose, so that its passes can be
	// counted; its output is streamed when this run is verbose.
	args := []string{"-test.run=" + run, "-test.skip=^TestPostgres$", "-test.count=1", "-test.v=true"}
	// go test -run TestPostgres -bench X benchmarks X on PostgreSQL too.
	for _, name := range []string{"test.bench", "test.benchtime", "test.benchmem"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != f.DefValue {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	if d, ok := ctx.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), envDSN+"="+srv.DSN())
	var w io.Writer = &out
	if testing.Verbose() {
		w = io.MultiWriter(&out, &prefixWriter{w: os.Stdout, prefix: []byte("    pg| ")})
	}
	cmd.Stdout, cmd.Stderr = w, w
	t.Logf("running the tests again on %s", srv.Version)
	start := time.Now()
	err = cmd.Run()
	if err != nil {
		tail := out.Bytes()
		if len(tail) > 60000 {
			tail = tail[len(tail)-60000:]
		}
		t.Fatalf("the tests failed on PostgreSQL (%v):\n%s", err, tail)
	}
	passed, skipped := 0, 0
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "--- PASS: "):
			passed++
		case strings.HasPrefix(l, "--- SKIP: "):
			skipped++
		}
	}
	if passed == 0 {
		t.Fatalf("no test ran on PostgreSQL (-test.run=%s):\n%s", run, out.Bytes())
	}
	t.Logf("%d top-level tests passed on PostgreSQL (%d skipped) in %s", passed, skipped, time.Since(start).Round(time.Millisecond))
}

// Need skips t, saying "SKIP: postgresql not installed", when the
// PostgreSQL server binaries are missing (BinDir), or fails it under
// KINLINE_REQUIRE_PEERS=1: testkit.MissingPeer, as for every other peer.
func Need(t testing.TB) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		t.Logf("looking for PostgreSQL: %v", err)
		testkit.MissingPeer(t, "postgresql", "postgresql")
	}
}

// prefixWriter writes each line with a prefix, so that the PostgreSQL
// run's "=== RUN" lines are read as output of TestPostgres.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	mid    bool // inside a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		if !p.mid {
			if _, err := p.w.Write(p.prefix); err != nil {
				return 0, err
			}
		}
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i+1]
		}
		if _, err := p.w.Write(line); err != nil {
			return 0, err
		}
		p.mid = i < 0
		b = b[len(line):]
	}
	return n, nil
}
