// Command kinline-panelsim presses the buttons of a simulated officer panel
// and taps cards on its officer reader, through the control socket the
// appliance opens on the sim board (panel.ServeControl).
//
// Usage:
//
//	kinline-panelsim [-control .demo/panel.sock] [-timeout 5s] COMMAND...
//
// Commands: press confirm | press cancel | tap <uid> | state | help.
// The reply is printed on stdout; an error reply exits with status 1,
// a usage error with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kinline/kinline/appliance/panel"
	"github.com/kinline/kinline/shared/version"
)

func main() {
	if version.Handle("kinline-panelsim", os.Args[1:], os.Stdout) {
		return
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kinline-panelsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("control", ".demo/panel.sock", "the appliance's panel control socket")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the reply")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kinline-panelsim [-control SOCKET] [-timeout D] press confirm|press cancel|tap UID|state|help")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	reply, err := panel.Command(ctx, *socket, strings.Join(fs.Args(), " "))
	if err != nil {
		fmt.Fprintln(stderr, "kinline-panelsim:", err)
		return 1
	}
	if reply != "" {
		fmt.Fprintln(stdout, reply)
	}
	return 0
}
