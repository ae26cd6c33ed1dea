// Command kinline-central is the central server: it receives the block
// appliances' events and recordings over MQTT, publishes their policy, and
// serves the web console and the JSON API.
//
//	kinline-central -config /etc/kinline/central.yaml
//
// example.yaml beside this file documents every setting.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/server"
	"github.com/kinline/kinline/shared/version"
)

func main() {
	if version.Handle("kinline-central", os.Args[1:], os.Stdout) {
		return
	}
	cfgPath := flag.String("config", "/etc/kinline/central.yaml", "config file (see example.yaml)")
	flag.Bool("version", false, "print the version (release, protocol, capability, Go) and exit")
	flag.Parse()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-central:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "kinline-central: log_level:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	if err := srv.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
