// Command kinline-demo runs Kinline's main job on one machine with no extra
// services (it is what `make demo` runs) and fills the console like a small
// real block. It starts kinline-central (embedded broker, SQLite, console)
// and a kinline-appliance whose card reader is a PN532 simulator on a
// pseudo-terminal, with a simulated IAD port and a simulated family phone
// on the trunk side, both speaking SIP and sending real RTP.
//
// Everything it seeds goes through the real JSON API: prison and money
// settings, a rates table, prison-wide numbers (blocked, privileged, free)
// with their notes, call rules, an officer, console users for every role
// (with TOTP second factors where the role needs one), people in two
// blocks with cards, PINs, languages and contacts in every approval state
// (decided by the block officer, signed in at the console), a suspension,
// and recharges with receipts and an adjustment posted by the finance
// user. Then it places real calls through the simulators: answered and
// recorded, refused for several reasons (not approved, blocked number,
// insufficient balance, a suspended person's card), a privileged call
// that is never recorded, a free helpline call, a hotline call with PIN
// entry in Spanish, and a call that waits for the officer's card and
// confirm button on the simulated panel. Once central has every call it
// posts a refund for one of them, plays a recording as the investigator,
// prints the users and passwords, the people and the calls, and keeps
// everything running until interrupted.
//
//	kinline-demo -dir .demo -bin bin
//	kinline-demo totp SECRET      # the current one-time code of a user's secret
//
// While it runs, more cards can be tapped and the panel driven with
//
//	kinline-readersim tap -control .demo/reader-t1.sock 04A1B2C3
//	kinline-panelsim -control .demo/panel.sock press confirm
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/shared/version"
	"github.com/kinline/kinline/tools/stack"
)

// config is what the flags set.
type config struct {
	dir, bin, httpAddr string
	// talk is how long the first answered call lasts; the others last
	// shortTalk.
	talk, shortTalk time.Duration
}

func main() {
	if version.Handle("kinline-demo", os.Args[1:], os.Stdout) {
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "totp" {
		if err := totpCmd(os.Args[2:], time.Now(), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "kinline-demo totp:", err)
			os.Exit(2)
		}
		return
	}
	var cfg config
	flag.StringVar(&cfg.dir, "dir", ".demo", "state directory (reset at start)")
	flag.StringVar(&cfg.bin, "bin", "bin", "directory holding kinline-central and kinline-appliance")
	flag.StringVar(&cfg.httpAddr, "http", "127.0.0.1:8080", "console and API address (\"\" picks a free port)")
	flag.DurationVar(&cfg.talk, "talk", 5*time.Second, "how long the first answered call lasts")
	flag.DurationVar(&cfg.shortTalk, "short-talk", 2*time.Second, "how long the other answered calls last")
	exit := flag.Bool("exit", false, "exit after the example calls instead of keeping the console up")
	flag.Bool("version", false, "print the version (release, protocol, capability, Go) and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := func(ctx context.Context, _ *demo) error {
		if *exit {
			return nil
		}
		fmt.Println("Press Ctrl-C to stop.")
		<-ctx.Done()
		return nil
	}
	if err := run(ctx, cfg, ready); err != nil {
		fmt.Fprintln(os.Stderr, "\nkinline-demo:", err)
		var se *stepError
		if errors.As(err, &se) && se.hint != "" {
			fmt.Fprintln(os.Stderr, se.hint)
		}
		if _, err := os.Stat(filepath.Join(cfg.dir, "kinline-central.log")); err == nil {
			fmt.Fprintf(os.Stderr, "The daemons' logs are in %[1]s/kinline-central.log and %[1]s/kinline-appliance.log; each run starts afresh.\n", cfg.dir)
		}
		os.Exit(1)
	}
}

// started is when the demo started; steps say how long after it they run.
var started = time.Now()

func step(format string, a ...any) {
	fmt.Printf("==> [%4.1fs] "+format+"\n", append([]any{time.Since(started).Seconds()}, a...)...)
}

// stepError names the demo step that failed.
type stepError struct {
	step, hint string
	err        error
}

func (e *stepError) Error() string { return fmt.Sprintf("step %q failed: %v", e.step, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// demo is one run's installation and what it has seeded.
type demo struct {
	cfg       config
	st        *stack.Stack
	hw        *hardware
	officerID string
	// officer, finance and investigator are those users' console
	// sessions.
	officer, finance, investigator *session
	// calls are the calls placed, in order.
	calls []*placedCall
	// recorded is the first answered, recorded call's id at central.
	recorded string
	// review says what the review notes and bookmarks step did.
	review string
}

// do runs one seeding step, announcing it first; a failure is a
// stepError naming it.
func (d *demo) do(what string, f func() error) error {
	step("%s", what)
	if err := f(); err != nil {
		return &stepError{step: what, err: err, hint: "The step above called central's JSON API; its answer is in the error."}
	}
	return nil
}

// run starts the installation, seeds it, places the calls, prints what to
// open and calls ready (which returns when the demo should stop).
func run(ctx context.Context, cfg config, ready func(context.Context, *demo) error) error {
	for _, b := range []string{"kinline-central", "kinline-appliance"} {
		if _, err := os.Stat(filepath.Join(cfg.bin, b)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make build` first (or `make demo`)", b, cfg.bin)
		}
	}
	if cfg.httpAddr != "" {
		c, err := net.Listen("tcp", cfg.httpAddr)
		if err != nil {
			return fmt.Errorf("cannot use %s for the console (%v): is another demo running? Stop it or pass -http", cfg.httpAddr, err)
		}
		c.Close()
	}
	dir, err := filepath.Abs(cfg.dir)
	if err != nil {
		return err
	}
	cfg.dir = dir
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("resetting %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	start := time.Now()
	step("state in %s (reset)", dir)

	reader, err := readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "reader-t1")})
	if err != nil {
		return fmt.Errorf("card reader simulator: %w", err)
	}
	defer reader.Close()
	if ln, err := net.Listen("unix", filepath.Join(dir, "reader-t1.sock")); err == nil {
		go reader.Serve(ctx, ln)
	}
	step("PN532 card reader simulated on %s (a pseudo-terminal)", reader.Path())

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 500 * time.Millisecond, Accept: '1', AcceptAfter: 2 * time.Second, Logger: quiet})
	if err != nil {
		return fmt.Errorf("family phone simulator: %w", err)
	}
	defer family.Close()
	step("family phone (the SIP trunk) simulated on udp %s", family.Addr())

	st, err := stack.Prepare(stack.Options{Dir: dir, BinDir: cfg.bin, HTTPAddr: cfg.httpAddr, TrunkAddr: family.Addr().String(),
		ReaderDevice: reader.Path(), Quiet: true, IVR: true, AcceptTimeout: 20 * time.Second, HotlineNumber: hotlineNumber})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.StartCentral(ctx); err != nil {
		return &stepError{step: "start kinline-central", err: err, hint: "Is " + filepath.Join(cfg.bin, "kinline-central") + " built from this checkout? See kinline-central.log."}
	}
	step("kinline-central up: console http://%s, MQTT %s", st.HTTPAddr, st.MQTTAddr)
	if err := st.StartAppliance(ctx); err != nil {
		return &stepError{step: "start kinline-appliance", err: err}
	}
	step("kinline-appliance %s up: SIP udp %s, hotline %s; recordings encrypted at rest (AES-256-GCM, recording.key_file %s)",
		stack.ApplianceID, st.SIPAddr, hotlineNumber, st.RecordingKey)
	d := &demo{cfg: cfg, st: st}

	if err := d.seedPrison(ctx); err != nil {
		return err
	}
	if err := d.seedPeople(ctx); err != nil {
		return err
	}
	inv := user("investigator")
	if err := d.do("signed in as "+inv.Username+" (password and one-time code), for the review after the calls", func() error {
		d.investigator, err = signIn(ctx, st.HTTPAddr, inv.Username, inv.Password, inv.Secret)
		return err
	}); err != nil {
		return err
	}
	if err := st.WaitPolicyApplied(ctx, 30*time.Second); err != nil {
		return &stepError{step: "the appliance applies block A's policy", err: err, hint: "The appliance gets its policy from central over MQTT: see kinline-appliance.log."}
	}
	a, _ := st.Appliance(ctx)
	step("the appliance applied policy version %d (people, cards, PINs, approved numbers, rules, rates and balances); seeded in %s",
		a.PolicyVersionApplied, time.Since(start).Round(100*time.Millisecond))

	port, err := phone.NewPort(phone.PortConfig{Appliance: st.SIPAddr, User: stack.PortUser, Password: stack.PortPass, Logger: quiet})
	if err != nil {
		return fmt.Errorf("IAD port simulator: %w", err)
	}
	defer port.Close()
	if err := port.Register(ctx, time.Hour); err != nil {
		return &stepError{step: "IAD port registration", err: err, hint: "See kinline-appliance.log for the SIP registrar."}
	}
	step("IAD port %s registered (digest auth) from %s", stack.PortUser, port.Addr())
	d.hw = &hardware{st: st, reader: reader, port: port, family: family, lastTap: map[string]time.Time{}}

	if err := d.placeCalls(ctx); err != nil {
		return err
	}
	if err := d.afterCalls(ctx); err != nil {
		return err
	}
	step("demo ready in %s", time.Since(start).Round(100*time.Millisecond))
	if err := d.printSummary(ctx); err != nil {
		return err
	}
	return ready(ctx, d)
}
