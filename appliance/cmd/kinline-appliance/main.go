// Command kinline-appliance is the block appliance daemon: it drives the
// block's IC-card readers, registers the IAD's ports, authorizes, relays and
// records calls, and syncs with central.
//
//	kinline-appliance -config /etc/kinline/appliance.yaml
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
	// The policy's time zone (calling windows, quota days) must load on a
	// board image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/appliance/daemon"
	"github.com/kinline/kinline/shared/clock"
)

var version = "dev"

func main() {
	cfgPath := flag.String("config", "/etc/kinline/appliance.yaml", "config file (see example.yaml)")
	flag.Parse()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-appliance:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "kinline-appliance: log_level:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("appliance", cfg.ApplianceID)
	daemon.Version = version
	sys, err := daemon.New(cfg, log, clock.Real{})
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sys.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}
