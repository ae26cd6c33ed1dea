package main

// The calls the demo places through the simulated hardware: a card tap on
// the PN532 simulator, then the simulated IAD port dialling straight from
// the handset or through the hotline IVR (PIN, menu and number as RFC 4733
// events), with the simulated family phone answering on the trunk.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/poll"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/tools/stack"
)

// hotlineNumber is the number the IAD port hotlines to (sip.hotline_number).
const hotlineNumber = "100"

// sameCardGap is how long after its previous read a card must be tapped
// again to count as a new tap: the reader driver folds reads of one card
// within 2 s into one (cardreader.Config.DedupWindow).
const sameCardGap = 2100 * time.Millisecond

// hardware is the simulated block hardware the calls use.
type hardware struct {
	st     *stack.Stack // for the appliance's log
	reader *readersim.Sim
	port   *phone.Port
	family *phone.Family
	// lastTap is when each card was last in the reader's field.
	lastTap map[string]time.Time
}

// tap taps card (waiting first if it was read less than sameCardGap ago)
// and waits until the simulated reader has reported it to the appliance's
// driver (the chip answered InListPassiveTarget with the card).
func (h *hardware) tap(ctx context.Context, card string) error {
	if last, ok := h.lastTap[card]; ok {
		if wait := sameCardGap - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	uid, err := readersim.ParseUID(card)
	if err != nil {
		return fmt.Errorf("card %s: %w", card, err)
	}
	// The appliance logs "card tap" once its authorizer has the tap.
	logged := []string{`msg="card tap"`, fmt.Sprintf("uid=%X ", uid), "known="}
	lines, err := h.st.ApplianceLogLines(logged...)
	if err != nil {
		return err
	}
	before := h.reader.Stats().Targets
	if err := h.reader.Tap(uid, readersim.DefaultHold); err != nil {
		return fmt.Errorf("tap %s: %w", card, err)
	}
	err = poll.Until(ctx, 10*time.Second, 20*time.Millisecond, func() bool { return h.reader.Stats().Targets != before })
	if errors.Is(err, poll.ErrTimeout) {
		return fmt.Errorf("the appliance did not read card %s within 10s: see kinline-appliance.log", card)
	} else if err != nil {
		return err
	}
	h.lastTap[card] = time.Now()
	// The frame's trip from the pty to the authorizer.
	if _, err := h.st.WaitApplianceLog(ctx, 10*time.Second, len(lines)+1, logged...); err != nil {
		return fmt.Errorf("the appliance read card %s but its authorizer did not take the tap: %w", card, err)
	}
	return nil
}

// call taps card and dials number straight from the handset, talking for
// talk when answered. Refusals are in the result, not errors.
func (h *hardware) call(ctx context.Context, card, number string, talk time.Duration) (phone.Result, error) {
	if err := h.tap(ctx, card); err != nil {
		return phone.Result{}, err
	}
	res, err := h.port.Call(ctx, number, talk)
	if err != nil {
		return res, fmt.Errorf("call %s: %w", number, err)
	}
	return res, nil
}

// hotlineResult is what a hotline call did.
type hotlineResult struct {
	Family phone.FamilyCall // the trunk leg, as the family phone saw it
	RTP    phone.RTPStats   // the port leg
}

// hotline taps card, picks up (the port hotlines to the appliance, which
// answers and speaks), keys the PIN, 1 for a call and the number as a
// person would, waits until the family phone has answered and pressed 1
// and their audio reaches the port, talks for talk and hangs up.
func (h *hardware) hotline(ctx context.Context, card, pin, keys string, talk time.Duration) (hotlineResult, error) {
	var out hotlineResult
	drain(h.family.Invites())
	drain(h.family.Results())
	if err := h.tap(ctx, card); err != nil {
		return out, err
	}
	c, err := h.port.Dial(ctx, hotlineNumber, nil)
	if err != nil {
		return out, fmt.Errorf("the appliance did not answer the hotline %s: %w", hotlineNumber, err)
	}
	hangup := func() {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Hangup(hctx)
	}
	defer hangup()
	if err := poll.Until(ctx, 15*time.Second, 20*time.Millisecond, func() bool { return c.Stats().Received > 10 }); err != nil {
		return out, errors.New("no prompt from the hotline after it answered: see kinline-appliance.log")
	}
	for _, k := range []string{pin + "#", "1", keys + "#"} {
		if err := c.SendDTMF(ctx, k); err != nil {
			return out, fmt.Errorf("keying %q: %w", k, err)
		}
	}
	select {
	case <-h.family.Invites():
	case <-c.RemoteHangup():
		return out, errors.New("the hotline hung up instead of calling the number: see kinline-appliance.log")
	case <-time.After(45 * time.Second):
		return out, errors.New("the hotline never called the trunk: see kinline-appliance.log")
	case <-ctx.Done():
		return out, ctx.Err()
	}
	// Bridged once the family has pressed 1: their tone reaches the port.
	before := c.Stats().Received
	if err := poll.Until(ctx, 20*time.Second, 20*time.Millisecond, func() bool { return c.Stats().Received > before+100 }); err != nil {
		return out, errors.New("no audio from the family phone after it answered the hotline call")
	}
	select {
	case <-time.After(talk):
	case <-ctx.Done():
		return out, ctx.Err()
	}
	hangup()
	out.RTP = c.Stats()
	select {
	case out.Family = <-h.family.Results():
	case <-time.After(5 * time.Second):
	}
	return out, nil
}

func drain(ch <-chan phone.FamilyCall) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// dualAuthorization places Jordan's call, which waits for the officer (the
// port hears ringing, the panel shows pending), then taps the officer's
// card and presses the confirm button on the simulated panel through its
// control socket. It returns the call's id at central, once central names
// the officer in it.
func (d *demo) dualAuthorization(ctx context.Context, number string, talk time.Duration) (string, error) {
	st, hw := d.st, d.hw
	type outcome struct {
		res phone.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := hw.call(ctx, jordan.Card, number, talk)
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
		calls, err := st.Calls(ctx, url.Values{"officer": {d.officerID}})
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
