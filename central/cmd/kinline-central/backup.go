package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/kinline/kinline/central/backup"
	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/shared/recstore"
)

// backupCommand runs the backup and restore subcommands:
//
//	kinline-central backup -config central.yaml DIR
//	kinline-central restore -config central.yaml [-force] DIR
//
// ok is false when args name neither.
func backupCommand(args []string) (code int, ok bool) {
	if len(args) == 0 || (args[0] != "backup" && args[0] != "restore") {
		return 0, false
	}
	name := args[0]
	fl := flag.NewFlagSet("kinline-central "+name, flag.ContinueOnError)
	cfgPath := fl.String("config", "/etc/kinline/central.yaml", "config file (see example.yaml)")
	force := fl.Bool("force", false, "restore: replace the database and recordings already there")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: kinline-central %s -config central.yaml %sDIR\n", name, map[bool]string{true: "[-force] "}[name == "restore"])
		fl.PrintDefaults()
	}
	if err := fl.Parse(args[1:]); err != nil {
		return 2, true
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2, true
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-central:", err)
		return 2, true
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src := backup.Source{Driver: cfg.Database.Driver, Path: cfg.Database.Path, DSN: cfg.Database.DSN, RecordingsDir: filepath.Join(cfg.DataDir, "recordings")}
	if name == "backup" {
		err = runBackup(ctx, os.Stdout, src, fl.Arg(0), log)
	} else {
		err = runRestore(ctx, os.Stdout, cfg, src, fl.Arg(0), *force, log)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kinline-central %s: %v\n", name, err)
		return 1, true
	}
	return 0, true
}

func runBackup(ctx context.Context, out io.Writer, src backup.Source, dir string, log *slog.Logger) error {
	m, err := backup.Backup(ctx, src, dir, backup.Options{Version: programVersion(), Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup written to %s: %s database at schema %d, %d recordings, %d files in %s\n",
		dir, m.Driver, m.SchemaVersion, m.Recordings, len(m.Files), backup.ManifestName)
	if m.Driver == config.DriverPostgres && m.Database == "" {
		fmt.Fprintf(out, "pg_dump is not on PATH: the database is NOT in this backup; run\n  pg_dump --format=custom --file=%s DSN\nnow (docs/decisions/0030)\n", filepath.Join(dir, backup.PostgresName))
	}
	fmt.Fprintln(out, "the recordings key is not in the backup: keep a copy of recordings_key apart from it")
	return nil
}

func runRestore(ctx context.Context, out io.Writer, cfg *config.Config, dst backup.Source, dir string, force bool, log *slog.Logger) error {
	key, err := recstore.LoadKey(cfg.RecordingsKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(out, "warning: no recordings key at %s: the sealed recordings cannot be checked and will not play until it is put back\n", cfg.RecordingsKey)
	case err != nil:
		return fmt.Errorf("recordings_key: %w", err)
	}
	rep, err := backup.Restore(ctx, dir, dst, backup.RestoreOptions{Force: force, Key: key, Log: log, BackupDir: cfg.BackupDir})
	if err != nil {
		return err
	}
	m := rep.Manifest
	fmt.Fprintf(out, "backup of %s (version %q, schema %d) verified against its manifest; %d recordings restored\n",
		m.Created.Format("2006-01-02 15:04:05Z"), m.Version, m.SchemaVersion, rep.Recordings)
	if !rep.DatabaseRestored {
		fmt.Fprintln(out, "the backup holds no database dump: restore it with pg_restore --clean --if-exists --no-owner -d DSN, then start central")
		return nil
	}
	fmt.Fprintln(out, "database restored; audit chain verified")
	return nil
}

// programVersion is the module version and VCS revision the binary was
// built from, for the manifest.
func programVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}
