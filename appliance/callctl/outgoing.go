package callctl

// The call flow in phases. A direct-dial call reads the port's offer and
// is authorized (run); then the outgoing leg, on the direct-dial path and
// after the hotline dialogue alike, opens media, invites the trunk,
// negotiates, has the called party accept, and bridges (connect). Each
// phase returns an outcome (outcome.go): go on, or the ending that end
// applies.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/shared/wire"
)

// portMedia is what the port's INVITE offered that Kinline can use.
type portMedia struct {
	// addr is where the port receives RTP.
	addr netip.AddrPort
	// codecs are the port's G.711 formats (what prompts are played in).
	codecs []sdp.Format
	// te is the port's 8 kHz telephone-event, if it offered one.
	te *sdp.Format
	// formats is every format the port offered that Kinline carries,
	// Opus included, with its telephone-events.
	formats *sdp.Session
}

// run drives the call from the port's INVITE to its end. The outcome is
// left in c.disp / c.reason for finish.
func (c *call) run(req *sip.Request, tx sip.ServerTransaction) {
	s := c.s
	log := s.log.With("call", c.id, "terminal", c.terminal.ID, "number", c.number)
	dlgA, err := s.dialogUA(req.Transport()).ReadInvite(req, tx)
	if err != nil {
		c.end(nil, outcome{disp: wire.DispCancelled, reason: "port transaction ended: " + err.Error()}, log)
		return
	}
	c.mu.Lock()
	c.dlgA = dlgA
	c.mu.Unlock()
	tx.OnCancel(func(*sip.Request) { c.stop(errPortCancel) })
	_ = dlgA.Respond(sip.StatusTrying, "Trying", nil)

	port, o := c.readOffer(req.Body(), log)
	if o.ends() {
		c.end(dlgA, o, log)
		return
	}
	if s.isHotline(c.number) {
		c.runHotline(dlgA, port, log)
		return
	}
	auth, o := c.authorize(dlgA, port, log)
	if o.ends() {
		c.end(dlgA, o, log)
		return
	}
	c.connect(&outgoing{dlgA: dlgA, portAddr: port.addr, port: port.formats, auth: auth, log: log})
}

// readOffer is the first phase: the port's offer, usable (a codec
// Kinline carries; G.711 for the hotline) or refused with 488.
func (c *call) readOffer(body []byte, log logger) (portMedia, outcome) {
	offer, err := sdp.Parse(body)
	p := portMedia{formats: &sdp.Session{}}
	if err == nil {
		p.addr = offer.Addr
		p.formats.Addr = offer.Addr
		for _, f := range offer.Formats {
			switch {
			case f.IsG711():
				p.codecs = append(p.codecs, f)
				p.formats.Formats = append(p.formats.Formats, f)
			case f.Kind() == sdp.KindOpus:
				p.formats.Formats = append(p.formats.Formats, f)
			case f.Is("telephone-event"):
				p.formats.Formats = append(p.formats.Formats, f)
				if f.Rate == 8000 && p.te == nil {
					p.te = &f
				}
			}
		}
	}
	if err == nil {
		err = sdp.CheckOffer(p.formats)
	}
	if err == nil && c.s.isHotline(c.number) && len(p.codecs) == 0 {
		// The hotline's prompts, name capture and in-band keys are G.711.
		err = fmt.Errorf("%w: the hotline needs G.711", sdp.ErrIncompatible)
	}
	if err != nil {
		log.Warn("INVITE without usable audio offer", "err", err)
		return p, endWith(wire.DispFailed, "no usable audio offer", sip.StatusNotAcceptableHere, "Not Acceptable Here")
	}
	return p, proceed
}

// authorize is the direct-dial call's decision: the port hears ringback
// while an officer is waited for; a refusal is spoken (with
// Config.SpokenRefusals) and answered 403, or 488 when the port offered
// no G.711 to speak it in.
func (c *call) authorize(dlgA *sipgo.DialogServerSession, port portMedia, log *slog.Logger) (AuthResult, outcome) {
	s := c.s
	var ringing sync.Once
	waiting := func() {
		ringing.Do(func() {
			log.Info("authorizer waits (officer confirmation): ringback to the port")
			if err := dlgA.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
				log.Debug("180 to the port failed", "err", err)
			}
		})
	}
	auth := s.deps.Authorizer.Authorize(c.ctx, AuthRequest{CallID: c.id, Terminal: c.terminal.ID, Number: c.number, Time: c.start, Waiting: waiting})
	c.mu.Lock()
	c.auth = auth
	c.authAt = s.clk.Now()
	c.mu.Unlock()
	if c.ctx.Err() != nil {
		return auth, beforeAnswer(context.Cause(c.ctx))
	}
	if auth.Allowed {
		return auth, proceed
	}
	reason := sanitizeReason(auth.Reason, "Forbidden")
	log.Info("call refused", "reason", reason, "person", auth.PersonID)
	refused := endWith(wire.DispRefused, auth.Reason, sip.StatusForbidden, reason)
	if s.cfg.SpokenRefusals && len(port.codecs) == 0 {
		// The prompts are G.711 and the port offered none (Opus only):
		// the refusal cannot be spoken. 488 tells the port why it heard
		// nothing, the reason phrase what was refused.
		log.Warn("refusal not spoken: the port offered no G.711", "reason", reason)
		refused.status = sip.StatusNotAcceptableHere
		refused.hdrs = []sip.Header{sip.NewHeader("Warning", `305 `+warnAgent(s.cfg.PublicIP)+` "Incompatible media format: spoken refusals need PCMU or PCMA"`)}
		return auth, refused
	}
	if s.cfg.SpokenRefusals {
		c.speakRefusal(dlgA, port.addr, port.codecs[0], auth, log)
	}
	return auth, refused
}

// outgoing is the state connect's phases hand on, from the authorized
// call to the bridge.
type outgoing struct {
	dlgA     *sipgo.DialogServerSession
	portAddr netip.AddrPort
	// port holds the port's usable formats (codecs and telephone-events).
	port *sdp.Session
	auth AuthResult
	// ms is the call's media session; hot is true when the hotline
	// opened it (its port leg answered and listening).
	ms  MediaSession
	hot bool
	log *slog.Logger

	// portOffer is port less Opus when the media session has none.
	portOffer *sdp.Session
	sessID    uint64
	bodyB     []byte // the SDP offered to the trunk
	// announce waits for the called party's announcement.
	announce func() ([]byte, bool)
	dlgB     *sipgo.DialogClientSession
	ringSent atomic.Bool // a 180 or 183 was relayed to the port

	ans              *sdp.Session // the trunk's answer
	legA, legB       sdp.Choice
	events           bool
	promptA, promptB sdp.Format // G.711 prompt formats beside Opus
	hasPromptA       bool
	hasPromptB       bool

	answerAt time.Time
	// cleanups run (last first) when connect returns.
	cleanups []func()
}

// connect places an authorized call on the trunk and bridges it to the
// port: o.ms is the hotline's media session (its port leg already
// answered and listening), or nil on the direct-dial path, where connect
// opens one and answers the port when the trunk answers. Opus among the
// port's formats is offered to the trunk only when the media session
// carries it (media.FeatureOpus). The outcome is left in c.disp /
// c.reason.
func (c *call) connect(o *outgoing) {
	o.hot = o.ms != nil
	defer func() {
		for i := len(o.cleanups) - 1; i >= 0; i-- {
			o.cleanups[i]()
		}
	}()
	for _, phase := range []func(*outgoing) outcome{c.openMedia, c.inviteTrunk, c.negotiate, c.accept, c.bridge} {
		if end := phase(o); end.ends() {
			c.end(o.dlgA, end, o.log)
			return
		}
	}
	c.talk(o)
}

// openMedia opens the call's media session (the hotline's is open
// already) and decides what the port's formats offer the trunk.
func (c *call) openMedia(o *outgoing) outcome {
	if !o.hot {
		ms, err := c.s.deps.Media(c.id, o.auth.Record)
		if err != nil {
			o.log.Error("media session failed", "err", err)
			return failed(fmt.Sprintf("%v: %v", ErrMediaFailed, err))
		}
		c.mu.Lock()
		c.media = ms
		c.mu.Unlock()
		o.ms = ms
	}
	o.portOffer = &sdp.Session{Formats: append([]sdp.Format(nil), o.port.Formats...)}
	if !o.ms.Features().Has(media.FeatureOpus) {
		o.portOffer.Formats = slices.DeleteFunc(o.portOffer.Formats, func(f sdp.Format) bool { return f.Kind() == sdp.KindOpus })
	}
	return proceed
}

// inviteTrunk places the call on the trunk (both laws offered: the relay
// converts), relaying its ringing to a direct-dial port, until it
// answers, refuses, or the call stops (ring timeout, cancel, officer).
func (c *call) inviteTrunk(o *outgoing) outcome {
	s, log := c.s, o.log
	offerFormats := sdp.TrunkOffer(o.portOffer)
	if len(offerFormats) == 0 {
		log.Warn("nothing to offer the trunk: the port offered only Opus and the media session is G.711 only")
		return endWith(wire.DispFailed, "no usable audio offer", sip.StatusNotAcceptableHere, "Not Acceptable Here")
	}
	o.announce = func() ([]byte, bool) { return nil, false }
	if s.cfg.FamilyAccept {
		o.announce = c.prepareAnnouncement(o.auth, log)
	}
	o.sessID = uint64(s.clk.Now().Unix())
	o.bodyB = sdp.Build(sdp.Description{Addr: s.mediaAddr(o.ms.LocalAddr(media.LegB)), Formats: offerFormats, PTime: 20, SessionID: o.sessID})
	ring := s.clk.AfterFunc(s.cfg.RingTimeout, func() { c.stop(errRingTimeout) })
	dlgB, err := c.placeTrunk(o.bodyB, o.auth.DestinationType, func(r *sip.Response) {
		if !o.hot && (r.StatusCode == sip.StatusRinging || r.StatusCode == sip.StatusSessionInProgress) {
			o.ringSent.Store(true)
			if err := o.dlgA.Respond(r.StatusCode, sanitizeReason(r.Reason, "Ringing"), nil); err != nil {
				log.Debug("relaying provisional failed", "err", err)
			}
		}
	}, log)
	ring.Stop()
	o.dlgB = dlgB
	if err == nil && c.ctx.Err() != nil {
		// The called party answered as the call stopped (the 200 crossed
		// our CANCEL, or came before it was sent): confirm and hang up.
		log.Info("trunk answered a cancelled call: ACK and BYE")
		return beforeAnswer(context.Cause(c.ctx)).hangingUp(dlgB)
	}
	if err == nil {
		return proceed
	}
	var end outcome
	var dr *sipgo.ErrDialogResponse
	switch {
	case c.ctx.Err() != nil:
		end = beforeAnswer(context.Cause(c.ctx))
	case errors.As(err, &dr):
		end = trunkRefusal(dr.Res)
	default:
		log.Warn("trunk leg failed", "err", err)
		end = failed(fmt.Sprintf("%v: %v", ErrTrunk, err))
	}
	// A 200 may have crossed our CANCEL: confirm and hang it up.
	if dlgB != nil && dlgB.InviteResponse != nil && dlgB.InviteResponse.IsSuccess() {
		end.trunk = dlgB
	}
	return end
}

// negotiate takes the trunk's answer (ACKed whatever it holds): a codec
// for each leg, telephone-events relayed where both legs have them, and
// on an Opus leg the G.711 format prompts go in.
func (c *call) negotiate(o *outgoing) outcome {
	log := o.log
	ans, err := sdp.Parse(o.dlgB.InviteResponse.Body())
	usable := false
	if err == nil {
		if o.legA, o.legB, err = sdp.Bridge(o.portOffer, ans); err == nil {
			usable = true
		}
	}
	if err := o.dlgB.Ack(context.Background()); err != nil {
		log.Warn("ACK to trunk failed", "err", err)
	}
	if !usable {
		log.Warn("trunk answered without a usable codec", "err", err)
		return endWith(wire.DispFailed, "trunk answer without usable audio", sip.StatusNotAcceptableHere, "Not Acceptable Here").hangingUp(o.dlgB)
	}
	o.ans = ans
	// Events are relayed: each leg gets them only if the other can send them.
	o.events = o.legA.HasEvent && o.legB.HasEvent
	// On an Opus leg prompts go in the G.711 format listed beside Opus.
	o.promptA, o.hasPromptA = companionG711(o.legA, o.portOffer)
	o.promptB, o.hasPromptB = companionG711(o.legB, ans)
	return proceed
}

// accept has the called party accept the call (Config.FamilyAccept):
// the announcement, then 1 to accept or 9 to block further calls, while
// a direct-dial port hears ringback. Without prompts in the media
// session the call is bridged unaccepted (logged).
func (c *call) accept(o *outgoing) outcome {
	log := o.log
	if !c.s.cfg.FamilyAccept {
		return proceed
	}
	if !o.ms.Features().Has(media.FeaturePrompts) {
		log.Warn("media session cannot play prompts: bridging without the called party's acceptance")
		return proceed
	}
	if !o.hot && !o.ringSent.Load() {
		// The port hears ringback while the called party decides.
		if err := o.dlgA.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
			log.Debug("180 to the port failed", "err", err)
		}
	}
	audio, ok := o.announce()
	answer := acceptFailed
	if ok {
		answer = c.familyAccept(o.ms, o.ans.Addr, o.legB, o.promptB, o.hasPromptB, audio, log)
	} else if c.ctx.Err() != nil {
		answer = interrupted
	}
	switch answer {
	case accepted:
		return proceed
	case blocked:
		c.reportBlocked(o.auth)
		return notAcceptedBy(o.dlgB, ReasonBlocked)
	case notAccepted:
		return notAcceptedBy(o.dlgB, ReasonNotAccepted)
	case interrupted:
		cause := context.Cause(c.ctx)
		if cause == errTrunkBye {
			return notAcceptedBy(o.dlgB, ReasonHungUp)
		}
		return beforeAnswer(cause).hangingUp(o.dlgB)
	}
	return failed(fmt.Sprintf("%v: acceptance prompt", ErrMediaFailed)).hangingUp(o.dlgB)
}

// bridge starts the media between the legs with their negotiated codecs,
// arms the session timer, the limit and its warnings (disarmed when
// connect returns), answers a direct-dial port and reports the answered
// call.
func (c *call) bridge(o *outgoing) outcome {
	s, log := c.s, o.log
	c.mu.Lock()
	cut := c.beforeBridge
	c.mu.Unlock()
	if cut != nil {
		cut()
	}
	o.answerAt = s.clk.Now()
	if err := c.startMedia(o.ms, o.portAddr, o.ans.Addr, o.legA, o.legB, o.events); err != nil {
		log.Error("media start failed", "err", err)
		return failed(err.Error()).hangingUp(o.dlgB)
	}
	if o.ms.Features().Has(media.FeatureOpus) {
		if o.hasPromptA {
			_ = o.ms.SetPromptPayloadType(media.LegA, o.promptA.PT) // a G.711 PT: cannot fail
		}
		if o.hasPromptB {
			_ = o.ms.SetPromptPayloadType(media.LegB, o.promptB.PT)
		}
	}
	c.mu.Lock()
	c.answer = &o.answerAt
	c.mu.Unlock()
	bodyA := c.answerBodies(o)
	// The limit counts from the bridge: what is left of the calling
	// window after ringing and acceptance, not what was left when the
	// call was authorized.
	maxDur, limitedBy := c.callLimit(o.auth, o.answerAt)
	c.mu.Lock()
	c.maxDur, c.limitedBy = maxDur, limitedBy
	c.mu.Unlock()
	o.cleanups = append(o.cleanups, c.startSessionTimer(o.dlgB, o.bodyB, log))
	o.cleanups = append(o.cleanups, c.scheduleLimit(o.ms, maxDur, o.auth.Language, log))
	log.Info("call answered", "codec", o.legB.Codec.Name, "limit", maxDur, "limited_by", limitedBy)
	if o.hot {
		// The port was answered by the hotline: nothing to tell it.
	} else if err := o.dlgA.WriteResponse(sip.NewSDPResponseFromRequest(o.dlgA.InviteRequest, bodyA)); err != nil {
		// The port cancelled as the answer crossed, or never ACKed.
		log.Warn("answering the port failed", "err", err)
		return portUnconfirmed(context.Cause(c.ctx)).hangingUp(o.dlgB)
	}
	if s.deps.OnCallAnswered != nil {
		c.reportAnswered(o, maxDur, limitedBy)
	}
	return proceed
}

// answerBodies builds the SDP answered to the port (returned; kept for
// its re-INVITEs on the direct-dial path) and the trunk leg's, kept for
// its re-INVITEs.
func (c *call) answerBodies(o *outgoing) []byte {
	s := c.s
	answerFormats := []sdp.Format{o.legA.Codec}
	if o.hasPromptA {
		answerFormats = append(answerFormats, o.promptA)
	}
	if o.events {
		answerFormats = append(answerFormats, o.legA.Event)
	}
	bodyA := sdp.Build(sdp.Description{Addr: s.mediaAddr(o.ms.LocalAddr(media.LegA)), Formats: answerFormats, PTime: 20, SessionID: o.sessID})
	formatsB := o.legB.Formats()
	if o.hasPromptB {
		formatsB = append([]sdp.Format{o.legB.Codec, o.promptB}, formatsB[1:]...)
	}
	c.mu.Lock()
	if !o.hot {
		c.bodyA = bodyA
	}
	c.bodyB = sdp.Build(sdp.Description{Addr: s.mediaAddr(o.ms.LocalAddr(media.LegB)), Formats: formatsB, PTime: 20, SessionID: o.sessID})
	c.mu.Unlock()
	return bodyA
}

// reportAnswered tells Deps.OnCallAnswered: both legs are confirmed, so
// what ends them after a crash is known.
func (c *call) reportAnswered(o *outgoing, maxDur time.Duration, limitedBy string) {
	trunk, err := dialogOf(o.dlgB)
	if err != nil {
		o.log.Warn("trunk dialog not captured: a crash during this call could not end it", "err", err)
	}
	port, err := portDialogOf(o.dlgA)
	if err != nil {
		o.log.Warn("port dialog not captured: a crash during this call could not end it", "err", err)
	}
	c.s.deps.OnCallAnswered(AnsweredCall{CallID: c.id, Answer: o.answerAt, Trunk: trunk, Port: port, MaxDuration: maxDur, LimitedBy: limitedBy})
}

// talk is the bridged call: it waits for the call to stop, hangs up the
// legs that did not hang up themselves and sets the disposition.
func (c *call) talk(o *outgoing) {
	<-c.ctx.Done()
	cause := context.Cause(c.ctx)
	var wg sync.WaitGroup
	if cause != errPortBye {
		wg.Go(func() { c.hangupPort(o.dlgA, o.log) })
	}
	if cause != errTrunkBye {
		wg.Go(func() { c.hangupTrunk(o.dlgB, o.log) })
	}
	wg.Wait()
	switch cause {
	case errPortBye, errTrunkBye, errSessionExpired:
		c.setEnd(wire.DispCompleted, cause.Error())
	case errMaxDuration:
		c.setEnd(wire.DispLimited, cause.Error())
	default:
		c.setEnd(wire.DispEnded, cause.Error())
	}
	o.log.Info("call ended", "cause", cause)
}
