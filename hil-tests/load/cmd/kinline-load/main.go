// Command kinline-load measures the appliance's media numbers with sipp:
// concurrent recorded G.711 calls with RTP both ways, the appliance's CPU
// per call and calls per core, its RSS with the calls up, recordings
// encrypted at rest, and pickup to ringing with the card tapped, dialled
// directly and (-hotline N) through the hotline IVR. See
// hil-tests/load/README.md.
//
//	go run ./hil-tests/load/cmd/kinline-load -calls 100 -ring-rounds 1 -hotline 20
//
// (-hotline 20 is the default: make load runs it too.)
//
// It builds kinline-appliance and kinline-central into the work directory
// unless -bin names a directory holding them, and prints a Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kinline/kinline/hil-tests/load"
)

func main() {
	var o load.Options
	flag.IntVar(&o.Calls, "calls", 100, "concurrent calls (= terminals, card readers, people)")
	flag.Float64Var(&o.Rate, "rate", 50, "call attempts per second while ramping up")
	flag.DurationVar(&o.Window, "window", 15*time.Second, "steady-state measuring window with every call up")
	flag.IntVar(&o.RingRounds, "ring-rounds", 1, "extra rounds of short calls for pickup-to-ringing samples")
	flag.DurationVar(&o.RingTalk, "ring-talk", time.Second, "talk time of the ring rounds' calls")
	flag.IntVar(&o.Verify, "verify", 0, "recordings to fetch and check (0: all of the load round, -1: none)")
	flag.IntVar(&o.Hotline, "hotline", 20, "hotline calls after the other rounds (PIN, 1 and number keyed; at most -calls; default 20 or -calls if fewer)")
	flag.Float64Var(&o.HotlineRate, "hotline-rate", 1, "hotline call attempts per second")
	flag.DurationVar(&o.HotlineTalk, "hotline-talk", 3*time.Second, "talk time of the hotline calls once bridged")
	flag.DurationVar(&o.KeyTone, "key-tone", 50*time.Millisecond, "telephone-event length of each key (one key per 2 x this; sipp: 50ms to 2s)")
	flag.BoolVar(&o.PlainRecordings, "plain-recordings", false, "record unencrypted, only to compare with the default (encrypted at rest)")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the appliance over the steady-state window to this file")
	flag.StringVar(&o.LogLevel, "log-level", "info", "the appliance's log level")
	bin := flag.String("bin", "", "directory holding kinline-appliance and kinline-central (default: build them)")
	dir := flag.String("dir", "", "work directory (default: a new temporary one, kept)")
	flag.Parse()
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if !explicit["hotline"] {
		o.Hotline = min(o.Hotline, o.Calls)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Log = log
	if *dir == "" {
		d, err := os.MkdirTemp("", "kinline-load-")
		if err != nil {
			fail(err)
		}
		*dir = d
	}
	o.Dir = *dir
	if *bin == "" {
		*bin = filepath.Join(*dir, "bin")
		log.Info("building the binaries", "into", *bin)
		if err := load.BuildBinaries(*bin, "./appliance/cmd/kinline-appliance", "./central/cmd/kinline-central"); err != nil {
			fail(err)
		}
	}
	o.BinDir = *bin
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	log.Info("running", "dir", o.Dir, "calls", o.Calls)
	res, err := load.Run(ctx, o)
	if err != nil {
		fail(fmt.Errorf("%w (logs and sipp traces in %s)", err, o.Dir))
	}
	fmt.Print(res.Markdown(load.Machine()))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kinline-load:", err)
	os.Exit(1)
}
