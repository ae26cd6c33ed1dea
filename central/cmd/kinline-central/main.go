// Command kinline-central is the central server: it receives the block
// appliances' events and recordings over MQTT, publishes their policy, and
// serves the web console and the JSON API.
//
//	kinline-central -config /etc/kinline/central.yaml
//	kinline-central backup -config /etc/kinline/central.yaml DIR
//	kinline-central restore -config /etc/kinline/central.yaml [-force] DIR
//	kinline-central rotate-admin-token -config /etc/kinline/central.yaml
//
// rotate-admin-token revokes the bootstrap admin token and writes a new
// one to admin_token_file (rotate.go).
//
// example.yaml beside this file documents every setting.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/server"
	"github.com/kinline/kinline/shared/logging"
	"github.com/kinline/kinline/shared/version"
)

func main() {
	if version.Handle("kinline-central", os.Args[1:], os.Stdout) {
		return
	}
	if code, ok := backupCommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "rotate-admin-token" {
		os.Exit(rotateAdminToken(os.Args[2:], os.Stdout, os.Stderr))
	}
	cfgPath := flag.String("config", "/etc/kinline/central.yaml", "config file (see example.yaml)")
	logFormat := flag.String("log-format", "", "text or json (default: the config's log_format, else text)")
	flag.Bool("version", false, "print the version (release, protocol, capability, Go) and exit")
	flag.Parse()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-central:", err)
		os.Exit(2)
	}
	if *logFormat != "" {
		cfg.LogFormat = *logFormat
	}
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-central:", err)
		os.Exit(2)
	}
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
