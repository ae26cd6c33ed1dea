package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"path/filepath"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// rotateAdminToken is "kinline-central rotate-admin-token -config FILE":
// it revokes the bootstrap admin token (and any other bootstrap token not
// yet revoked, ending their console sessions), writes a new one to
// admin_token_file with mode 0600 and audits it as "cli:<os user>". It
// works on the database central uses, while central runs or not. It
// returns the exit status.
func rotateAdminToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotate-admin-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/kinline/central.yaml", "config file (see example.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "kinline-central rotate-admin-token:", err)
		return 2
	}
	actor := "cli"
	if u, err := user.Current(); err == nil {
		actor = "cli:" + u.Username
	}
	ctx := context.Background()
	db := store.Database{Driver: cfg.Database.Driver, Path: cfg.Database.Path, DSN: cfg.Database.DSN}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.OpenDatabase(ctx, db, filepath.Join(cfg.DataDir, "recordings"), log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "kinline-central rotate-admin-token:", err)
		return 1
	}
	defer st.Close()
	if err := users.New(st).RotateAdminToken(ctx, actor, cfg.AdminTokenFile); err != nil {
		fmt.Fprintln(stderr, "kinline-central rotate-admin-token:", err)
		return 1
	}
	fmt.Fprintf(stdout, "The admin token was rotated: the old one is revoked, the new one is in %s (mode 0600).\n", cfg.AdminTokenFile)
	return 0
}
