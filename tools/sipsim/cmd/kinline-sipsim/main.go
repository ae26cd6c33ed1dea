// Command kinline-sipsim simulates the SIP phones around a Kinline
// appliance.
//
//	kinline-sipsim port   -appliance 127.0.0.1:5060 -user port1 -password pw -number 0611223344 -talk 5s
//	kinline-sipsim family -listen 127.0.0.1:5070 [-ring 1s] [-reject 486] [-no-answer] [-hangup-after 10s] [-accept] [-key 1] [-accept-after 1s] [-info]
//
// "port" is an IAD FXS port: it registers (digest auth), places one call,
// sends a 440 Hz tone as G.711 RTP for -talk, hangs up and prints the final
// status and RTP counts. It exits 0 when the call was answered, 2 when it
// was refused (any final non-2xx status), 1 on errors.
//
// "family" is a family phone listening where the appliance's trunk points:
// it rings, answers (or rejects), sends a 660 Hz tone, and prints one line
// per call until interrupted. With -accept it presses 1 (-key: another
// key, 9 blocks the caller) once it has heard -accept-after of the
// appliance's announcement, as an RFC 4733 telephone-event (-info: a SIP
// INFO), so that an appliance that requires the called party's acceptance
// (family_accept, true in the example config) bridges the call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/shared/version"
)

func main() {
	if version.Handle("kinline-sipsim", os.Args[1:], os.Stdout) {
		return
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	switch os.Args[1] {
	case "port":
		code = runPort(ctx, os.Args[2:])
	case "family":
		code = runFamily(ctx, os.Args[2:])
	default:
		usage()
		code = 1
	}
	os.Exit(code)
}

// pressed is the key a family call pressed, "" for none.
func pressed(k byte) string {
	if k == 0 {
		return ""
	}
	return string(rune(k))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kinline-sipsim port|family [flags]   (-h after the mode for its flags)")
}

func logger(verbose bool) *slog.Logger {
	lvl := slog.LevelWarn
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func runPort(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("port", flag.ExitOnError)
	appliance := fs.String("appliance", "127.0.0.1:5060", "appliance SIP address host:port")
	listen := fs.String("listen", "127.0.0.1:0", "local SIP address")
	user := fs.String("user", "port1", "SIP user of the IAD port")
	password := fs.String("password", "", "SIP digest password")
	number := fs.String("number", "", "number to dial (required)")
	talk := fs.Duration("talk", 5*time.Second, "how long to talk once answered")
	register := fs.Bool("register", true, "REGISTER before calling")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up (CANCEL) if not finished by then")
	verbose := fs.Bool("v", false, "log SIP details")
	keys := fs.String("keys", "", "keys to press once answered (the hotline IVR: PIN#, menu choice, number#), as RFC 4733 events")
	byINFO := fs.Bool("info", false, "press -keys as SIP INFO (application/dtmf-relay) instead of RFC 4733")
	fs.Parse(args)
	if *number == "" {
		fmt.Fprintln(os.Stderr, "kinline-sipsim port: -number is required")
		return 1
	}
	p, err := phone.NewPort(phone.PortConfig{Appliance: *appliance, User: *user, Password: *password, Listen: *listen, Logger: logger(*verbose)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-sipsim:", err)
		return 1
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *register {
		if err := p.Register(ctx, time.Hour); err != nil {
			fmt.Fprintln(os.Stderr, "kinline-sipsim: register:", err)
			return 1
		}
		fmt.Printf("registered %s at %s\n", *user, *appliance)
	}
	if *keys != "" {
		return hotlineCall(ctx, p, *number, *keys, *byINFO, *talk)
	}
	res, err := p.Call(ctx, *number, *talk)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-sipsim: call:", err)
		return 1
	}
	fmt.Printf("status=%d reason=%q provisional=%v answered=%v remote_hangup=%v rtp_sent=%d rtp_received=%d\n",
		res.Code, res.Reason, res.Provisional, res.Answered, res.RemoteHangup, res.RTP.Sent, res.RTP.Received)
	if !res.Answered {
		return 2
	}
	return 0
}

// hotlineCall dials number (the appliance's hotline), presses keys once
// answered, then stays on the line for talk or until the appliance hangs
// up.
func hotlineCall(ctx context.Context, p *phone.Port, number, keys string, byINFO bool, talk time.Duration) int {
	c, err := p.Dial(ctx, number, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-sipsim: call:", err)
		return 2
	}
	press := c.SendDTMF
	if byINFO {
		press = c.SendINFO
	}
	if err := press(ctx, keys); err != nil {
		fmt.Fprintln(os.Stderr, "kinline-sipsim: keys:", err)
	}
	remote := false
	select {
	case <-time.After(talk):
	case <-c.RemoteHangup():
		remote = true
	case <-ctx.Done():
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil && !errors.Is(err, phone.ErrHungUp) {
		fmt.Fprintln(os.Stderr, "kinline-sipsim: hangup:", err)
	}
	st := c.Stats()
	fmt.Printf("hotline answered keys=%q remote_hangup=%v rtp_sent=%d rtp_received=%d\n", keys, remote, st.Sent, st.Received)
	return 0
}

func runFamily(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("family", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:5070", "SIP address (the appliance's trunk)")
	ring := fs.Duration("ring", time.Second, "ring this long before answering or rejecting")
	reject := fs.Int("reject", 0, "reject with this status instead of answering (e.g. 486, 603)")
	noAnswer := fs.Bool("no-answer", false, "ring until the caller gives up")
	hangup := fs.Duration("hangup-after", 0, "hang up this long after answering (0: wait for BYE)")
	accept := fs.Bool("accept", false, "press -key (1: accept) at the appliance's acceptance prompt after answering")
	key := fs.String("key", "1", "the key -accept presses: 1 accepts, 9 blocks the caller")
	acceptAfter := fs.Duration("accept-after", time.Second, "how much of the prompt to hear before pressing -key")
	info := fs.Bool("info", false, "press -key as a SIP INFO (application/dtmf-relay) instead of an RFC 4733 event")
	verbose := fs.Bool("v", false, "log SIP details")
	fs.Parse(args)
	fc := phone.FamilyConfig{Listen: *listen, RingFor: *ring, Reject: *reject, NoAnswer: *noAnswer, HangupAfter: *hangup, Logger: logger(*verbose)}
	if *accept {
		if len(*key) != 1 || !strings.ContainsRune("0123456789*#", rune((*key)[0])) {
			fmt.Fprintf(os.Stderr, "kinline-sipsim: -key %q: want one of 0-9, * or #\n", *key)
			return 1
		}
		if *acceptAfter <= 0 {
			fmt.Fprintln(os.Stderr, "kinline-sipsim: -accept-after must be positive")
			return 1
		}
		fc.Accept, fc.AcceptAfter, fc.AcceptByINFO = (*key)[0], *acceptAfter, *info
	}
	f, err := phone.NewFamily(fc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinline-sipsim:", err)
		return 1
	}
	defer f.Close()
	fmt.Printf("family phone listening on %s\n", f.Addr())
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return 0
			}
			return 1
		case inv := <-f.Invites():
			fmt.Printf("INVITE call_id=%s number=%s from=%s\n", inv.CallID, inv.Number, inv.From)
		case c := <-f.Results():
			fmt.Printf("END call_id=%s number=%s status=%d answered=%v cancelled=%v hung_up=%v pressed=%q rtp_sent=%d rtp_received=%d\n",
				c.CallID, c.Number, c.Code, c.Answered, c.Cancelled, c.HungUp, pressed(c.Pressed), c.RTP.Sent, c.RTP.Received)
		}
	}
}
