package phone

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/internal/rtpphone"
)

// FamilyConfig configures a simulated family phone (the trunk side).
type FamilyConfig struct {
	// Listen is the UDP SIP address; default "127.0.0.1:0".
	Listen string
	// RingFor is how long it rings (after 180) before answering or
	// rejecting. Default 100 ms.
	RingFor time.Duration
	// Reject, when non-zero, is the final status sent instead of answering
	// (e.g. 486 busy, 603 decline, 480 no answer).
	Reject int
	// NoAnswer makes the phone ring until the caller cancels.
	NoAnswer bool
	// HangupAfter, when positive, makes the phone hang up (BYE) that long
	// after answering; otherwise it waits for the caller's BYE.
	HangupAfter time.Duration
	// Accept is the key pressed (as an RFC 4733 telephone-event, payload
	// type 101) once the phone has heard AcceptAfter of audio after
	// answering: '1' accepts the call at the appliance's acceptance
	// prompt, '9' blocks the caller. 0 (the default) presses nothing.
	Accept byte
	// AcceptAfter is how much received audio (the prompt) the phone waits
	// for before pressing Accept. Default 1 s.
	AcceptAfter time.Duration
	// AcceptByINFO sends Accept as a SIP INFO request (application/
	// dtmf-relay) in the call's dialog instead of a telephone-event.
	AcceptByINFO bool
	// ToneHz is the tone it sends; default 660 Hz.
	ToneHz float64
	// Opus answers with opus/48000/2 when offered (then the offer's
	// first G.711 format beside it, and telephone-event), as a trunk that
	// prefers Opus does. It sends no audio of its own then.
	Opus bool
	// KeepAudio is how much received audio (decoded G.711) the phone
	// keeps for FamilyCall.Audio; 0 keeps the default two seconds.
	KeepAudio time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// FamilyCall reports one INVITE the family phone received; it is sent on
// Invites when the INVITE arrives and on Results (completed) when the call
// ends.
type FamilyCall struct {
	CallID    string
	Number    string // Request-URI user: the dialled number
	From      string
	Offer     []byte // the SDP offer
	Answered  bool
	Cancelled bool // the caller cancelled before the answer
	HungUp    bool // the family phone hung up (HangupAfter)
	Code      int  // final status sent (200, Reject, or 487 when cancelled)
	// Pressed is the key sent (Accept) once AcceptAfter of audio had been
	// heard; 0 if none was sent.
	Pressed byte
	// Heard is how many RTP packets had been received when Pressed was
	// sent (the prompt), 0 if nothing was pressed.
	Heard uint64
	RTP   RTPStats
	// Audio is the latest received G.711 audio (up to KeepAudio) when
	// the key was pressed (or, with nothing pressed, when the call
	// ended), as 8 kHz linear samples in arrival order.
	Audio []int16
	// Answer is the SDP the phone answered with.
	Answer []byte
}

// Family is a simulated family phone.
type Family struct {
	cfg     FamilyConfig
	ep      *endpoint
	invites chan FamilyCall
	results chan FamilyCall

	mu      sync.Mutex
	dialogs map[string]*sipgo.DialogServerSession
}

// NewFamily binds the family phone's SIP socket and starts answering.
func NewFamily(cfg FamilyConfig) (*Family, error) {
	if cfg.RingFor <= 0 {
		cfg.RingFor = 100 * time.Millisecond
	}
	if cfg.AcceptAfter <= 0 {
		cfg.AcceptAfter = time.Second
	}
	if cfg.ToneHz == 0 {
		cfg.ToneHz = 660
	}
	ep, err := newEndpoint(cfg.Listen, "kinline-sipsim-family", cfg.Logger)
	if err != nil {
		return nil, err
	}
	f := &Family{cfg: cfg, ep: ep, invites: make(chan FamilyCall, 256), results: make(chan FamilyCall, 256), dialogs: map[string]*sipgo.DialogServerSession{}}
	ep.srv.OnInvite(f.onInvite)
	ep.srv.OnAck(f.onAck)
	ep.srv.OnBye(f.onBye)
	ep.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	ep.serve()
	return f, nil
}

// Addr is the family phone's SIP address (configure it as the trunk).
func (f *Family) Addr() netip.AddrPort { return f.ep.addr }

// Invites delivers each INVITE as it arrives (buffered; dropped when full).
func (f *Family) Invites() <-chan FamilyCall { return f.invites }

// Results delivers each call when it ends (buffered; dropped when full).
func (f *Family) Results() <-chan FamilyCall { return f.results }

// Close releases the family phone's socket.
func (f *Family) Close() error { return f.ep.close() }

func emit(ch chan FamilyCall, c FamilyCall) {
	select {
	case ch <- c:
	default:
	}
}

func (f *Family) dialog(req *sip.Request) *sipgo.DialogServerSession {
	id := req.CallID()
	if id == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dialogs[id.Value()]
}

func (f *Family) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if d := f.dialog(req); d != nil {
		_ = d.ReadAck(req, tx)
	}
}

func (f *Family) onBye(req *sip.Request, tx sip.ServerTransaction) {
	d := f.dialog(req)
	if d == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	_ = d.ReadBye(req, tx)
}

var reasons = map[int]string{
	400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}

func (f *Family) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() != nil && req.To().Params.Has("tag") {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	dua := &sipgo.DialogUA{Client: f.ep.cli, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "family", Host: f.ep.host(), Port: int(f.ep.addr.Port())},
	}}
	dlg, err := dua.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	fc := FamilyCall{CallID: req.CallID().Value(), Number: req.Recipient.User, Offer: append([]byte(nil), req.Body()...)}
	if fr := req.From(); fr != nil {
		fc.From = fr.Address.String()
	}
	f.mu.Lock()
	f.dialogs[fc.CallID] = dlg
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.dialogs, fc.CallID)
		f.mu.Unlock()
		emit(f.results, fc)
	}()
	emit(f.invites, fc)

	_ = dlg.Respond(sip.StatusTrying, "Trying", nil)
	_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
	cancelled := func() {
		fc.Cancelled, fc.Code = true, sip.StatusRequestTerminated
	}
	if f.cfg.NoAnswer {
		<-dlg.Context().Done()
		cancelled()
		return
	}
	ring := time.NewTimer(f.cfg.RingFor)
	defer ring.Stop()
	select {
	case <-ring.C:
	case <-dlg.Context().Done():
		cancelled()
		return
	}
	if f.cfg.Reject != 0 {
		fc.Code = f.cfg.Reject
		reason := reasons[f.cfg.Reject]
		if reason == "" {
			reason = "Rejected"
		}
		_ = dlg.Respond(f.cfg.Reject, reason, nil)
		return
	}

	offer, err := sdp.Parse(req.Body())
	var codec sdp.Format
	ok := false
	if err == nil {
		codec, ok = pickCodec(offer)
	}
	var companion []sdp.Format
	if ok && f.cfg.Opus {
		for _, o := range offer.Formats {
			if o.Kind() == sdp.KindOpus {
				companion = []sdp.Format{codec}
				codec = o
				break
			}
		}
	}
	if !ok {
		fc.Code = sip.StatusNotAcceptableHere
		_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return
	}
	rtp, err := f.ep.openRTP(int(f.cfg.KeepAudio / frame * 160))
	if err != nil {
		fc.Code = sip.StatusServiceUnavailable
		_ = dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	defer rtp.Close()
	formats := append([]sdp.Format{codec}, companion...)
	if te, ok := offer.Find("telephone-event"); ok {
		formats = append(formats, te)
	}
	body := sdp.Build(sdp.Description{Addr: rtp.LocalAddr(), Formats: formats, PTime: 20, SessionID: uint64(time.Now().Unix()), Username: "family"})
	fc.Answer = body

	var sent atomic.Uint64
	sctx, stop := context.WithCancel(context.Background())
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		sendTone(sctx, rtp, offer.Addr, codec.PT, f.cfg.ToneHz, &sent)
	}()
	keyDone := make(chan struct{})
	answered := make(chan struct{}) // closed once the 200 is out: the dialog may be used
	if f.cfg.Accept != 0 {
		go func() {
			defer close(keyDone)
			f.pressAfterPrompt(sctx, rtp, offer.Addr, dlg, answered, &fc)
		}()
	} else {
		close(keyDone)
	}
	finish := func() {
		stop()
		<-sendDone
		<-keyDone
		n, _ := rtp.Received()
		fc.RTP = RTPStats{Sent: sent.Load(), Received: n}
		if fc.Audio == nil {
			fc.Audio = rtp.Audio()
		}
	}
	if err := dlg.RespondSDP(body); err != nil {
		finish()
		if dlg.Context().Err() != nil {
			cancelled()
			return
		}
		f.ep.log.Debug("family: answer failed", "err", err)
		fc.Code = sip.StatusOK
		return
	}
	fc.Answered, fc.Code = true, sip.StatusOK
	close(answered)

	var hang <-chan time.Time
	if f.cfg.HangupAfter > 0 {
		t := time.NewTimer(f.cfg.HangupAfter)
		defer t.Stop()
		hang = t.C
	}
	select {
	case <-dlg.Context().Done():
		finish()
	case <-hang:
		finish()
		fc.HungUp = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := dlg.Bye(ctx); err != nil {
			f.ep.log.Debug("family: BYE failed", "err", err)
		}
	}
}

// pressAfterPrompt waits until AcceptAfter of audio has arrived, then
// sends Accept as an RFC 4733 event. It records what it did in fc (read
// by the caller only after it returns).
func (f *Family) pressAfterPrompt(ctx context.Context, p *rtpphone.Phone, remote netip.AddrPort, dlg *sipgo.DialogServerSession, answered <-chan struct{}, fc *FamilyCall) {
	want := uint64(f.cfg.AcceptAfter / frame)
	tick := time.NewTicker(frame)
	defer tick.Stop()
	for {
		if n, _ := p.Received(); n >= want {
			// Noted before sending: the appliance may hang up (9) before
			// the event's last packet has gone out.
			fc.Pressed, fc.Heard, fc.Audio = f.cfg.Accept, n, p.Audio()
			if f.cfg.AcceptByINFO {
				select {
				case <-answered:
				case <-ctx.Done():
					return
				}
				target := dlg.InviteRequest.From().Address
				if ct := dlg.InviteRequest.Contact(); ct != nil {
					target = ct.Address
				}
				if err := sendINFO(ctx, target, dlg.Do, f.cfg.Accept); err != nil {
					f.ep.log.Debug("family: INFO key failed", "err", err)
				}
				return
			}
			if err := p.SendDTMF(ctx, remote, f.cfg.Accept); err != nil {
				f.ep.log.Debug("family: key not completely sent", "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
