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
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _, _ := tool("state"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("control socket never came up")
		}
		time.Sleep(5 * time.Millisecond)
	}

	done := make(chan error, 1)
	go func() {
		_, err := p.RequestConfirmation(context.Background(), panel.Request{CallID: "K1", Terminal: "T1", Mode: panel.ConfirmButton, Window: time.Minute})
		done <- err
	}()
	for p.State().CallID != "K1" {
		if time.Now().After(deadline) {
			t.Fatal("request never shown")
		}
		time.Sleep(time.Millisecond)
	}
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
