package callctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"sync"
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
			s.log.Info("re-INVITE with an unusable offer", "call", c.id, "err", err)
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
		s.log.Debug("re-INVITE respond failed", "call", c.id, "err", err)
	}
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
		log.Warn("CANCEL to the trunk failed", "err", err)
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

func (c *call) hangupTrunk(d *sipgo.DialogClientSession, log interface{ Debug(string, ...any) }) {
	if d.LoadState() == sip.DialogStateEnded {
		return
	}
	if d.LoadState() < sip.DialogStateConfirmed {
		if err := d.Ack(context.Background()); err != nil {
			log.Debug("ACK before BYE failed", "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		log.Debug("BYE to trunk failed", "err", err)
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
		c.s.log.Debug("final answer to the port not sent: transaction ended", "call", c.id, "code", code, "err", c.txA.Err())
		return
	default:
	}
	if err := c.txA.Respond(res); err != nil {
		c.s.log.Debug("final answer to the port failed", "call", c.id, "code", code, "err", err)
	}
}

func (c *call) hangupPort(d *sipgo.DialogServerSession, log interface{ Debug(string, ...any) }) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		log.Debug("BYE to port failed", "err", err)
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
			s.log.Error("closing media failed", "call", c.id, "err", err)
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
