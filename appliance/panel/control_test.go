package panel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// serve starts ServeControl on a fresh socket and waits until it answers.
func serve(t *testing.T, r *rig) (sock string, stop func() error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "panel") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "panel.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.ServeControl(ctx, sock) }()
	testkit.Eventually(t, waitFor, "control socket up", func() bool {
		_, err := Command(context.Background(), sock, "state")
		return err == nil
	})
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(waitFor):
			t.Fatal("ServeControl did not return")
		}
		return nil
	}
	t.Cleanup(func() { _ = stop() })
	return sock, stop
}

func cmd(t *testing.T, sock, c string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return Command(ctx, sock, c)
}

func TestControlSocketDrivesPressEndToEnd(t *testing.T) {
	r := newRig(t, nil)
	sock, stop := serve(t, r)

	if got, err := cmd(t, sock, "state"); err != nil || got != "pending=off approved=off refused=off buzzer=off queued=0" {
		t.Fatalf("idle state %q %v", got, err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	ch := r.request(Request{CallID: "S1", Terminal: "T2", Mode: Both, Window: time.Minute})
	got, err := cmd(t, sock, "state")
	if err != nil || got != "pending=on approved=off refused=off buzzer=on call=S1 terminal=T2 mode=both button=wait card=wait queued=0" {
		t.Fatalf("pending state %q %v", got, err)
	}
	// "press confirm" arrives at the gpiotest pin as real edges.
	edges, _ := r.p.ButtonCounts(board.RoleConfirm)
	if _, err := cmd(t, sock, "press confirm"); err != nil {
		t.Fatal(err)
	}
	if e, n := r.p.ButtonCounts(board.RoleConfirm); e != edges+2 || n != 1 {
		t.Fatalf("edges %d presses %d after one press", e-edges, n)
	}
	if got, _ := cmd(t, sock, "state"); !strings.Contains(got, "button=done card=wait") {
		t.Fatalf("after press: %q", got)
	}
	if _, err := cmd(t, sock, "tap 0a0b0c0d"); err != nil {
		t.Fatal(err)
	}
	res := r.result(ch)
	if res.err != nil || res.c.OfficerID != "officer-7" || res.c.Method != MethodBoth {
		t.Fatalf("result %+v", res)
	}
	if got, _ := cmd(t, sock, "state"); got != "pending=off approved=on refused=off buzzer=on queued=0" {
		t.Fatalf("after confirm: %q", got)
	}
	r.wantActions(wire.OfficerAction{Action: ActionConfirm, OfficerID: "officer-7", CallID: "S1", Terminal: "T2"})

	// Cancel through the socket refuses the next request.
	r.clk.Advance(time.Second)
	ch = r.request(req("S2", ConfirmButton))
	if _, err := cmd(t, sock, "press cancel"); err != nil {
		t.Fatal(err)
	}
	if res := r.result(ch); !errors.Is(res.err, ErrCancelled) {
		t.Fatalf("S2: %v", res.err)
	}

	for _, bad := range []string{"press", "press door", "tap", "tap xyz", "dance", "state now", strings.Repeat("x", 300)} {
		if _, err := cmd(t, sock, bad); !errors.Is(err, ErrControl) {
			t.Fatalf("%q: err = %v, want ErrControl", bad, err)
		}
	}
	if got, err := cmd(t, sock, "help"); err != nil || !strings.Contains(got, "press confirm") {
		t.Fatalf("help %q %v", got, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("ServeControl: %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestControlSeveralCommandsOnOneConnection(t *testing.T) {
	r := newRig(t, nil)
	sock, _ := serve(t, r)
	// Drive the raw protocol: three lines, three replies, in order.
	c, err := (&netDialer{}).dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("state\r\ntap 0A0B0C0D\nbogus\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	var all []byte
	buf := make([]byte, 1024)
	for strings.Count(string(all), "\n") < 3 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (have %q)", err, all)
		}
		all = append(all, buf[:n]...)
	}
	lines := strings.Split(strings.TrimSpace(string(all)), "\n")
	if !strings.HasPrefix(lines[0], "ok pending=off") || lines[1] != "ok" || !strings.HasPrefix(lines[2], "err unknown command") {
		t.Fatalf("replies %q", lines)
	}
	r.wantActions(wire.OfficerAction{Action: ActionTap, OfficerID: "officer-7"})
}

func TestControlRefusedOnRealBoard(t *testing.T) {
	r := newRig(t, nil)
	real := *r.b
	real.GPIO = board.DriverHost
	p, err := Open(&real, NewSim(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.ServeControl(context.Background(), filepath.Join(t.TempDir(), "s")); !errors.Is(err, ErrNotSimulated) {
		t.Fatalf("err = %v, want ErrNotSimulated", err)
	}
}

func TestControlReplacesStaleSocketButNotFiles(t *testing.T) {
	r := newRig(t, nil)
	dir, err := os.MkdirTemp("", "panel")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.p.ServeControl(context.Background(), file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("file clobbered")
	}
	// A socket left by a crashed appliance is replaced.
	sock, stop := serve(t, r)
	_ = stop()
	l, err := (&netDialer{}).listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close() // leaves the socket file behind
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket not left: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.ServeControl(ctx, sock) }()
	testkit.Eventually(t, waitFor, "control socket up again", func() bool {
		_, err := Command(context.Background(), sock, "state")
		return err == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCommandNoServer(t *testing.T) {
	if _, err := Command(context.Background(), filepath.Join(t.TempDir(), "none.sock"), "state"); err == nil {
		t.Fatal("no error without a server")
	}
	if _, err := Command(context.Background(), "x", "state\npress confirm"); !errors.Is(err, ErrControl) {
		t.Fatalf("line break: %v", err)
	}
}

// FuzzParseCommand: parsing never panics, errors wrap ErrControl, and an
// accepted command re-parses from its canonical form to the same command.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"press confirm", "press cancel", "tap 0A0B0C0D", "state", "help", "PRESS Confirm", "tap", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCommand(line)
		if err != nil {
			if !errors.Is(err, ErrControl) {
				t.Fatalf("error not ErrControl: %v", err)
			}
			return
		}
		again, err := parseCommand(c.String())
		if err != nil || again != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", line, c, c.String(), again, err)
		}
		if c.kind == cmdTap && (c.uid == "" || len(c.uid) > 64) {
			t.Fatalf("accepted uid %q", c.uid)
		}
	})
}
