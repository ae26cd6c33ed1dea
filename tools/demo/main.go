// Command kinline-demo runs Kinline's main job on one machine with no extra
// services (it is what `make demo` runs): it starts kinline-central (embedded
// broker, SQLite, console) and a kinline-appliance whose card reader is a
// PN532 simulator on a pseudo-terminal, with a simulated IAD port and a
// simulated family phone on the trunk side, both speaking SIP and sending
// real RTP. It enrols a person through the API, taps the card, places an
// answered and recorded call and a refused one. Then dual authorization: it
// sets a call rule for the "high" supervision level (officer card and
// confirm button), enrols an officer with a card and a second person at that
// level, places that person's call, and while the call waits (the port hears
// ringing, the panel shows pending) taps the officer's card and presses the
// simulated confirm button through the officer panel's control socket. It
// waits until central has every call (the confirmed one naming the officer),
// prints what to open, and keeps everything running until interrupted.
//
//	kinline-demo -dir .demo -bin bin
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
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/readersim/sim"
	"github.com/kinline/kinline/tools/sipsim/phone"
	"github.com/kinline/kinline/tools/stack"
)

const (
	cardUID     = "04A1B2C3"
	approved    = "+442079460001"
	notApproved = "+442079460999"
	// The dual-authorization part.
	supervisedCard = "04C0FFEE"
	officerCard    = "0F0F0F0F"
	highLevel      = "high"
)

func main() {
	dir := flag.String("dir", ".demo", "state directory (reset at start)")
	bin := flag.String("bin", "bin", "directory holding kinline-central and kinline-appliance")
	httpAddr := flag.String("http", "127.0.0.1:8080", "console and API address")
	talk := flag.Duration("talk", 5*time.Second, "how long the answered call lasts")
	exit := flag.Bool("exit", false, "exit after the example calls instead of keeping the console up")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *bin, *httpAddr, *talk, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "\nkinline-demo:", err)
		fmt.Fprintf(os.Stderr, "The daemons' logs are in %s/kinline-central.log and %s/kinline-appliance.log.\n", *dir, *dir)
		os.Exit(1)
	}
}

func step(format string, a ...any) { fmt.Printf("==> "+format+"\n", a...) }

func run(ctx context.Context, dir, bin, httpAddr string, talk time.Duration, exit bool) error {
	for _, b := range []string{"kinline-central", "kinline-appliance"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make build` first (or `make demo`)", b, bin)
		}
	}
	if c, err := net.Listen("tcp", httpAddr); err != nil {
		return fmt.Errorf("cannot use %s for the console (%v): is another demo running? Stop it or pass -http", httpAddr, err)
	} else {
		c.Close()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("resetting %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	step("state in %s (reset)", dir)

	reader, err := sim.New(sim.Options{Driver: sim.DriverPN532, Link: filepath.Join(dir, "reader-t1")})
	if err != nil {
		return fmt.Errorf("card reader simulator: %w", err)
	}
	defer reader.Close()
	if ln, err := net.Listen("unix", filepath.Join(dir, "reader-t1.sock")); err == nil {
		go reader.Serve(ctx, ln)
	}
	step("PN532 card reader simulated on %s (a pseudo-terminal)", reader.Path())

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: time.Second, Accept: '1', AcceptAfter: 2 * time.Second, Logger: quiet})
	if err != nil {
		return fmt.Errorf("family phone simulator: %w", err)
	}
	defer family.Close()
	step("family phone (the SIP trunk) simulated on udp %s", family.Addr())

	st, err := stack.Prepare(stack.Options{Dir: dir, BinDir: bin, HTTPAddr: httpAddr, TrunkAddr: family.Addr().String(), ReaderDevice: reader.Path(), Quiet: true, IVR: true, AcceptTimeout: 20 * time.Second})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.StartCentral(ctx); err != nil {
		return err
	}
	step("kinline-central up: console http://%s, MQTT %s", st.HTTPAddr, st.MQTTAddr)
	if err := st.StartAppliance(ctx); err != nil {
		return err
	}
	step("kinline-appliance %s up: SIP udp %s; recordings encrypted at rest (AES-256-GCM, recording.key_file %s)", stack.ApplianceID, st.SIPAddr, st.RecordingKey)

	personID, err := st.Seed(ctx, stack.Person{PrisonNumber: "A1234BC", Name: "Alex Morgan", Card: cardUID, Numbers: []string{approved}})
	if err != nil {
		return err
	}
	step("enrolled Alex Morgan (A1234BC, id %s) with card %s and approved number %s", personID, cardUID, approved)
	if err := st.WaitPolicyApplied(ctx, 30*time.Second); err != nil {
		return err
	}
	a, _ := st.Appliance(ctx)
	step("the appliance applied policy version %d", a.PolicyVersionApplied)

	port, err := phone.NewPort(phone.PortConfig{Appliance: st.SIPAddr, User: stack.PortUser, Password: stack.PortPass, Logger: quiet})
	if err != nil {
		return fmt.Errorf("IAD port simulator: %w", err)
	}
	defer port.Close()
	if err := port.Register(ctx, time.Hour); err != nil {
		return fmt.Errorf("IAD port registration: %w", err)
	}
	step("IAD port %s registered (digest auth) from %s", stack.PortUser, port.Addr())

	step("tapping card %s and calling %s (talking %s)", cardUID, approved, talk)
	res, err := tapAndCall(ctx, reader, port, approved, talk)
	if err != nil {
		return err
	}
	if !res.Answered {
		return fmt.Errorf("the approved call was not answered: %d %s", res.Code, res.Reason)
	}
	step("the family phone heard who is calling and that the call is recorded, pressed 1: bridged; RTP packets sent %d, received %d; hung up", res.RTP.Sent, res.RTP.Received)

	step("tapping card %s and calling %s (not approved)", cardUID, notApproved)
	res, err = tapAndCall(ctx, reader, port, notApproved, time.Second)
	if err != nil {
		return err
	}
	if res.Answered {
		return errors.New("the unapproved call was answered")
	}
	step("refused: %d %s (the reason was spoken to the caller first: %d RTP packets of early media)", res.Code, res.Reason, res.RTP.Received)

	confirmedID, err := dualAuthorization(ctx, st, reader, port, talk)
	if err != nil {
		return err
	}

	calls, err := st.WaitCalls(ctx, 3, 30*time.Second)
	if err != nil {
		return err
	}
	var answered string
	for _, c := range calls {
		if c.Disposition == "completed" && c.ID != confirmedID {
			answered = c.ID
		}
	}
	if answered == "" {
		return errors.New("central has no completed call")
	}
	wav, err := st.WaitRecording(ctx, answered, 30*time.Second)
	if err != nil {
		return err
	}
	step("central has %d calls; the recording of %s (%d bytes, decrypted by the appliance for upload, SHA-256 verified by central) is playable", len(calls), answered, len(wav))

	token := filepath.Join(dir, "admin-token")
	fmt.Printf(`
Kinline demo is running.

  Console:   http://%[1]s   (log in with the token in %[2]s)
  API:       curl -H "Authorization: Bearer $(cat %[2]s)" http://%[1]s/api/v1/calls
  Recording: curl -H "Authorization: Bearer $(cat %[2]s)" -o call.wav http://%[1]s/api/v1/calls/%[3]s/recording
  Tap again: %[4]s tap -control %[5]s %[6]s
  Panel:     %[8]s -control %[9]s state   (press confirm | press cancel | tap %[10]s)
  Officer:   curl -H "Authorization: Bearer $(cat %[2]s)" http://%[1]s/api/v1/officer-actions
  Logs:      %[7]s/kinline-central.log, %[7]s/kinline-appliance.log

`, st.HTTPAddr, token, answered, filepath.Join(bin, "kinline-readersim"), filepath.Join(dir, "reader-t1.sock"), cardUID, dir,
		filepath.Join(bin, "kinline-panelsim"), st.PanelSocket, officerCard)
	if exit {
		return nil
	}
	fmt.Println("Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// dualAuthorization shows a call that waits for the officer: a rule for
// the "high" supervision level (officer card and confirm button, 60 s), an
// officer and a person at that level enrolled, the person's call placed,
// the officer's card tapped and the confirm button pressed on the
// simulated panel through its control socket. It returns the call's id at
// central, once central names the officer in it.
func dualAuthorization(ctx context.Context, st *stack.Stack, reader *sim.Sim, port *phone.Port, talk time.Duration) (string, error) {
	if err := st.SetRules(ctx, []wire.CallRule{{Level: highLevel, Confirm: wire.ConfirmBoth, ConfirmWindowSeconds: 60, OfficerTapEndsCall: true}}); err != nil {
		return "", err
	}
	officerID, err := st.EnrolOfficer(ctx, "S-0042", "Officer Reyes", officerCard)
	if err != nil {
		return "", err
	}
	personID, err := st.Seed(ctx, stack.Person{PrisonNumber: "H7788JK", Name: "Jordan Lee", Card: supervisedCard, Numbers: []string{approved}, SupervisionLevel: highLevel})
	if err != nil {
		return "", err
	}
	step("rule for supervision level %q: officer card and confirm button within 60s; enrolled Officer Reyes (card %s) and Jordan Lee (%s, card %s)",
		highLevel, officerCard, personID, supervisedCard)
	if err := st.WaitPolicyApplied(ctx, 30*time.Second); err != nil {
		return "", err
	}

	step("tapping card %s and calling %s: the call waits for the officer", supervisedCard, approved)
	type outcome struct {
		res phone.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := tapAndCallCard(ctx, reader, port, supervisedCard, approved, talk)
		done <- outcome{res, err}
	}()
	state, err := st.WaitPanelPending(ctx, 30*time.Second)
	if err != nil {
		return "", err
	}
	step("officer panel: %s", state)
	if _, err := st.Panel(ctx, "tap "+officerCard); err != nil {
		return "", err
	}
	if _, err := st.Panel(ctx, "press confirm"); err != nil {
		return "", err
	}
	step("officer card %s tapped and confirm button pressed on the simulated panel", officerCard)
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if o.err != nil {
		return "", o.err
	}
	if !o.res.Answered {
		return "", fmt.Errorf("the confirmed call was not answered: %d %s", o.res.Code, o.res.Reason)
	}
	step("confirmed and answered (the port heard %v while waiting); hung up", o.res.Provisional)

	var confirmed string
	err = stack.WaitFor(ctx, 30*time.Second, "the confirmed call at central", func() error {
		calls, err := st.Calls(ctx, url.Values{"officer": {officerID}})
		if err != nil {
			return err
		}
		if len(calls) == 0 {
			return errors.New("not yet")
		}
		c := calls[0]
		confirmed = c.ID
		step("central: call %s by %s confirmed by %s (%s) with %s", c.ID, c.PersonName, c.OfficerName, c.OfficerID, c.ConfirmMethod)
		return nil
	})
	return confirmed, err
}

// tapAndCall taps the card, waits until the simulated reader has reported
// it to the appliance's driver (the chip answered InListPassiveTarget with
// the card), and dials.
func tapAndCall(ctx context.Context, reader *sim.Sim, port *phone.Port, number string, talk time.Duration) (phone.Result, error) {
	return tapAndCallCard(ctx, reader, port, cardUID, number, talk)
}

// tapAndCallCard is tapAndCall with another card.
func tapAndCallCard(ctx context.Context, reader *sim.Sim, port *phone.Port, card, number string, talk time.Duration) (phone.Result, error) {
	uid, _ := sim.ParseUID(card)
	before := reader.Stats().Targets
	if err := reader.Tap(uid, sim.DefaultHold); err != nil {
		return phone.Result{}, fmt.Errorf("tap: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for reader.Stats().Targets == before {
		if time.Now().After(deadline) {
			return phone.Result{}, errors.New("the appliance did not read the card within 10s: see kinline-appliance.log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the frame's trip from the pty to the authorizer
	res, err := port.Call(ctx, number, talk)
	if err != nil {
		return res, fmt.Errorf("call %s: %w", number, err)
	}
	return res, nil
}
