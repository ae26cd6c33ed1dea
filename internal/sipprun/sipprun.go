// Package sipprun runs sipp (Debian package sip-tester) scenarios, kept in
// its scenarios directory, for tests: callctl's unit tests and hil-tests
// both use it, so it lives where both may import it. Each run is in a
// temporary directory holding tone.ulaw (1 s of 440 Hz µ-law, streamed by
// the scenarios' rtp_stream), with sipp's error, log and message traces kept
// and shown when a test fails.
package sipprun

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
)

// Need returns sipp's path. When sipp is missing the test is skipped with a
// message, or fails under KINLINE_REQUIRE_PEERS=1 (as .ci/run sets).
func Need(t testing.TB) string {
	t.Helper()
	return testkit.NeedPeer(t, "sipp", "sip-tester")
}

// Scenario returns the path of a scenario file in this package's scenarios
// directory.
func Scenario(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "scenarios", name)
}

// FreeUDPPort returns a free loopback UDP port.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Run is one sipp process.
type Run struct {
	Port int
	Dir  string
	Out  bytes.Buffer
	done chan error
}

// Start runs scenario (a file name in the scenarios directory) with args, on local UDP
// port (0: a free one), and returns once sipp has bound its port. A free
// port is released before sipp binds it, so another process may take it in
// between (sipp then exits at once): with port 0 that is retried on a new
// port.
//
// sipp 3.6.1 computes a digest answer's uri as sip:remote_ip:remote_port
// unless -auth_uri is given, and the appliance requires the Request-URI
// (RFC 2617 3.2.2.5); so with credentials (-au) and a service (-s), and
// no -auth_uri of the caller's, Start passes -auth_uri <service>@<remote
// address>, the Request-URI of the scenarios' INVITEs (their REGISTER's
// Request-URI has no user part, which the appliance ignores for REGISTER).
func Start(t testing.TB, port int, scenario string, args ...string) *Run {
	t.Helper()
	args = withAuthURI(args)
	for attempt := 1; ; attempt++ {
		r, exited := start(t, port, scenario, args...)
		if !exited {
			return r
		}
		if port != 0 || attempt == 3 {
			t.Fatalf("sipp %s exited at start: %v\n%s", scenario, <-r.done, r.Out.String())
		}
		t.Logf("sipp %s could not start on port %d; retrying on another port", scenario, r.Port)
	}
}

// withAuthURI adds -auth_uri <service>@<remote> to sipp arguments that
// have -au and -s but no -auth_uri (the remote address is the last
// argument).
func withAuthURI(args []string) []string {
	if len(args) == 0 || !slices.Contains(args, "-au") || slices.Contains(args, "-auth_uri") {
		return args
	}
	i := slices.Index(args, "-s")
	if i < 0 || i+1 >= len(args) {
		return args
	}
	remote := args[len(args)-1]
	return append([]string{"-auth_uri", args[i+1] + "@" + remote}, args...)
}

// start runs sipp once; exited reports that it died before binding.
func start(t testing.TB, port int, scenario string, args ...string) (r *Run, exited bool) {
	t.Helper()
	bin := Need(t)
	if port == 0 {
		port = FreeUDPPort(t)
	}
	r = &Run{Port: port, done: make(chan error, 1), Dir: t.TempDir()}
	tone := make([]byte, 8000)
	for i := range tone {
		tone[i] = g711.Ulaw.Encode(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "tone.ulaw"), tone, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each sipp gets its own media port (sipp's default, 6000, would be
	// shared by every sipp of a test, and -rtp_echo would echo for the wrong
	// one), unless the caller chose one.
	if !slices.Contains(args, "-mp") {
		args = append([]string{"-mp", strconv.Itoa(FreeUDPPort(t))}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	all := append([]string{"-sf", Scenario(scenario), "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1", "-nostdin",
		"-timeout", "60s", "-trace_err", "-error_file", filepath.Join(r.Dir, "errors.log"),
		"-trace_logs", "-log_file", filepath.Join(r.Dir, "logs.log"),
		"-trace_msg", "-message_file", filepath.Join(r.Dir, "msg.log")}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Dir = r.Dir
	cmd.Stdout, cmd.Stderr = &r.Out, &r.Out
	cmd.Env = append(os.Environ(), "TERM=dumb")
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp: %v", err)
	}
	go func() { r.done <- cmd.Wait(); cancel() }()
	// Wait until sipp has bound its port (binding it ourselves then fails),
	// or has died trying; generously, for a loaded machine (past it the
	// run goes on and the test meets whatever sipp does).
	testkit.Within(30*time.Second, 0, func() bool {
		select {
		case err := <-r.done:
			r.done <- err
			exited = true
			return true
		default:
		}
		return bindable(overTCP(args), port) != nil
	})
	if exited {
		return r, true
	}
	t.Cleanup(func() {
		cancel()
		<-r.done
		if t.Failed() {
			t.Logf("sipp %s messages:\n%s", scenario, r.Messages())
		}
	})
	return r, false
}

// overTCP reports whether args run sipp over TCP (-t t1 or -t tn).
func overTCP(args []string) bool {
	i := slices.Index(args, "-t")
	return i >= 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], "t")
}

// bindable binds (and releases) the loopback port: it fails once sipp holds it.
func bindable(tcp bool, port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if tcp {
		l, err := net.Listen("tcp4", addr)
		if err == nil {
			l.Close()
		}
		return err
	}
	c, err := net.ListenPacket("udp4", addr)
	if err == nil {
		c.Close()
	}
	return err
}

// Addr is sipp's SIP address.
func (r *Run) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Wait returns sipp's exit error (nil: the scenario passed); on failure it
// logs sipp's error trace.
func (r *Run) Wait(t testing.TB) error {
	t.Helper()
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-time.After(90 * time.Second):
		err = fmt.Errorf("sipp did not finish")
	}
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(r.Dir, "errors.log"))
		t.Logf("sipp errors:\n%s\nsipp output:\n%s", errs, r.Out.String())
	}
	return err
}

// Logs is sipp's log trace (what the scenarios' <log> actions wrote).
func (r *Run) Logs() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "logs.log"))
	return string(b)
}

// Messages is sipp's message trace.
func (r *Run) Messages() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "msg.log"))
	return string(b)
}
