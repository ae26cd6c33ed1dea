// Command kinline-readersim emulates an IC-card reader (PN532 or EM4100) on
// a pseudo-terminal, byte for byte as the hardware talks, and takes orders
// on a unix control socket. Build it with
// `go build -o kinline-readersim ./tools/readersim`.
//
// Run a reader until killed (SIGINT/SIGTERM):
//
//	kinline-readersim -driver pn532 -link ./.demo/reader-t1 -control ./.demo/reader-t1.sock
//
// The driver opens ./.demo/reader-t1 (a symlink to /dev/pts/N) as a serial
// device. Then send commands:
//
//	kinline-readersim tap -control ./.demo/reader-t1.sock 04A1B2C3 [800ms]
//	kinline-readersim present -control SOCK 04A1B2C3D4E5F6
//	kinline-readersim remove -control SOCK
//	kinline-readersim unplug -control SOCK
//	kinline-readersim replug -control SOCK
//	kinline-readersim reset|mute|corrupt|corruptlen|clone|errorframe|extended|stats -control SOCK [ARG]
//
// The command language is documented on readersim.(*Sim).Exec; any client that
// writes a line to the socket and reads one back (e.g. socat) works too.
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
	"strings"
	"syscall"
	"time"

	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/shared/version"
)

func main() {
	if version.Handle("kinline-readersim", os.Args[1:], os.Stdout) {
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kinline-readersim:", err)
		os.Exit(1)
	}
}

var commands = map[string]bool{"tap": true, "present": true, "remove": true, "unplug": true, "replug": true,
	"reset": true, "mute": true, "corrupt": true, "corruptlen": true, "clone": true, "errorframe": true, "extended": true, "stats": true}

func run(args []string) error {
	if len(args) > 0 && commands[args[0]] {
		return client(args[0], args[1:])
	}
	fs := flag.NewFlagSet("kinline-readersim", flag.ContinueOnError)
	driver := fs.String("driver", "pn532", "reader to emulate: pn532 or em4100")
	link := fs.String("link", "", "symlink to create to the pty (the device path drivers open)")
	control := fs.String("control", "", "unix socket to accept commands on")
	repeat := fs.Duration("repeat", 250*time.Millisecond, "em4100 frame repetition period")
	clone := fs.Bool("clone", false, "pn532: answer a card poll \"no target\" at once, as clones do")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unknown command %q", fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	s, err := readersim.New(readersim.Options{Driver: *driver, Link: *link, RepeatEvery: *repeat, Log: log})
	if err != nil {
		return err
	}
	defer s.Close()
	s.Clone(*clone)
	log.Info("reader ready", "driver", *driver, "path", s.Path())
	if *control == "" {
		<-ctx.Done()
		return nil
	}
	os.Remove(*control)
	ln, err := net.Listen("unix", *control)
	if err != nil {
		return err
	}
	defer os.Remove(*control)
	if err := s.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func client(verb string, args []string) error {
	fs := flag.NewFlagSet("kinline-readersim "+verb, flag.ContinueOnError)
	control := fs.String("control", "", "the simulator's control socket")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the reply")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *control == "" {
		return errors.New("-control SOCKET is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	reply, err := readersim.Send(ctx, *control, strings.Join(append([]string{verb}, fs.Args()...), " "))
	if err != nil {
		return err
	}
	if reply != "" {
		fmt.Println(reply)
	}
	return nil
}
