package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/panel"
	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/internal/testkit"
)

// TestPressConfirmThroughTool runs the tool's commands against a simulated
// panel serving its control socket, and checks the request they confirm.
func TestPressConfirmThroughTool(t *testing.T) {
	b, err := board.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	p, err := panel.Open(b, nil, panel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir, err := os.MkdirTemp("", "psim")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "panel.sock")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.ServeControl(ctx, sock) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ServeControl: %v", err)
		}
	}()

	tool := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"-control", sock}, args...), &out, &errb)
		return code, strings.TrimSpace(out.String()), errb.String()
	}
	testkit.Eventually(t, 10*time.Second, "the control socket", func() bool {
		code, _, _ := tool("state")
		return code == 0
	})

	done := make(chan error, 1)
	go func() {
		_, err := p.RequestConfirmation(context.Background(), panel.Request{CallID: "K1", Terminal: "T1", Mode: panel.ConfirmButton, Window: time.Minute})
		done <- err
	}()
	testkit.Eventually(t, 10*time.Second, "the request to be shown", func() bool { return p.State().CallID == "K1" })
	if code, out, _ := tool("state"); code != 0 || !strings.HasPrefix(out, "pending=on") || !strings.Contains(out, "call=K1") {
		t.Fatalf("state: %d %q", code, out)
	}
	if code, _, errs := tool("press", "confirm"); code != 0 {
		t.Fatalf("press confirm: %d %s", code, errs)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("press did not confirm")
	}
	if code, out, _ := tool("state"); code != 0 || !strings.Contains(out, "approved=on") {
		t.Fatalf("state after: %d %q", code, out)
	}
	if code, _, errs := tool("press", "door"); code != 1 || !strings.Contains(errs, "no button") {
		t.Fatalf("bad command: %d %q", code, errs)
	}
	if code, _, _ := tool(); code != 2 {
		t.Fatalf("no command: exit %d, want 2", code)
	}
}
