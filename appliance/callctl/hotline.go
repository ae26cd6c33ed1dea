package callctl

// The hotline IVR: an IAD port that hotlines to the appliance on pick-up
// dials Config.HotlineNumber; call control answers it itself and talks
// to the person (card tap, PIN, menu, balance, number) before it
// authorizes and places the trunk call, which connect then bridges to the
// already-answered port leg. Every ending after the answer is spoken
// (refusal reason, busy, no answer, rejected, failed), then "goodbye" and
// BYE.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Limits of the hotline dialogue.
const (
	// PINTries is how many PINs a caller may enter per call.
	PINTries = 3
	// MenuTries is how often the menu (and the number prompt) is offered
	// without a usable answer before the hotline says goodbye.
	MenuTries = 3
	// maxPINLen and maxNumberLen bound an entry's keys.
	maxPINLen    = 12
	maxNumberLen = 24
	// tapPoll is how often the hotline asks Hotline.Caller while it waits
	// for a card tap (injected clock).
	tapPoll = 250 * time.Millisecond
	// speakTimeout bounds an ending's prompts once the call's context has
	// ended (network and audio time, not call time).
	speakTimeout = 30 * time.Second
)

// ErrRecordUnsupported: the hotline's media session, opened before the
// number (and so the need to record) was known, cannot turn recording on.
var ErrRecordUnsupported = errors.New("callctl: media session cannot start recording after the IVR")

func (s *Server) isHotline(number string) bool {
	return s.deps.Hotline != nil && s.cfg.HotlineNumber != "" && number == s.cfg.HotlineNumber
}

// hotlineIVR is one hotline dialogue with the person on the port leg.
type hotlineIVR struct {
	c      *call
	ivr    MediaSession
	digits <-chan media.Digit
	log    *slog.Logger

	mu   sync.Mutex
	lang string

	pending []rune // keys typed ahead, not read yet
	endOnce sync.Once

	// What the dialogue learnt, phase by phase: who calls, the number as
	// keyed, the authorizer's decision on it.
	caller Caller
	number string
	auth   AuthResult
}

func (h *hotlineIVR) language() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lang
}

// errMediaGone: the digit channel closed (the session closed).
var errMediaGone = errors.New("media session closed")

// prompt plays ids to the person; a key stops it (barge-in) and is kept
// for the next read, and keys typed ahead skip it altogether.
func (h *hotlineIVR) prompt(ids ...prompts.ID) error {
	if len(h.pending) > 0 {
		return nil
	}
	return h.play(true, ids...)
}

// inform plays ids to the end; keys pressed meanwhile are kept.
func (h *hotlineIVR) inform(ids ...prompts.ID) error { return h.play(false, ids...) }

func (h *hotlineIVR) play(bargeIn bool, ids ...prompts.ID) error {
	audio, err := prompts.Sequence(h.language(), ids...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMediaFailed, err)
	}
	return h.playAudio(bargeIn, audio)
}

// playAudio is play for audio already assembled (8 kHz µ-law).
func (h *hotlineIVR) playAudio(bargeIn bool, audio []byte) error {
	c := h.c
	pctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.ivr.Play(pctx, media.LegA, g711.Ulaw, audio) }()
	digits := h.digits
	for {
		select {
		case err := <-done:
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%w: %w", ErrMediaFailed, err)
			}
			return nil
		case d, ok := <-digits:
			if !ok {
				digits = nil
				cancel()
				continue
			}
			h.pending = append(h.pending, d.Key)
			if bargeIn {
				cancel()
			}
		}
	}
}

// key returns the next key, or ok false when none came within timeout
// (injected clock).
func (h *hotlineIVR) key(timeout time.Duration) (rune, bool, error) {
	if len(h.pending) > 0 {
		k := h.pending[0]
		h.pending = h.pending[1:]
		return k, true, nil
	}
	c := h.c
	t := c.s.clk.After(timeout)
	select {
	case d, ok := <-h.digits:
		if !ok {
			return 0, false, errMediaGone
		}
		return d.Key, true, nil
	case <-t:
		return 0, false, nil
	case <-c.ctx.Done():
		return 0, false, c.ctx.Err()
	}
}

// entry reads keys up to '#' (not included), until max digits, or until
// DigitTimeout passes without a key. '*' starts the entry again; other
// keys than digits are ignored.
func (h *hotlineIVR) entry(max int) (string, error) {
	var b []byte
	for {
		k, ok, err := h.key(h.c.s.cfg.DigitTimeout)
		switch {
		case err != nil:
			return "", err
		case !ok, k == '#':
			return string(b), nil
		case k == '*':
			b = b[:0]
		case k >= '0' && k <= '9':
			b = append(b, byte(k))
			if len(b) >= max {
				return string(b), nil
			}
		}
	}
}

// runHotline answers the port, runs the dialogue and, when the call is
// authorized, hands over to connect.
func (c *call) runHotline(dlgA *sipgo.DialogServerSession, port portMedia, log *slog.Logger) {
	h, o := c.openHotline(port, log)
	if !o.ends() {
		o = c.answerHotline(dlgA, h, port)
	}
	if !o.ends() {
		o = h.dialogue()
	}
	if o.ends() {
		c.end(dlgA, o, log)
		return
	}
	// The trunk is asked for the number the policy matched: the keys
	// normalized (policy.NormalizeNumber: "00" becomes "+"), not the
	// keys as pressed. The read-back says the keys as pressed.
	keyed, number := h.number, h.number
	if n := policy.NormalizeNumber(keyed); n != "" {
		number = n
	}
	c.mu.Lock()
	c.number = number
	c.mu.Unlock()
	// The logger names the hotline's own number already (number=): the
	// number the person keyed in is "dialled", as keyed and normalised.
	log = log.With("dialled", keyed, "dialled_normalized", number)
	if h.auth.Record {
		if err := h.ivr.SetRecord(true); err != nil {
			log.Error("recorded call not placed: recording cannot be turned on", "err", err)
			c.end(dlgA, failed(fmt.Sprintf("%v: %v", ErrMediaFailed, err)), log)
			return
		}
	}
	// The number read back and, when the call is limited, the minutes it
	// may last, played while the trunk call is placed: the called party's
	// phone rings during the read-back, not 10 s after the last key, and
	// the read-back is cut if the call is bridged before it ends.
	cut := h.playWhilePlacing(h.confirmation(h.auth, keyed))
	defer cut()
	c.mu.Lock()
	c.beforeBridge = cut
	c.mu.Unlock()
	// Keys are no longer needed on the port leg: detection leaves the
	// relay path for the call.
	h.ivr.StopDigits(media.LegA)
	formats := &sdp.Session{Formats: []sdp.Format{port.codecs[0]}}
	if port.te != nil {
		formats.Formats = append(formats.Formats, *port.te)
	}
	c.connect(&outgoing{dlgA: dlgA, portAddr: port.addr, port: formats, auth: h.auth, ms: h.ivr, log: log})
}

// openHotline opens the hotline's media session, unrecorded (nobody
// knows yet whether the number will be privileged), its port leg
// listening in the port's first G.711 codec.
func (c *call) openHotline(port portMedia, log *slog.Logger) (*hotlineIVR, outcome) {
	ms, err := c.s.deps.Media(c.id, false)
	if err != nil {
		log.Error("media session failed", "err", err)
		return nil, failed(fmt.Sprintf("%v: %v", ErrMediaFailed, err))
	}
	c.mu.Lock()
	c.media = ms
	c.mu.Unlock()
	if !ms.Features().Has(media.FeaturePrompts) {
		log.Error("media session cannot play prompts: hotline refused")
		return nil, failed(fmt.Sprintf("%v: no IVR support", ErrMediaFailed))
	}
	if err := ms.SetRemote(media.LegA, port.addr, port.codecs[0].PT); err != nil {
		log.Error("hotline media failed", "err", err)
		return nil, failed(fmt.Sprintf("%v: %v", ErrMediaFailed, err))
	}
	if port.te != nil {
		// Without a negotiated telephone-event the port's keys are found
		// in the G.711 audio (media's in-band detector) or come by INFO.
		ms.SetEventPayloadType(media.LegA, port.te.PT)
	}
	h := &hotlineIVR{c: c, ivr: ms, digits: ms.Digits(media.LegA), log: log}
	if err := ms.Listen(media.LegA); err != nil {
		log.Error("hotline media failed", "err", err)
		return nil, failed(fmt.Sprintf("%v: %v", ErrMediaFailed, err))
	}
	return h, proceed
}

// answerHotline answers the port with the hotline's media; from then on
// every ending is spoken (hotlineIVR.end).
func (c *call) answerHotline(dlgA *sipgo.DialogServerSession, h *hotlineIVR, port portMedia) outcome {
	s := c.s
	formats := []sdp.Format{port.codecs[0]}
	if port.te != nil {
		formats = append(formats, *port.te)
	}
	body := sdp.Build(sdp.Description{Addr: s.mediaAddr(h.ivr.LocalAddr(media.LegA)), Formats: formats, PTime: 20, SessionID: uint64(s.clk.Now().Unix())})
	c.mu.Lock()
	c.bodyA = body
	c.mu.Unlock()
	if err := dlgA.WriteResponse(sip.NewSDPResponseFromRequest(dlgA.InviteRequest, body)); err != nil {
		h.log.Warn("answering the port failed", "err", err)
		return portUnconfirmed(context.Cause(c.ctx))
	}
	c.mu.Lock()
	c.hot = h
	c.mu.Unlock()
	h.log.Info("hotline answered")
	return proceed
}

// playWhilePlacing starts playing ids to the person and returns at once;
// the returned func stops the playback (if still playing) and waits for it.
func (h *hotlineIVR) playWhilePlacing(ids []prompts.ID) (cut func()) {
	audio, err := prompts.Sequence(h.language(), ids...)
	if err != nil {
		h.log.Warn("hotline: confirmation prompts unavailable", "err", err)
		return func() {}
	}
	ctx, cancel := context.WithCancel(h.c.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.ivr.Play(ctx, media.LegA, g711.Ulaw, audio); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Info("hotline: confirmation not heard", "err", err)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// dialogue runs the IVR in phases up to an authorized number (h.number,
// h.auth), or to how the call ends.
func (h *hotlineIVR) dialogue() outcome {
	for _, phase := range []func() outcome{h.awaitTap, h.checkPIN, h.menu, h.enterNumber, h.authorize} {
		if o := phase(); o.ends() {
			return o
		}
	}
	return proceed
}

// stopped is the ending of a dialogue that err interrupted: the media
// failed, or the call stopped.
func (h *hotlineIVR) stopped(err error) outcome {
	if errors.Is(err, errMediaGone) || errors.Is(err, ErrMediaFailed) {
		h.log.Warn("hotline media failed", "err", err)
		return failed(err.Error())
	}
	return beforeAnswer(context.Cause(h.c.ctx))
}

// refuse is the ending of a dialogue the policy refused (err) for
// caller: the refusal's prompt is spoken.
func (h *hotlineIVR) refuse(err error, caller Caller) outcome {
	c := h.c
	c.mu.Lock()
	c.auth = AuthResult{Reason: err.Error(), RefusalErr: err, PersonID: caller.PersonID, Language: caller.Language}
	c.mu.Unlock()
	h.log.Info("hotline refused", "reason", err)
	return endWith(wire.DispRefused, err.Error(), sip.StatusForbidden, err.Error())
}

// giveUp is the ending of a dialogue without a usable answer.
func (h *hotlineIVR) giveUp(why string) outcome {
	h.log.Info("hotline: no usable answer", "why", why)
	return endWith(wire.DispCancelled, why, sip.StatusRequestTerminated, why)
}

// awaitTap finds who is calling: a valid card tap on this terminal,
// asked for and waited for (Config.TapTimeout) when there is none yet.
func (h *hotlineIVR) awaitTap() outcome {
	c := h.c
	s := c.s
	caller, tapped := s.deps.Hotline.Caller(c.terminal.ID, c.id)
	if !tapped {
		if err := h.inform(prompts.TapCard); err != nil {
			return h.stopped(err)
		}
		deadline := s.clk.Now().Add(s.cfg.TapTimeout)
		for !tapped {
			if !s.clk.Now().Before(deadline) {
				return h.refuse(policy.ErrNoTap, Caller{})
			}
			select {
			case <-s.clk.After(min(tapPoll, deadline.Sub(s.clk.Now()))):
			case <-c.ctx.Done():
				return h.stopped(c.ctx.Err())
			}
			caller, tapped = s.deps.Hotline.Caller(c.terminal.ID, c.id)
		}
	}
	h.caller = caller
	h.mu.Lock()
	h.lang = caller.Language
	h.mu.Unlock()
	c.mu.Lock()
	c.auth.PersonID, c.auth.Language = caller.PersonID, caller.Language
	c.mu.Unlock()
	h.log.Info("hotline caller", "person", caller.PersonID, "pin", caller.NeedsPIN, "language", caller.Language)
	return proceed
}

// checkPIN asks for the caller's PIN, when they have one, up to PINTries
// times.
func (h *hotlineIVR) checkPIN() outcome {
	c := h.c
	if !h.caller.NeedsPIN {
		return proceed
	}
	for try := 1; ; try++ {
		if err := h.prompt(prompts.EnterPIN); err != nil {
			return h.stopped(err)
		}
		pin, err := h.entry(maxPINLen)
		if err != nil {
			return h.stopped(err)
		}
		err = c.s.deps.Hotline.VerifyPIN(c.terminal.ID, c.id, pin)
		if err == nil {
			return proceed
		}
		h.log.Info("PIN not accepted", "try", try, "err", err)
		switch {
		case errors.Is(err, policy.ErrPINLocked):
			return h.refuse(fmt.Errorf("%w", policy.ErrPINLocked), h.caller)
		case errors.Is(err, policy.ErrNoTap):
			return h.refuse(policy.ErrNoTap, h.caller)
		}
		if try >= PINTries {
			return h.refuse(policy.ErrBadPIN, h.caller)
		}
		if err := h.inform(prompts.WrongPIN); err != nil {
			return h.stopped(err)
		}
	}
}

// menu offers 1 to make a call, 2 for the balance and calls left, 3
// (where names can be kept) to record the name the called party hears,
// up to MenuTries times without a usable answer.
func (h *hotlineIVR) menu() outcome {
	menu := []prompts.ID{prompts.Menu}
	names := h.canRecordName() && h.caller.PersonID != ""
	if names {
		menu = append(menu, prompts.MenuRecordName)
	}
	for tries := 0; ; {
		if tries >= MenuTries {
			return h.giveUp("no choice at the menu")
		}
		if err := h.prompt(menu...); err != nil {
			return h.stopped(err)
		}
		k, ok, err := h.key(h.c.s.cfg.DigitTimeout)
		if err != nil {
			return h.stopped(err)
		}
		if k == '1' {
			return proceed
		}
		if k == '2' {
			if err := h.balance(h.caller); err != nil {
				return h.stopped(err)
			}
			continue
		}
		if k == '3' && names {
			if err := h.recordName(h.caller); err != nil {
				return h.stopped(err)
			}
			continue
		}
		tries++
		if ok {
			if err := h.inform(prompts.TryAgain); err != nil {
				return h.stopped(err)
			}
		}
	}
}

// enterNumber asks for the number, up to MenuTries times without a
// valid one.
func (h *hotlineIVR) enterNumber() outcome {
	c := h.c
	for tries := 0; ; {
		if tries >= MenuTries {
			return h.giveUp("no number entered")
		}
		if err := h.prompt(prompts.EnterNumber); err != nil {
			return h.stopped(err)
		}
		n, err := h.entry(maxNumberLen)
		if err != nil {
			return h.stopped(err)
		}
		if validNumber(n) {
			h.number = n
			break
		}
		tries++
		if err := h.inform(prompts.TryAgain); err != nil {
			return h.stopped(err)
		}
	}
	c.mu.Lock()
	c.number = h.number
	c.mu.Unlock()
	h.log.Info("hotline number entered", "dialled", h.number) // number= is the hotline's
	return proceed
}

// authorize asks the authorizer about the number, the person hearing
// "wait for the officer" while an officer is waited for.
func (h *hotlineIVR) authorize() outcome {
	c := h.c
	s := c.s
	var waitOnce sync.Once
	var waitWG sync.WaitGroup
	waiting := func() {
		waitOnce.Do(func() {
			audio, err := prompts.Get(h.language(), prompts.WaitOfficer)
			if err != nil {
				return
			}
			waitWG.Go(func() {
				if err := h.ivr.Play(c.ctx, media.LegA, g711.Ulaw, audio); err != nil {
					h.log.Debug("wait-for-officer prompt stopped", "err", err)
				}
			})
		})
	}
	auth := s.deps.Authorizer.Authorize(c.ctx, AuthRequest{CallID: c.id, Terminal: c.terminal.ID, Number: h.number, Time: s.clk.Now(), Waiting: waiting})
	c.mu.Lock()
	c.authAt = s.clk.Now()
	c.mu.Unlock()
	waitWG.Wait()
	if auth.Language == "" {
		auth.Language = h.caller.Language
	}
	if auth.PersonID == "" {
		auth.PersonID = h.caller.PersonID
	}
	c.mu.Lock()
	c.auth = auth
	c.mu.Unlock()
	h.mu.Lock()
	h.lang = auth.Language
	h.mu.Unlock()
	if c.ctx.Err() != nil {
		return h.stopped(c.ctx.Err())
	}
	if !auth.Allowed {
		h.log.Info("call refused", "reason", auth.Reason, "person", auth.PersonID)
		return endWith(wire.DispRefused, auth.Reason, sip.StatusForbidden, auth.Reason)
	}
	h.auth = auth
	return proceed
}

// confirmation is what the person hears before the trunk call is placed:
// "calling" and the number digit by digit, then, when the call is
// limited (rule, balance or window), "you have N minutes".
func (h *hotlineIVR) confirmation(auth AuthResult, number string) []prompts.ID {
	ids := []prompts.ID{prompts.Calling}
	for _, r := range number {
		if d, err := prompts.DigitIDs(string(r)); err == nil {
			ids = append(ids, d...)
		}
	}
	c := h.c
	if d, _ := c.callLimit(auth, c.s.clk.Now()); c.limited(d) {
		ids = append(ids, prompts.MinutesIDs(d)...)
	}
	return ids
}

// balance tells the person's balance (when calls are charged) and the
// calls left today, this week and this month.
func (h *hotlineIVR) balance(caller Caller) error {
	acct, err := h.c.s.deps.Hotline.Account(caller.PersonID)
	if err != nil {
		h.log.Warn("account unavailable", "person", caller.PersonID, "err", err)
		return h.inform(prompts.TryAgain)
	}
	return h.play(true, AccountPrompts(acct)...)
}

// AccountPrompts is what the balance menu says for acct: "your balance
// is" and the amount (when calls are charged), then the calls left today,
// this week and this month, each a number or "no limit".
func AccountPrompts(acct Account) []prompts.ID {
	var ids []prompts.ID
	if acct.Rated {
		ids = append(ids, prompts.BalanceIs)
		ids = append(ids, prompts.MoneyIDs(acct.Balance, acct.Digits)...)
	}
	for _, p := range []struct {
		id prompts.ID
		n  int
	}{{prompts.CallsLeft, acct.CallsLeftDay}, {prompts.CallsLeftWeek, acct.CallsLeftWeek}, {prompts.CallsLeftMonth, acct.CallsLeftMonth}} {
		ids = append(ids, p.id)
		if p.n < 0 {
			ids = append(ids, prompts.NoLimit)
			continue
		}
		d, _ := prompts.DigitIDs(strconv.Itoa(p.n))
		ids = append(ids, d...)
	}
	return ids
}

// DispositionPrompt is what the hotline says when a call ends with the
// final status code it would have sent the port on the direct-dial path:
// busy (486, 600), no answer (408, 480), rejected (603), failed (other
// 4xx-6xx); the officer or central ending it (487) and refusals (403,
// spoken by their reason) have none of their own.
func DispositionPrompt(code int) (prompts.ID, bool) {
	switch code {
	case sip.StatusBusyHere, sip.StatusGlobalBusyEverywhere:
		return prompts.CallBusy, true
	case sip.StatusRequestTimeout, sip.StatusTemporarilyUnavailable:
		return prompts.CallNoAnswer, true
	case sip.StatusGlobalDecline:
		return prompts.CallRejected, true
	case sip.StatusForbidden, sip.StatusRequestTerminated:
		return "", false
	}
	return prompts.CallFailed, true
}

// end speaks why the call ends (for code, see DispositionPrompt; 403
// speaks the refusal's reason), then "goodbye", and hangs up the port.
// Nothing is spoken when the port has hung up or the appliance is
// shutting down. It runs once per call.
func (h *hotlineIVR) end(dlgA *sipgo.DialogServerSession, code int) {
	h.endOnce.Do(func() {
		c := h.c
		c.mu.Lock()
		auth := c.auth
		c.mu.Unlock()
		var ids []prompts.ID
		if code == sip.StatusForbidden {
			if id := refusalPrompt(auth); id != prompts.Goodbye {
				ids = append(ids, id)
			}
		} else if id, ok := DispositionPrompt(code); ok {
			ids = append(ids, id)
		}
		ids = append(ids, prompts.Goodbye)
		select {
		case <-c.portGone:
			return
		default:
		}
		if cause := context.Cause(c.ctx); cause != errShutdown {
			if audio, err := prompts.Sequence(h.language(), ids...); err != nil {
				h.log.Warn("ending prompt unavailable", "err", err)
			} else {
				// Independent of the call's context, which may have ended
				// already (ring timeout): only the port hanging up
				// silences the rest.
				ctx, cancel := context.WithTimeout(context.Background(), speakTimeout)
				go func() {
					select {
					case <-c.portGone:
						cancel()
					case <-ctx.Done():
					}
				}()
				h.log.Info("hotline ending spoken", "code", code, "prompts", len(ids))
				if err := h.ivr.Play(ctx, media.LegA, g711.Ulaw, audio); err != nil {
					h.log.Debug("ending prompt stopped", "err", err)
				}
				cancel()
			}
		}
		select {
		case <-c.portGone:
			return
		default:
		}
		c.hangupPort(dlgA, h.log)
	})
}
