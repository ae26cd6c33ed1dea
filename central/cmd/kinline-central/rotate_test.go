package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// TestRotateAdminTokenCommand builds kinline-central and runs
// "rotate-admin-token -config" on a database with a bootstrap token: the
// old token stops working, the file holds a new one (mode 0600) that
// works, and the rotation is audited.
func TestRotateAdminTokenCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kinline-central")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+data+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(data, "admin-token")
	open := func() *store.Store {
		st, err := store.OpenDatabase(context.Background(), store.Database{Driver: store.DriverSQLite, Path: filepath.Join(data, "central.db")}, filepath.Join(data, "recordings"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	read := func() string {
		b, err := os.ReadFile(tokFile)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	st := open()
	if err := users.New(st).EnsureAdminToken(context.Background(), tokFile, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	old := read()

	out, err := exec.Command(bin, "rotate-admin-token", "-config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), tokFile) {
		t.Fatalf("rotate-admin-token: %v\n%s", err, out)
	}
	fresh := read()
	if fi, err := os.Stat(tokFile); err != nil || fi.Mode().Perm() != 0o600 || fresh == old || strings.Contains(string(out), fresh) {
		t.Fatalf("token file after rotation: %v %v (the secret must not be printed)", fi, err)
	}
	st = open()
	defer st.Close()
	us := users.New(st)
	ctx := context.Background()
	if _, err := us.AuthenticateToken(ctx, old); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("old token after rotation: %v", err)
	}
	if tok, err := us.AuthenticateToken(ctx, fresh); err != nil || !tok.Bootstrap || tok.Owner != users.BootstrapUserID {
		t.Fatalf("new token: %+v %v", tok, err)
	}
	if l, err := st.AuditLog(ctx, store.AuditFilter{Action: "token.rotate"}); err != nil || len(l) != 1 || !strings.HasPrefix(l[0].Actor, "cli") {
		t.Fatalf("rotation audit: %+v %v", l, err)
	}
	// A bad config is refused with status 2.
	err = exec.Command(bin, "rotate-admin-token", "-config", filepath.Join(dir, "missing.yaml")).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("missing config: %v", err)
	}
}
