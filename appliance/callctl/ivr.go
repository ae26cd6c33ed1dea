package callctl

// The spoken parts of a call: the called party's acceptance (press 1 to
// accept, 9 to block) before bridging, refusals spoken to the port as
// early media, and the time warnings before the hard stop.

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Reasons recorded for calls the called party did not accept.
const (
	ReasonBlocked     = "blocked by called party"
	ReasonNotAccepted = "not accepted by called party"
	ReasonHungUp      = "called party hung up before accepting"
)

// Warnings are the times before a call's limit at which both parties
// hear how long is left.
var Warnings = []struct {
	Before time.Duration
	Prompt prompts.ID
}{
	{2 * time.Minute, prompts.TwoMinutesLeft},
	{time.Minute, prompts.OneMinuteLeft},
}

// genericRefusal is spoken for a refusal whose reason has no prompt of its
// own: a plain goodbye rather than a reason that may be wrong.
const genericRefusal = prompts.Goodbye

// refusalPrompt picks the prompt for a refusal.
func refusalPrompt(auth AuthResult) prompts.ID {
	if id, ok := prompts.ForReason(auth.RefusalErr); ok {
		return id
	}
	return genericRefusal
}

// speakRefusal answers the port with 183 Session Progress and SDP and
// plays the refusal prompt to it as early media, before the caller sends
// the 403. It returns when the prompt has played, the call's context
// ended, or at once when the media cannot do it (logged).
func (c *call) speakRefusal(dlgA *sipgo.DialogServerSession, portAddr netip.AddrPort, codec sdp.Format, auth AuthResult, log logger) {
	s := c.s
	audio, err := prompts.Get(auth.Language, refusalPrompt(auth))
	if err != nil {
		log.Warn("refusal prompt unavailable", "err", err)
		return
	}
	ms, err := s.deps.Media(c.id, false)
	if err != nil {
		log.Warn("no media for the spoken refusal", "err", err)
		return
	}
	defer func() {
		if _, err := ms.Close(); err != nil {
			log.Debug("closing refusal media failed", "err", err)
		}
	}()
	if !ms.Features().Has(media.FeaturePrompts) {
		log.Warn("media session cannot play prompts: refusal not spoken")
		return
	}
	if err := ms.SetRemote(media.LegA, portAddr, codec.PT); err != nil {
		log.Warn("refusal media failed", "err", err)
		return
	}
	body := sdp.Build(sdp.Description{Addr: s.mediaAddr(ms.LocalAddr(media.LegA)), Formats: []sdp.Format{codec}, PTime: 20, SessionID: uint64(s.clk.Now().Unix())})
	if err := dlgA.Respond(sip.StatusSessionInProgress, "Session Progress", body, sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		log.Debug("183 to the port failed", "err", err)
		return
	}
	if err := ms.Play(c.ctx, media.LegA, g711.Ulaw, audio); err != nil {
		log.Debug("refusal prompt interrupted", "err", err)
	}
}

// logger is the subset of *slog.Logger the call helpers use.
type logger interface {
	Debug(string, ...any)
	Info(string, ...any)
	Warn(string, ...any)
}

// acceptOutcome is how the called party answered the acceptance prompt.
type acceptOutcome int

const (
	accepted acceptOutcome = iota
	blocked
	notAccepted // timeout
	interrupted // the call's context ended (see its cause)
	acceptFailed
)

// familyAccept plays the announcement (audio: who is calling, "this call
// is recorded" unless privileged, the options) to leg B (already answered
// and ACKed; its remote is set here from its negotiated choice, prompts
// in prompt when it is Opus) and waits for 1 or 9 within
// Config.AcceptTimeout, on the injected clock.
func (c *call) familyAccept(ms MediaSession, trunkAddr netip.AddrPort, legB sdp.Choice, prompt sdp.Format, hasPrompt bool, audio []byte, log logger) acceptOutcome {
	s := c.s
	if err := setRemote(ms, media.LegB, trunkAddr, legB.Codec); err != nil {
		log.Warn("acceptance media failed", "err", err)
		return acceptFailed
	}
	if legB.Codec.Kind() == sdp.KindOpus {
		if !hasPrompt || !ms.Features().Has(media.FeatureOpus) {
			// Nothing can be said to this leg: never bridge unaccepted.
			log.Warn("the called party's Opus leg has no G.711 format for the acceptance prompt: call not bridged")
			return acceptFailed
		}
		if err := ms.SetPromptPayloadType(media.LegB, prompt.PT); err != nil {
			log.Warn("acceptance media failed", "err", err)
			return acceptFailed
		}
	}
	if legB.HasEvent {
		ms.SetEventPayloadType(media.LegB, legB.Event.PT)
	}
	digits := ms.Digits(media.LegB)
	// Keys matter only until the party decides: then detection leaves the
	// relay path for the rest of the call.
	defer ms.StopDigits(media.LegB)
	if err := ms.Listen(media.LegB); err != nil {
		log.Warn("acceptance media failed", "err", err)
		return acceptFailed
	}

	timeout := make(chan struct{})
	var once sync.Once
	t := s.clk.AfterFunc(s.cfg.AcceptTimeout, func() { once.Do(func() { close(timeout) }) })
	defer t.Stop()

	pctx, stopPlay := context.WithCancel(c.ctx)
	played := make(chan struct{})
	go func() {
		defer close(played)
		// The announcement repeats until the party decides.
		for pctx.Err() == nil {
			if err := ms.Play(pctx, media.LegB, g711.Ulaw, audio); err != nil {
				if !errors.Is(err, context.Canceled) {
					log.Debug("acceptance prompt stopped", "err", err)
				}
				return
			}
		}
	}()
	defer func() { stopPlay(); <-played }()

	log.Info("called party answered: asking for acceptance", "timeout", s.cfg.AcceptTimeout)
	for {
		select {
		case d, ok := <-digits:
			if !ok {
				return acceptFailed
			}
			switch d.Key {
			case '1':
				log.Info("called party accepted", "source", d.Source)
				return accepted
			case '9':
				log.Info("called party blocked further calls", "source", d.Source)
				return blocked
			default:
				log.Debug("ignored key at acceptance", "key", string(d.Key))
			}
		case <-timeout:
			log.Info("called party did not accept in time")
			return notAccepted
		case <-c.ctx.Done():
			return interrupted
		}
	}
}

// reportBlocked tells Deps.OnNumberBlocked about a 9.
func (c *call) reportBlocked(auth AuthResult) {
	if f := c.s.deps.OnNumberBlocked; f != nil {
		f(wire.NumberBlocked{CallID: c.id, PersonID: auth.PersonID, PrisonNumber: auth.PrisonNumber, Terminal: c.terminal.ID, Number: c.number, At: c.s.clk.Now()})
	}
}

// scheduleLimit arms the hard stop after limit and the warnings before
// it, all on the injected clock. stop disarms them and waits for any
// warning being played.
func (c *call) scheduleLimit(ms MediaSession, limit time.Duration, lang string, log logger) (stop func()) {
	s := c.s
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	timers := []clock.Timer{s.clk.AfterFunc(limit, func() { c.stop(errMaxDuration) })}
	if ms.Features().Has(media.FeaturePrompts) {
		for _, w := range Warnings {
			if limit <= w.Before {
				continue
			}
			audio, err := prompts.Get(lang, w.Prompt)
			if err != nil {
				log.Warn("warning prompt unavailable", "err", err)
				continue
			}
			timers = append(timers, s.clk.AfterFunc(limit-w.Before, func() {
				mu.Lock()
				defer mu.Unlock()
				if stopped {
					return
				}
				wg.Go(func() {
					log.Info("time warning", "left", w.Before)
					if err := ms.Announce(c.ctx, g711.Ulaw, audio); err != nil && c.ctx.Err() == nil {
						log.Warn("time warning not played", "err", err)
					}
				})
			}))
		}
	}
	return func() {
		for _, t := range timers {
			t.Stop()
		}
		mu.Lock()
		stopped = true
		mu.Unlock()
		wg.Wait()
	}
}
