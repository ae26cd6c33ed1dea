// Command kinline-readerload measures what one PN532 card reader costs the
// real appliance binary and how long a tap takes to reach its log:
//
//   - idle CPU: the appliance's CPU time (user + system, from
//     /proc/PID/stat) over -window with the simulated PN532 idle, as the
//     NXP chip behaves (it holds a card poll until a card comes) and, with
//     -clone, as a clone that answers every poll "no card" at once; also
//     the polls the reader received per second;
//
//   - tap to log: -taps cards presented one at a time; for each, the time
//     from presenting the card to the cardreader runner's "card tap" line
//     (debug: the UID has been read off the line) and to the daemon's
//     "card tap" line (info: the tap has been handed to the authorizer),
//     from the log lines' own timestamps.
//
//     go run ./hil-tests/load/cmd/kinline-readerload [-clone] [-window 20s] [-taps 20] [-gap 400ms] [-bin DIR]
//
// Run it from the repository root. It builds kinline-appliance and
// kinline-central unless -bin names a directory holding them, and prints a
// Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/hil-tests/load"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/tools/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kinline-readerload:", err)
		os.Exit(1)
	}
}

// clkTck is USER_HZ, the unit of /proc/PID/stat's utime and stime (100 on
// every Linux architecture Kinline runs on).
const clkTck = 100

func run() error {
	clone := flag.Bool("clone", false, "simulate a PN532 clone that answers every poll \"no card\" at once")
	window := flag.Duration("window", 20*time.Second, "idle CPU measuring window")
	taps := flag.Int("taps", 20, "taps to time (0: none)")
	gap := flag.Duration("gap", 400*time.Millisecond, "pause between one tap's daemon log line and the next card (0: the next card at once, as people queueing at a terminal)")
	bin := flag.String("bin", "", "directory holding kinline-appliance and kinline-central (default: build them)")
	keep := flag.Bool("keep", false, "keep the work directory (logs) and print its path")
	flag.Parse()

	dir, err := os.MkdirTemp("", "kinline-readerload-")
	if err != nil {
		return err
	}
	defer func() {
		if *keep {
			fmt.Println("\nwork directory kept:", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	if *bin == "" {
		*bin = filepath.Join(dir, "bin")
		if err := load.BuildBinaries(*bin, "./appliance/cmd/kinline-appliance", "./central/cmd/kinline-central"); err != nil {
			return err
		}
	}
	reader, err := readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "reader-t1")})
	if err != nil {
		return err
	}
	defer reader.Close()
	reader.Clone(*clone)
	st, err := stack.Prepare(stack.Options{Dir: dir, BinDir: *bin, TrunkAddr: "127.0.0.1:9", ReaderDevice: reader.Path(), Quiet: true, LogLevel: "debug"})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := st.StartCentral(ctx); err != nil {
		return err
	}
	if err := st.StartAppliance(ctx); err != nil {
		return err
	}
	if err := stack.WaitFor(ctx, time.Minute, "the reader to be polled", func() error {
		if reader.Stats().Commands[0x4A] == 0 {
			return fmt.Errorf("no poll yet")
		}
		return nil
	}); err != nil {
		return err
	}
	mode := "NXP PN532 (holds the poll until a card comes)"
	if *clone {
		mode = "clone (answers every poll \"no card\" at once)"
	}
	fmt.Printf("## Card reader: %s\n\n", mode)

	// Let start-up settle, then measure the idle appliance.
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	pid := st.AppliancePID()
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	polls0, t0 := reader.Stats().Commands[0x4A], time.Now()
	if err := sleep(ctx, *window); err != nil {
		return err
	}
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	polls := reader.Stats().Commands[0x4A] - polls0
	share := float64(cpu1-cpu0) / clkTck / elapsed.Seconds()
	fmt.Printf("- idle appliance CPU over %v: %.1f%% of a core (%.2f s of CPU)\n", elapsed.Round(time.Millisecond), 100*share, float64(cpu1-cpu0)/clkTck)
	fmt.Printf("- polls received by the reader: %d (%.1f/s)\n", polls, float64(polls)/elapsed.Seconds())

	if *taps > 0 {
		var toRead, toDaemon []time.Duration
		for i := range *taps {
			card := fmt.Sprintf("04%06X", 0xA00000+i)
			uid, _ := readersim.ParseUID(card)
			at := time.Now()
			if err := reader.Present(uid); err != nil {
				return err
			}
			lines, err := st.WaitApplianceLog(ctx, 30*time.Second, 2, `msg="card tap"`, "uid="+card)
			reader.Remove()
			if err != nil {
				return err
			}
			for _, l := range lines {
				ts, err := logTime(l)
				if err != nil {
					return err
				}
				if strings.Contains(l, " driver=") {
					toRead = append(toRead, ts.Sub(at))
				} else {
					toDaemon = append(toDaemon, ts.Sub(at))
				}
			}
			if err := sleep(ctx, *gap); err != nil {
				return err
			}
		}
		fmt.Printf("- %d taps, presented to the runner's log line (UID read): %s\n", len(toRead), summary(toRead))
		fmt.Printf("- %d taps, presented to the daemon's log line (tap handed over): %s\n", len(toDaemon), summary(toDaemon))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cpuTicks is the process's utime + stime in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return u + k, nil
}

// logTime is a slog text line's time= field.
func logTime(line string) (time.Time, error) {
	_, rest, ok := strings.Cut(line, "time=")
	if !ok {
		return time.Time{}, fmt.Errorf("no time in %q", line)
	}
	v, _, _ := strings.Cut(rest, " ")
	return time.Parse(time.RFC3339Nano, v)
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))].Round(100 * time.Microsecond) }
	return fmt.Sprintf("min %v, median %v, p90 %v, max %v (log timestamps have 1 ms resolution)", q(0), q(0.5), q(0.9), s[len(s)-1].Round(100*time.Microsecond))
}
