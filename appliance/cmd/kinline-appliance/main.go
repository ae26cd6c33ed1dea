// Command kinline-appliance is the block appliance daemon: it drives the
// block's IC-card readers, registers the IAD's ports, authorizes, relays and
// records calls, and syncs with central.
//
//	kinline-appliance -config /etc/kinline/appliance.yaml
//
// -pprof 127.0.0.1:6060 serves Go's profiler (net/http/pprof) on a
// loopback address, for measuring the appliance under load (hil-tests/load
// uses it); it is refused on any other address.
//
// example.yaml beside this file documents every setting.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	// The policy's time zone (calling windows, quota days) must load on a
	// board image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/appliance/daemon"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/logging"
	"github.com/kinline/kinline/shared/version"
)

// applianceMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT is set: with the binary's own pages (about 8 MB resident)
// the process stays under 64 MB.
const applianceMemoryLimit = 48 << 20

func main() {
	if version.Handle("kinline-appliance", os.Args[1:], os.Stdout) {
		return
	}
	cfgPath := flag.String("config", "/etc/kinline/appliance.yaml", "config file (see example.yaml)")
	// The garbage collector's default (GOGC=100) lets the heap grow to
	// twice what is live before it collects. The appliance's live heap
	// barely moves while calls are up, but hanging up many calls at once
	// (finalising and uploading their recordings) churns through memory:
	// with 100 calls the process peaked at 60 MB against 44 MB with the
	// calls up. At 50 the peak was 52.5 MB for no CPU we could measure
	// (docs/PERFORMANCE.md). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	// A soft memory limit as a backstop under overload (DESIGN.md section
	// 9: RSS under 64 MB at any offered SIP rate): what call control holds
	// is bounded (callctl's MaxTransactions), and this keeps the
	// collector's headroom within the rest. Far above the live heap of
	// normal work (15-17 MB with 100 calls up), so it costs nothing until
	// a flood. GOMEMLIMIT in the environment still wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(applianceMemoryLimit)
	}
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (host:port), for profiling")
	logFormat := flag.String("log-format", "", "text or json (default: the config's log_format, else text)")
	flag.Bool("version", false, "print the version (release, protocol, capability, Go) and exit")
	flag.Parse()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-appliance:", err)
		os.Exit(2)
	}
	if *logFormat != "" {
		cfg.LogFormat = *logFormat
	}
	base, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-appliance:", err)
		os.Exit(2)
	}
	log := base.With("appliance", cfg.ApplianceID)
	// sipgo's TCP connections log through its package logger (they take
	// no logger of their own): into ours, in our format.
	sip.SetDefaultLogger(log.With("part", "sip", "component", "sipgo"))
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr, log); err != nil {
			fmt.Fprintln(os.Stderr, "kinline-appliance: -pprof:", err)
			os.Exit(2)
		}
	}
	daemon.Version = version.String()
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

// servePprof serves the profiler on addr, which must be a loopback
// address: the profiles show call ids and numbers in their labels and
// stacks, and the endpoints cost CPU on demand.
func servePprof(addr string, log *slog.Logger) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want a loopback host:port such as 127.0.0.1:6060: %w", addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the profiler is only served on 127.0.0.1 or ::1", addr)
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiler listening", "addr", ln.Addr())
	go func() {
		if err := http.Serve(ln, mux); err != nil {
			log.Error("profiler stopped", "err", err)
		}
	}()
	return nil
}
