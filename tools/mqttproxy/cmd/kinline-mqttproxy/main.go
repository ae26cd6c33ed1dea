// Command kinline-mqttproxy is a fault-injecting MQTT proxy for tests: put
// it between appliances and the broker to duplicate, reorder and cut.
//
//	kinline-mqttproxy -listen 127.0.0.1:1884 -upstream 127.0.0.1:1883 \
//	    -seed 7 -dup 0.2 -reorder 0.2 -drop 0.001
//
// -dir says which direction the faults apply to (up: client to broker,
// down: broker to client, both). SIGUSR1 cuts every connection at once;
// SIGINT or SIGTERM stops the proxy and prints its counters.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinline/kinline/shared/version"
	"github.com/kinline/kinline/tools/mqttproxy"
)

func main() {
	if version.Handle("kinline-mqttproxy", os.Args[1:], os.Stdout) {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kinline-mqttproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:1884", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:1883", "the broker's host:port")
	seed := flag.Uint64("seed", 1, "seed of the fault generator")
	dup := flag.Float64("dup", 0, "probability that a PUBLISH is duplicated")
	reorder := flag.Float64("reorder", 0, "probability that a PUBLISH is held and sent after the next")
	drop := flag.Float64("drop", 0, "probability, per packet, that the connection is cut")
	dir := flag.String("dir", "both", "direction the faults apply to: up, down or both")
	hold := flag.Duration("hold", mqttproxy.DefaultHoldMax, "longest wait of a held PUBLISH for its successor")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Bool("version", false, "print the version (release, protocol, capability, Go) and exit")
	flag.Parse()

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	f := mqttproxy.Faults{Duplicate: *dup, Reorder: *reorder, Drop: *drop}
	cfg := mqttproxy.Config{Listen: *listen, Upstream: *upstream, Seed: *seed, HoldMax: *hold}
	switch *dir {
	case "up":
		cfg.Up = f
	case "down":
		cfg.Down = f
	case "both":
		cfg.Up, cfg.Down = f, f
	default:
		return fmt.Errorf("-dir %q: want up, down or both", *dir)
	}
	p, err := mqttproxy.New(cfg, mqttproxy.Deps{Log: log})
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	if err := p.Start(); err != nil {
		return err
	}
	start := time.Now()
	for sig := range sigs {
		if sig == syscall.SIGUSR1 {
			log.Info("cut on SIGUSR1", "connections", p.Cut())
			continue
		}
		break
	}
	err = p.Close()
	st := p.Stats()
	log.Info("stopped", "uptime", time.Since(start).Round(time.Second), "connections", st.Connections, "cuts", st.Cuts,
		"up", fmt.Sprintf("%+v", st.Up), "down", fmt.Sprintf("%+v", st.Down))
	return err
}
