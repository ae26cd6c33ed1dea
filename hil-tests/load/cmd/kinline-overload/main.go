// Command kinline-overload offers the real kinline-appliance refused call
// attempts at rising rates with sipp, then a burst of INVITEs no one
// answers the challenge of, and reports the attempts served and shed per
// second and the appliance's peak RSS (issue 11 item 6; DESIGN.md section
// 9: RSS under 64 MB at any offered rate, 2,000 attempts per second
// served). See hil-tests/load/README.md.
//
//	go run ./hil-tests/load/cmd/kinline-overload
//	go run ./hil-tests/load/cmd/kinline-overload -rates 1000,5000 -step 20s
//
// It builds kinline-appliance into the work directory unless -bin names a
// directory holding it, and prints a Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinline/kinline/hil-tests/load"
)

func main() {
	var o load.OverloadOptions
	rates := flag.String("rates", "500,1000,2000,3000,4000,5000", "offered attempt rates per second, one step each")
	flag.DurationVar(&o.Step, "step", 10*time.Second, "length of each step")
	flag.IntVar(&o.Terminals, "terminals", 64, "IAD ports the attempts come from")
	flag.Float64Var(&o.PerSipp, "per-sipp", 1000, "highest rate asked of one sipp process (more run in parallel above it)")
	flag.IntVar(&o.Unanswered, "unanswered", 10000, "INVITEs sent at the top rate and never answered after the steps (-1: none)")
	bin := flag.String("bin", "", "directory holding kinline-appliance (default: build it)")
	dir := flag.String("dir", "", "work directory (default: a new temporary one, kept)")
	flag.Parse()
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			fail(fmt.Errorf("-rates: %w", err))
		}
		o.Rates = append(o.Rates, r)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Log = log
	if *dir == "" {
		d, err := os.MkdirTemp("", "kinline-overload-")
		if err != nil {
			fail(err)
		}
		*dir = d
	}
	o.Dir = *dir
	if *bin == "" {
		*bin = filepath.Join(*dir, "bin")
		log.Info("building the appliance", "into", *bin)
		if err := load.BuildBinaries(*bin, "./appliance/cmd/kinline-appliance"); err != nil {
			fail(err)
		}
	}
	o.BinDir = *bin
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	res, err := load.RunOverload(ctx, o)
	if res != nil {
		fmt.Print(res.Markdown(load.Machine()))
	}
	if err != nil {
		fail(fmt.Errorf("%w (logs and sipp traces in %s)", err, o.Dir))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kinline-overload:", err)
	os.Exit(1)
}
