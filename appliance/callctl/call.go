package callctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/shared/wire"
)

// Why a call stops (context causes).
var (
	errPortCancel  = errors.New("caller cancelled")
	errPortBye     = errors.New("caller hung up")
	errTrunkBye    = errors.New("called party hung up")
	errEnded       = errors.New("ended by officer or central")
	errShutdown    = errors.New("appliance shutting down")
	errRingTimeout = errors.New("no answer")
	errMaxDuration = errors.New("maximum call duration reached")
)

// byeTimeout bounds each BYE at teardown (network time, not call time).
const byeTimeout = 5 * time.Second

// call is one B2BUA call: leg A (the port, UAS side) and leg B (the trunk,
// UAC side).
type call struct {
	s        *Server
	id       string // Kinline call id, also the trunk leg's SIP Call-ID
	portCID  string // the port leg's SIP Call-ID
	terminal Terminal
	number   string
	start    time.Time
	ctx      context.Context
	stop     func(cause error)
	done     chan struct{}
	txA      sip.ServerTransaction // the port's INVITE transaction
	// portGone is closed when the port hangs up (BYE), whatever else
	// ended the call first: prompts still owed to the port stop at once.
	portGone chan struct{}
	goneOnce sync.Once

	mu     sync.Mutex
	dlgA   *sipgo.DialogServerSession
	dlgB   *sipgo.DialogClientSession
	answer *time.Time
	auth   AuthResult
	media  MediaSession
	bodyA  []byte // SDP answered to the port, once answered
	bodyB  []byte // SDP answer for the trunk leg's re-INVITEs, once answered
	disp   string
	reason string
	// hot is the hotline IVR once it has answered the port (nil on the
	// direct-dial path): endings are then spoken and the port hung up
	// instead of answered with a final status.
	hot *hotlineIVR
	// maxDur is the limit an answered call ran under, limitedBy what set
	// it (wire.Limit*).
	maxDur    time.Duration
	limitedBy string
	// authAt is when the authorizer decided.
	authAt time.Time
	// beforeBridge, when set, runs just before the legs are bridged (the
	// hotline's read-back, still playing to the port, is cut there).
	beforeBridge func()
	// leg is the trunk the call is on, or was last tried on (trunkleg.go).
	leg trunkLeg
}

func (c *call) portDialog() *sipgo.DialogServerSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlgA
}

func (c *call) trunkDialog() *sipgo.DialogClientSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlgB
}

func (c *call) snapshot() ActiveCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ActiveCall{CallID: c.id, Terminal: c.terminal.ID, Number: c.number, PersonID: c.auth.PersonID, Start: c.start, Answer: c.answer}
}

func (c *call) setEnd(disp, reason string) {
	c.mu.Lock()
	c.disp, c.reason = disp, reason
	c.mu.Unlock()
}

// validNumber accepts what may stand in a Request-URI user part we forward.
func validNumber(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for i := 0; i < len(n); i++ {
		ch := n[i]
		if (ch < '0' || ch > '9') && ch != '*' && ch != '#' && !(ch == '+' && i == 0) {
			return false
		}
	}
	return true
}

// sanitizeReason makes text safe as a SIP reason phrase.
func sanitizeReason(s, def string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		return def
	}
	return s
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !wellFormed(req) || req.Contact() == nil {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	if req.To().Params.Has("tag") {
		s.onReInvite(req, tx)
		return
	}
	term, ok := s.authenticate(req, tx, "Proxy-Authorization", "Proxy-Authenticate", sip.StatusProxyAuthRequired, "Proxy Authentication Required")
	if !ok {
		return
	}
	number := req.Recipient.User
	if !validNumber(number) {
		s.log.Info("INVITE with invalid number", "terminal", term.ID, "number", truncate(number))
		s.respond(req, tx, sip.StatusAddressIncomplete, "Address Incomplete")
		return
	}
	release, ok := s.admit(req, tx, term)
	if !ok {
		return
	}
	defer release() // after the call's record (deferred below)

	ctx, cancel := context.WithCancelCause(context.Background())
	c := &call{
		s:        s,
		id:       uuid.NewString(),
		portCID:  req.CallID().Value(),
		terminal: term,
		number:   number,
		start:    s.clk.Now(),
		ctx:      ctx,
		stop:     cancel,
		done:     make(chan struct{}),
		txA:      tx,
		portGone: make(chan struct{}),
		disp:     wire.DispFailed,
		reason:   "internal error",
	}
	s.mu.Lock()
	if s.runCtx == nil || s.runCtx.Err() != nil {
		s.mu.Unlock()
		cancel(nil)
		s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	if s.byPortID[c.portCID] != nil {
		s.mu.Unlock()
		cancel(nil)
		s.respond(req, tx, sip.StatusLoopDetected, "Loop Detected")
		return
	}
	s.calls[c.id] = c
	s.byPortID[c.portCID] = c
	s.byTrunk[c.id] = c
	s.wg.Add(1)
	s.mu.Unlock()

	defer s.wg.Done()
	defer c.finish()
	c.run(req, tx)
}

// onReInvite answers an in-dialog INVITE (hold, session refresh) from
// either leg with the session already negotiated on that leg: the anchored
// media stays as it is. Only the direction follows the offer (RFC 3264
// section 6.1: hold, a=sendonly, is answered a=recvonly; a=inactive
// inactive), with a new o= version whenever the answer changes (section
// 8), and while that leg holds nothing is relayed to it (SetHold).
// An offer that does not parse is refused with 488.
func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c, port := s.lookup(req)
	if c == nil {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	var dir string
	if len(req.Body()) > 0 {
		offer, err := sdp.Parse(req.Body())
		if err != nil {
			s.log.Info("re-INVITE with an unusable offer", "call", c.id, "error", err)
			s.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		dir = sdp.AnswerDirection(offer.Direction)
	}
	c.mu.Lock()
	stored := &c.bodyB
	if port {
		stored = &c.bodyA
	}
	body := *stored
	if body != nil && dir != "" {
		var changed bool
		if body, changed = sdp.Redirect(body, dir); changed {
			*stored = body
		}
	}
	ms := c.media
	c.mu.Unlock()
	if ms != nil && body != nil && dir != "" {
		leg := media.LegB
		if port {
			leg = media.LegA
		}
		ms.SetHold(leg, holding(dir))
	}
	if body == nil {
		s.respond(req, tx, sip.StatusRequestPending, "Request Pending")
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&s.dialogUA(req.Transport()).ContactHDR)
	echoSessionTimer(req, res)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("re-INVITE respond failed", "call", c.id, "error", err)
	}
}

// run drives the call from the port's INVITE to its end. The outcome is
// left in c.disp / c.reason for finish.
func (c *call) run(req *sip.Request, tx sip.ServerTransaction) {
	s := c.s
	log := s.log.With("call", c.id, "terminal", c.terminal.ID, "number", c.number)
	dlgA, err := s.dialogUA(req.Transport()).ReadInvite(req, tx)
	if err != nil {
		c.setEnd(wire.DispCancelled, "port transaction ended: "+err.Error())
		return
	}
	c.mu.Lock()
	c.dlgA = dlgA
	c.mu.Unlock()
	tx.OnCancel(func(*sip.Request) { c.stop(errPortCancel) })
	_ = dlgA.Respond(sip.StatusTrying, "Trying", nil)

	offer, err := sdp.Parse(req.Body())
	// codecs are the port's G.711 formats (what prompts are played in),
	// port every format it offered that Kinline carries, Opus included,
	// with its telephone-events.
	var codecs []sdp.Format
	var te *sdp.Format
	port := &sdp.Session{}
	if err == nil {
		port.Addr = offer.Addr
		for _, f := range offer.Formats {
			switch {
			case f.IsG711():
				codecs = append(codecs, f)
				port.Formats = append(port.Formats, f)
			case f.Kind() == sdp.KindOpus:
				port.Formats = append(port.Formats, f)
			case f.Is("telephone-event"):
				port.Formats = append(port.Formats, f)
				if f.Rate == 8000 && te == nil {
					te = &f
				}
			}
		}
	}
	hotline := s.isHotline(c.number)
	if err == nil {
		err = sdp.CheckOffer(port)
	}
	if err == nil && hotline && len(codecs) == 0 {
		// The hotline's prompts, name capture and in-band keys are G.711.
		err = fmt.Errorf("%w: the hotline needs G.711", sdp.ErrIncompatible)
	}
	if err != nil {
		log.Warn("INVITE without usable audio offer", "error", err)
		c.reject(dlgA, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		c.setEnd(wire.DispFailed, "no usable audio offer")
		return
	}
	if hotline {
		c.runHotline(dlgA, offer.Addr, codecs, te, log)
		return
	}

	var ringing sync.Once
	waiting := func() {
		ringing.Do(func() {
			log.Info("authorizer waits (officer confirmation): ringback to the port")
			if err := dlgA.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
				log.Debug("180 to the port failed", "error", err)
			}
		})
	}
	auth := s.deps.Authorizer.Authorize(c.ctx, AuthRequest{CallID: c.id, Terminal: c.terminal.ID, Number: c.number, Time: c.start, Waiting: waiting})
	c.mu.Lock()
	c.auth = auth
	c.authAt = s.clk.Now()
	c.mu.Unlock()
	if c.ctx.Err() != nil {
		c.endBeforeAnswer(dlgA, context.Cause(c.ctx), log)
		return
	}
	if !auth.Allowed {
		reason := sanitizeReason(auth.Reason, "Forbidden")
		log.Info("call refused", "reason", reason, "person", auth.PersonID)
		if s.cfg.SpokenRefusals && len(codecs) == 0 {
			// The prompts are G.711 and the port offered none (Opus
			// only): the refusal cannot be spoken. 488 tells the port
			// why it heard nothing, the reason phrase what was refused.
			log.Warn("refusal not spoken: the port offered no G.711", "reason", reason)
			c.reject(dlgA, sip.StatusNotAcceptableHere, reason,
				sip.NewHeader("Warning", `305 `+warnAgent(s.cfg.PublicIP)+` "Incompatible media format: spoken refusals need PCMU or PCMA"`))
			c.setEnd(wire.DispRefused, auth.Reason)
			return
		}
		if s.cfg.SpokenRefusals {
			c.speakRefusal(dlgA, offer.Addr, codecs[0], auth, log)
		}
		c.reject(dlgA, sip.StatusForbidden, reason)
		c.setEnd(wire.DispRefused, auth.Reason)
		return
	}
	c.connect(dlgA, offer.Addr, port, auth, nil, log)
}

// connect places an authorized call on the trunk and bridges it to the
// port: ms is the hotline's media session (its port leg already answered
// and listening), or nil on the direct-dial path, where connect opens one
// and answers the port when the trunk answers. port holds the port's
// usable formats (codecs and telephone-events); Opus among them is
// offered to the trunk only when the media session carries it
// (media.FeatureOpus). The outcome is left in c.disp / c.reason.
func (c *call) connect(dlgA *sipgo.DialogServerSession, portAddr netip.AddrPort, port *sdp.Session, auth AuthResult, ms MediaSession, log *slog.Logger) {
	s := c.s
	hot := ms != nil
	if !hot {
		var err error
		ms, err = s.deps.Media(c.id, auth.Record)
		if err != nil {
			log.Error("media session failed", "error", err)
			c.reject(dlgA, sip.StatusServiceUnavailable, "Service Unavailable")
			c.setEnd(wire.DispFailed, fmt.Sprintf("%v: %v", ErrMediaFailed, err))
			return
		}
		c.mu.Lock()
		c.media = ms
		c.mu.Unlock()
	}
	portOffer := &sdp.Session{Formats: append([]sdp.Format(nil), port.Formats...)}
	if !ms.Features().Has(media.FeatureOpus) {
		portOffer.Formats = slices.DeleteFunc(portOffer.Formats, func(f sdp.Format) bool { return f.Kind() == sdp.KindOpus })
	}
	offerFormats := sdp.TrunkOffer(portOffer) // both laws: the relay converts
	if len(offerFormats) == 0 {
		log.Warn("nothing to offer the trunk: the port offered only Opus and the media session is G.711 only")
		c.reject(dlgA, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		c.setEnd(wire.DispFailed, "no usable audio offer")
		return
	}
	announce := func() ([]byte, bool) { return nil, false }
	if s.cfg.FamilyAccept {
		announce = c.prepareAnnouncement(auth, log)
	}
	sessID := uint64(s.clk.Now().Unix())
	bodyB := sdp.Build(sdp.Description{Addr: s.mediaAddr(ms.LocalAddr(media.LegB)), Formats: offerFormats, PTime: 20, SessionID: sessID})
	ring := s.clk.AfterFunc(s.cfg.RingTimeout, func() { c.stop(errRingTimeout) })
	var ringSent atomic.Bool
	dlgB, err := c.placeTrunk(bodyB, auth.DestinationType, func(r *sip.Response) {
		if !hot && (r.StatusCode == sip.StatusRinging || r.StatusCode == sip.StatusSessionInProgress) {
			ringSent.Store(true)
			if err := dlgA.Respond(r.StatusCode, sanitizeReason(r.Reason, "Ringing"), nil); err != nil {
				log.Debug("relaying provisional failed", "error", err)
			}
		}
	}, log)
	ring.Stop()
	if err == nil && c.ctx.Err() != nil {
		// The called party answered as the call stopped (the 200 crossed
		// our CANCEL, or came before it was sent): confirm and hang up.
		log.Info("trunk answered a cancelled call: ACK and BYE")
		c.hangupTrunk(dlgB, log)
		c.endBeforeAnswer(dlgA, context.Cause(c.ctx), log)
		return
	}
	if err != nil {
		// A 200 may have crossed our CANCEL: confirm and hang it up.
		if dlgB != nil && dlgB.InviteResponse != nil && dlgB.InviteResponse.IsSuccess() {
			c.hangupTrunk(dlgB, log)
		}
		var dr *sipgo.ErrDialogResponse
		switch {
		case c.ctx.Err() != nil:
			c.endBeforeAnswer(dlgA, context.Cause(c.ctx), log)
		case errors.As(err, &dr):
			c.trunkRefused(dlgA, dr.Res, log)
		default:
			log.Warn("trunk leg failed", "error", err)
			c.reject(dlgA, sip.StatusServiceUnavailable, "Service Unavailable")
			c.setEnd(wire.DispFailed, fmt.Sprintf("%v: %v", ErrTrunk, err))
		}
		return
	}

	ans, err := sdp.Parse(dlgB.InviteResponse.Body())
	var codec *sdp.Format
	var legA, legB sdp.Choice
	if err == nil {
		if legA, legB, err = sdp.Bridge(portOffer, ans); err == nil {
			codec = &legB.Codec
		}
	}
	if err := dlgB.Ack(context.Background()); err != nil {
		log.Warn("ACK to trunk failed", "error", err)
	}
	if codec == nil {
		log.Warn("trunk answered without a usable codec", "error", err)
		c.hangupTrunk(dlgB, log)
		c.reject(dlgA, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		c.setEnd(wire.DispFailed, "trunk answer without usable audio")
		return
	}
	// Events are relayed: each leg gets them only if the other can send them.
	events := legA.HasEvent && legB.HasEvent
	// On an Opus leg prompts go in the G.711 format listed beside Opus.
	promptA, hasPromptA := companionG711(legA, portOffer)
	promptB, hasPromptB := companionG711(legB, ans)
	if s.cfg.FamilyAccept {
		if ms.Features().Has(media.FeaturePrompts) {
			if !hot && !ringSent.Load() {
				// The port hears ringback while the called party decides.
				if err := dlgA.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
					log.Debug("180 to the port failed", "error", err)
				}
			}
			audio, ok := announce()
			outcome := acceptFailed
			if ok {
				outcome = c.familyAccept(ms, ans.Addr, legB, promptB, hasPromptB, audio, log)
			} else if c.ctx.Err() != nil {
				outcome = interrupted
			}
			switch outcome {
			case accepted:
			case blocked:
				c.reportBlocked(auth)
				c.notAcceptedEnd(dlgA, dlgB, ReasonBlocked, log)
				return
			case notAccepted:
				c.notAcceptedEnd(dlgA, dlgB, ReasonNotAccepted, log)
				return
			case interrupted:
				cause := context.Cause(c.ctx)
				if cause == errTrunkBye {
					c.notAcceptedEnd(dlgA, dlgB, ReasonHungUp, log)
					return
				}
				c.hangupTrunk(dlgB, log)
				c.endBeforeAnswer(dlgA, cause, log)
				return
			default:
				c.hangupTrunk(dlgB, log)
				c.reject(dlgA, sip.StatusServiceUnavailable, "Service Unavailable")
				c.setEnd(wire.DispFailed, fmt.Sprintf("%v: acceptance prompt", ErrMediaFailed))
				return
			}
		} else {
			log.Warn("media session cannot play prompts: bridging without the called party's acceptance")
		}
	}
	c.mu.Lock()
	cut := c.beforeBridge
	c.mu.Unlock()
	if cut != nil {
		cut()
	}
	answerAt := s.clk.Now()
	if err := c.startMedia(ms, portAddr, ans.Addr, legA, legB, events); err != nil {
		log.Error("media start failed", "error", err)
		c.hangupTrunk(dlgB, log)
		c.reject(dlgA, sip.StatusServiceUnavailable, "Service Unavailable")
		c.setEnd(wire.DispFailed, err.Error())
		return
	}
	if ms.Features().Has(media.FeatureOpus) {
		if hasPromptA {
			_ = ms.SetPromptPayloadType(media.LegA, promptA.PT) // a G.711 PT: cannot fail
		}
		if hasPromptB {
			_ = ms.SetPromptPayloadType(media.LegB, promptB.PT)
		}
	}
	c.mu.Lock()
	c.answer = &answerAt
	c.mu.Unlock()

	answerFormats := []sdp.Format{legA.Codec}
	if hasPromptA {
		answerFormats = append(answerFormats, promptA)
	}
	if events {
		answerFormats = append(answerFormats, legA.Event)
	}
	bodyA := sdp.Build(sdp.Description{Addr: s.mediaAddr(ms.LocalAddr(media.LegA)), Formats: answerFormats, PTime: 20, SessionID: sessID})
	formatsB := legB.Formats()
	if hasPromptB {
		formatsB = append([]sdp.Format{legB.Codec, promptB}, formatsB[1:]...)
	}
	c.mu.Lock()
	if !hot {
		c.bodyA = bodyA
	}
	c.bodyB = sdp.Build(sdp.Description{Addr: s.mediaAddr(ms.LocalAddr(media.LegB)), Formats: formatsB, PTime: 20, SessionID: sessID})
	c.mu.Unlock()
	// The limit counts from the bridge: what is left of the calling
	// window after ringing and acceptance, not what was left when the
	// call was authorized.
	maxDur, limitedBy := c.callLimit(auth, answerAt)
	c.mu.Lock()
	c.maxDur, c.limitedBy = maxDur, limitedBy
	c.mu.Unlock()
	stopTimer := c.startSessionTimer(dlgB, bodyB, log)
	defer stopTimer()
	stopLimit := c.scheduleLimit(ms, maxDur, auth.Language, log)
	defer stopLimit()
	log.Info("call answered", "codec", codec.Name, "limit", maxDur, "limited_by", limitedBy)
	if hot {
		// The port was answered by the hotline: nothing to tell it.
	} else if err := dlgA.WriteResponse(sip.NewSDPResponseFromRequest(dlgA.InviteRequest, bodyA)); err != nil {
		// The port cancelled as the answer crossed, or never ACKed.
		log.Warn("answering the port failed", "error", err)
		c.hangupTrunk(dlgB, log)
		if c.ctx.Err() != nil && context.Cause(c.ctx) == errPortCancel {
			c.setEnd(wire.DispCancelled, errPortCancel.Error())
		} else {
			c.hangupPort(dlgA, log)
			c.setEnd(wire.DispFailed, "port did not confirm the answer")
		}
		return
	}
	if s.deps.OnCallAnswered != nil {
		// Both legs are confirmed: what ends them after a crash is known.
		trunk, err := dialogOf(dlgB)
		if err != nil {
			log.Warn("trunk dialog not captured: a crash during this call could not end it", "error", err)
		}
		port, err := portDialogOf(dlgA)
		if err != nil {
			log.Warn("port dialog not captured: a crash during this call could not end it", "error", err)
		}
		s.deps.OnCallAnswered(AnsweredCall{CallID: c.id, Answer: answerAt, Trunk: trunk, Port: port, MaxDuration: maxDur, LimitedBy: limitedBy})
	}

	<-c.ctx.Done()
	cause := context.Cause(c.ctx)
	var wg sync.WaitGroup
	if cause != errPortBye {
		wg.Go(func() { c.hangupPort(dlgA, log) })
	}
	if cause != errTrunkBye {
		wg.Go(func() { c.hangupTrunk(dlgB, log) })
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
	log.Info("call ended", "cause", cause)
}

// cancelTimeout bounds the wait for the INVITE's final response once the
// trunk leg is cancelled (64*T1, RFC 3261 section 9.1); after it the
// INVITE transaction is abandoned. Network time, not call time (like
// byeTimeout): it runs on the real clock, as sipgo's timers do.
var cancelTimeout = 64 * sip.T1

// cancelTrunk cancels the trunk leg's INVITE (RFC 3261 section 9.1) once
// the call stops before the answer: after the first provisional response
// (a CANCEL may not be sent before one), to the trunk's address, with the
// INVITE's top Via, Call-ID, From, To, Route and CSeq number. The
// INVITE's final response is left to WaitAnswer (waitCtx); if none comes
// within cancelTimeout, stopWait abandons the transaction.
func (c *call) cancelTrunk(dlgB *sipgo.DialogClientSession, provisional <-chan struct{}, waitCtx context.Context, stopWait context.CancelCauseFunc, log *slog.Logger) {
	abandon := time.AfterFunc(cancelTimeout, func() { stopWait(sipgo.WaitAnswerForceCancelErr) })
	select {
	case <-provisional:
	case <-waitCtx.Done():
	}
	if waitCtx.Err() != nil {
		// A final response came (or the wait was abandoned): no CANCEL.
		abandon.Stop()
		return
	}
	req := newCancel(dlgB.InviteRequest)
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	res, err := c.s.dialogUA(req.Transport()).Client.Do(ctx, req)
	switch {
	case err != nil:
		log.Warn("CANCEL to the trunk failed", "error", err)
	case res.StatusCode != sip.StatusOK:
		// 481: the INVITE was answered already; WaitAnswer has its 200.
		log.Info("trunk refused the CANCEL", "status", res.StatusCode)
	default:
		log.Debug("trunk leg cancelled")
	}
}

// newCancel builds the CANCEL for an INVITE sent on the trunk (RFC 3261
// section 9.1): same Request-URI, top Via, Call-ID, From, To, Route and
// CSeq number, sent where the INVITE went.
func newCancel(inv *sip.Request) *sip.Request {
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	if v := inv.Via(); v != nil {
		req.AppendHeader(v.Clone())
	}
	sip.CopyHeaders("Route", inv, req)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		req.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.To(); h != nil {
		req.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.CallID(); h != nil {
		req.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.CSeq(); h != nil {
		req.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.CANCEL})
	}
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.Laddr = inv.Laddr
	req.SetBody(nil)
	return req
}

// warnAgent is ip as a Warning header's warn-agent (RFC 3261 section
// 20.43: a host, IPv6 references in brackets).
func warnAgent(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

// companionG711 is, for a leg that negotiated Opus, the first G.711
// format its side also listed (sess: the port's offer or the trunk's
// answer), in which prompts are sent to it.
func companionG711(ch sdp.Choice, sess *sdp.Session) (sdp.Format, bool) {
	if ch.Codec.Kind() != sdp.KindOpus {
		return sdp.Format{}, false
	}
	for _, f := range sess.Formats {
		if f.IsG711() {
			return f, true
		}
	}
	return sdp.Format{}, false
}

// setRemote gives leg l its negotiated codec: G.711 through
// MediaSession.SetRemote, Opus through SetRemoteCodec (media.FeatureOpus).
func setRemote(ms MediaSession, l media.Leg, addr netip.AddrPort, f sdp.Format) error {
	if f.Kind() != sdp.KindOpus {
		return ms.SetRemote(l, addr, f.PT)
	}
	if !ms.Features().Has(media.FeatureOpus) {
		return fmt.Errorf("%w: leg %v negotiated Opus and the media session is G.711 only", ErrMediaFailed, l)
	}
	return ms.SetRemoteCodec(l, addr, media.CodecOpus, f.PT)
}

// startMedia gives each leg its own negotiated codec (the relay converts
// PCMU<->PCMA, and relays Opus to Opus) and telephone-event payload type,
// then bridges.
func (c *call) startMedia(ms MediaSession, portAddr, trunkAddr netip.AddrPort, legA, legB sdp.Choice, events bool) error {
	if err := setRemote(ms, media.LegA, portAddr, legA.Codec); err != nil {
		return fmt.Errorf("%w: leg A: %v", ErrMediaFailed, err)
	}
	if err := setRemote(ms, media.LegB, trunkAddr, legB.Codec); err != nil {
		return fmt.Errorf("%w: leg B: %v", ErrMediaFailed, err)
	}
	if ms.Features().Has(media.FeaturePrompts) && events {
		ms.SetEventPayloadType(media.LegA, legA.Event.PT)
		ms.SetEventPayloadType(media.LegB, legB.Event.PT)
	}
	if err := ms.Start(); err != nil {
		return fmt.Errorf("%w: start: %v", ErrMediaFailed, err)
	}
	return nil
}

// endBeforeAnswer answers the port according to why the call stopped
// before the trunk answered.
func (c *call) endBeforeAnswer(dlgA *sipgo.DialogServerSession, cause error, log interface {
	Info(string, ...any)
}) {
	switch cause {
	case errPortCancel:
		// The transaction layer already answered 487.
		c.setEnd(wire.DispCancelled, cause.Error())
	case errPortBye:
		// A hotline caller hung up before the called party answered.
		c.setEnd(wire.DispCancelled, cause.Error())
	case errRingTimeout:
		c.reject(dlgA, sip.StatusTemporarilyUnavailable, "No Answer")
		c.setEnd(wire.DispNoAnswer, cause.Error())
	case errEnded:
		c.reject(dlgA, sip.StatusRequestTerminated, "Request Terminated")
		c.setEnd(wire.DispEnded, cause.Error())
	default:
		c.reject(dlgA, sip.StatusServiceUnavailable, "Service Unavailable")
		c.setEnd(wire.DispFailed, fmt.Sprint(cause))
	}
	log.Info("call ended before answer", "cause", cause)
}

// trunkRefused relays the trunk's final error to the port.
func (c *call) trunkRefused(dlgA *sipgo.DialogServerSession, res *sip.Response, log interface {
	Info(string, ...any)
}) {
	code, reason := res.StatusCode, sanitizeReason(res.Reason, "Failed")
	disp := wire.DispFailed
	switch code {
	case 486, 600:
		disp = wire.DispBusy
	case 408, 480:
		disp = wire.DispNoAnswer
	case 603:
		disp = wire.DispRejected
	}
	if code < 400 || code == 401 || code == 407 {
		// Redirects and the trunk's own challenges mean nothing to the port.
		code, reason = sip.StatusServiceUnavailable, "Service Unavailable"
	}
	c.reject(dlgA, code, reason)
	c.setEnd(disp, fmt.Sprintf("trunk: %d %s", res.StatusCode, sanitizeReason(res.Reason, "")))
	log.Info("trunk refused the call", "status", res.StatusCode, "disposition", disp)
}

func (c *call) hangupTrunk(d *sipgo.DialogClientSession, log interface{ Debug(string, ...any) }) {
	if d.LoadState() == sip.DialogStateEnded {
		return
	}
	if d.LoadState() < sip.DialogStateConfirmed {
		if err := d.Ack(context.Background()); err != nil {
			log.Debug("ACK before BYE failed", "error", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		log.Debug("BYE to trunk failed", "error", err)
	}
}

// reject sends the port a final non-2xx answer (with hdrs added) and
// returns as soon as it is sent.
//
// It deliberately bypasses sipgo's DialogServerSession.WriteResponse, which
// after a non-2xx final answer blocks until the ACK arrives or Timer H
// (64*T1 = 32 s) fires: a caller that never ACKs (its Via points
// elsewhere, or its ACK does not match) would hold the call slot, its
// goroutine and shutdown for 32 s. The ACK to a non-2xx answer belongs to
// the INVITE server transaction (RFC 3261 17.2.1), not to the call: once
// the handler returns, sipgo keeps the completed transaction alive on its
// own timers, retransmitting the answer (Timer G) and absorbing the ACK
// (Timer I) or giving up (Timer H), with nothing of the call waiting.
//
// The answer is built from the dialog's INVITE so it carries the same
// To-tag as any provisional answer already sent.
func (c *call) reject(dlgA *sipgo.DialogServerSession, code int, reason string, hdrs ...sip.Header) {
	c.mu.Lock()
	hot := c.hot
	c.mu.Unlock()
	if hot != nil {
		hot.end(dlgA, code)
		return
	}
	res := sip.NewResponseFromRequest(dlgA.InviteRequest, code, reason, nil)
	res.AppendHeader(&c.s.dialogUA(dlgA.InviteRequest.Transport()).ContactHDR)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	select {
	case <-c.txA.Done():
		// Cancelled (the transaction layer answered 487) or gone.
		c.s.log.Debug("final answer to the port not sent: transaction ended", "call", c.id, "code", code, "error", c.txA.Err())
		return
	default:
	}
	if err := c.txA.Respond(res); err != nil {
		c.s.log.Debug("final answer to the port failed", "call", c.id, "code", code, "error", err)
	}
}

func (c *call) hangupPort(d *sipgo.DialogServerSession, log interface{ Debug(string, ...any) }) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		log.Debug("BYE to port failed", "error", err)
	}
}

// finish closes media, unregisters the call and reports its record. It runs
// exactly once per call (deferred by onInvite).
func (c *call) finish() {
	s := c.s
	c.stop(nil)
	c.releaseTrunk()
	c.mu.Lock()
	ms, auth, answer, disp, reason, number, maxDur, limitedBy, leg := c.media, c.auth, c.answer, c.disp, c.reason, c.number, c.maxDur, c.limitedBy, c.leg
	c.mu.Unlock()
	rec := wire.CallRecord{
		CallID:        c.id,
		PersonID:      auth.PersonID,
		PrisonNumber:  auth.PrisonNumber,
		CardUID:       auth.CardUID,
		Terminal:      c.terminal.ID,
		Number:        number,
		Start:         c.start,
		Answer:        answer,
		Disposition:   disp,
		Reason:        reason,
		OfficerID:     auth.OfficerID,
		ConfirmMethod: auth.ConfirmMethod,
		Hidden:        auth.Hidden,
		Free:          auth.Free,
		Trunk:         leg.name,
	}
	if maxDur > 0 || limitedBy != "" {
		rec.MaxDurationSeconds = int((maxDur + time.Second - 1) / time.Second)
		rec.LimitedBy = limitedBy
	}
	if ms != nil {
		res, err := ms.Close()
		if err != nil {
			s.log.Error("closing media failed", "call", c.id, "error", err)
		}
		if res.Path != "" {
			rec.Recording = &wire.RecordingRef{ID: c.id, SHA256: res.SHA256, Bytes: res.Bytes, Format: res.Format, Levels: recordingLevels(res)}
		}
	}
	rec.End = s.clk.Now()
	s.mu.Lock()
	delete(s.calls, c.id)
	delete(s.byPortID, c.portCID)
	delete(s.byTrunk, c.id)
	delete(s.byTrunk, leg.cid)
	s.mu.Unlock()
	s.deps.OnCallEnd(rec)
	close(c.done)
}

// recordingLevels is a recording's per-leg level metadata for its
// record: leg A (the person in prison) then leg B; nil when no frame of
// either leg was measured.
func recordingLevels(res media.Result) []wire.LegLevel {
	if res.Audio[0].Frames == 0 && res.Audio[1].Frames == 0 && res.Audio[0].Undecodable == 0 && res.Audio[1].Undecodable == 0 {
		return nil
	}
	out := make([]wire.LegLevel, 2)
	for i, a := range res.Audio {
		out[i] = wire.LegLevel{Leg: media.Leg(i).String(), LevelDBFS: math.Round(a.LevelDBFS*10) / 10, SilenceRatio: math.Round(a.SilenceRatio*1000) / 1000, Frames: a.Frames, Undecodable: a.Undecodable}
	}
	return out
}

// mediaAddr is the address to advertise in SDP for a media socket.
func (s *Server) mediaAddr(local netip.AddrPort) netip.AddrPort {
	if s.cfg.MediaIP != "" {
		return netip.AddrPortFrom(netip.MustParseAddr(s.cfg.MediaIP), local.Port())
	}
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() {
		return local
	}
	return netip.AddrPortFrom(netip.MustParseAddr(s.cfg.PublicIP), local.Port())
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
