package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/internal/rtpphone"
)

// PortConfig configures a simulated IAD port.
type PortConfig struct {
	// Appliance is the appliance's SIP "host:port" (required).
	Appliance string
	// User and Password are the port's digest credentials.
	User, Password string
	// Listen is the local SIP address; default "127.0.0.1:0".
	Listen string
	// ToneHz is the tone the port sends; default 440 Hz.
	ToneHz float64
	// Silent sends no RTP at all (the test sends its own, for example
	// in-band DTMF from another socket the appliance then latches on).
	Silent bool
	// NoTelephoneEvent leaves telephone-event out of the SDP offer, as an
	// IAD that only signals keys in-band (or by INFO) does.
	NoTelephoneEvent bool
	// Opus offers opus/48000/2 before the G.711 laws. The port itself
	// still sends G.711 tone (the first G.711 format of the answer), as
	// an endpoint may among the formats answered.
	Opus bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Port is a simulated IAD FXS port.
type Port struct {
	cfg     PortConfig
	ep      *endpoint
	appHost string
	appPort int

	mu    sync.Mutex
	calls map[string]*Call
}

// NewPort binds the port's SIP socket and starts serving (for BYEs from
// the appliance).
func NewPort(cfg PortConfig) (*Port, error) {
	h, ps, err := net.SplitHostPort(cfg.Appliance)
	if err != nil {
		return nil, fmt.Errorf("%w: appliance %q: %v", ErrConfig, cfg.Appliance, err)
	}
	pn, err := strconv.Atoi(ps)
	if err != nil || pn <= 0 || pn > 65535 {
		return nil, fmt.Errorf("%w: appliance port %q", ErrConfig, ps)
	}
	if cfg.User == "" {
		return nil, fmt.Errorf("%w: no SIP user", ErrConfig)
	}
	if cfg.ToneHz == 0 {
		cfg.ToneHz = 440
	}
	ep, err := newEndpoint(cfg.Listen, "kinline-sipsim-port", cfg.Logger)
	if err != nil {
		return nil, err
	}
	p := &Port{cfg: cfg, ep: ep, appHost: h, appPort: pn, calls: map[string]*Call{}}
	ep.srv.OnBye(p.onBye)
	ep.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil))
	})
	ep.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	ep.serve()
	return p, nil
}

// Addr is the port's SIP address.
func (p *Port) Addr() netip.AddrPort { return p.ep.addr }

// Close releases the port's sockets. Calls in progress are abandoned.
func (p *Port) Close() error {
	p.mu.Lock()
	calls := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	for _, c := range calls {
		c.stopMedia()
	}
	return p.ep.close()
}

func (p *Port) applianceURI(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: p.appHost, Port: p.appPort}
}

func (p *Port) contact() sip.ContactHeader {
	return sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.ep.host(), Port: int(p.ep.addr.Port())}}
}

func (p *Port) from() *sip.FromHeader {
	f := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.appHost}, Params: sip.NewParams()}
	f.Params.Add("tag", sip.GenerateTagN(16))
	return f
}

// Register sends REGISTER (answering one digest challenge) asking for a
// binding of the given lifetime (0 unregisters). A non-2xx final answer is
// returned as *StatusError.
func (p *Port) Register(ctx context.Context, expires time.Duration) error {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.appHost, Port: p.appPort})
	req.AppendHeader(p.from())
	to := p.applianceURI(p.cfg.User)
	req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.NewParams()})
	ct := p.contact()
	req.AppendHeader(&ct)
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	res, err := p.ep.cli.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: REGISTER: %v", ErrTransport, err)
	}
	if res.StatusCode == sip.StatusUnauthorized {
		res, err = p.ep.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
		if err != nil {
			return fmt.Errorf("%w: REGISTER with credentials: %v", ErrTransport, err)
		}
	}
	if !res.IsSuccess() {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// Call is an answered call from a port.
type Call struct {
	p      *Port
	sess   *sipgo.DialogClientSession
	cid    string
	rtp    *rtpphone.Phone
	remote netip.AddrPort
	pt     uint8

	sent      atomic.Uint64
	cancel    context.CancelFunc
	sendDone  chan struct{}
	remoteBye chan struct{}
	byeOnce   sync.Once
	stopOnce  sync.Once
	finalMu   sync.Mutex
	final     *RTPStats
}

// RTPStats counts a call's RTP packets.
type RTPStats struct {
	Sent, Received uint64
}

// Dial calls number through the appliance: INVITE, digest answer to a
// 401/407 challenge, then ACK on 200 and tone RTP until Hangup. Cancelling
// ctx before the answer sends CANCEL. onProvisional (may be nil) sees each
// provisional status above 100. A non-2xx final answer is *StatusError.
func (p *Port) Dial(ctx context.Context, number string, onProvisional func(code int)) (*Call, error) {
	rtp, err := p.ep.openRTP(0)
	if err != nil {
		return nil, err
	}
	uri := p.applianceURI(number)
	req := sip.NewRequest(sip.INVITE, uri)
	req.AppendHeader(p.from())
	req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offerBody(rtp.LocalAddr(), !p.cfg.NoTelephoneEvent, p.cfg.Opus))
	dua := &sipgo.DialogUA{Client: p.ep.cli, ContactHDR: p.contact()}
	sess, err := dua.WriteInvite(ctx, req)
	if err != nil {
		rtp.Close()
		return nil, fmt.Errorf("%w: INVITE: %v", ErrTransport, err)
	}
	c := &Call{p: p, sess: sess, cid: req.CallID().Value(), rtp: rtp, remoteBye: make(chan struct{}), sendDone: make(chan struct{})}
	p.mu.Lock()
	p.calls[c.cid] = c
	p.mu.Unlock()
	fail := func(err error) (*Call, error) {
		var se *StatusError
		if errors.As(err, &se) {
			se.EarlyRTP, _ = rtp.Received()
		}
		p.mu.Lock()
		delete(p.calls, c.cid)
		p.mu.Unlock()
		rtp.Close()
		close(c.sendDone)
		return nil, err
	}
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{
		Username: p.cfg.User,
		Password: p.cfg.Password,
		OnResponse: func(r *sip.Response) error {
			if r.IsProvisional() && r.StatusCode > 100 && onProvisional != nil {
				onProvisional(r.StatusCode)
			}
			return nil
		},
	})
	if err != nil {
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			return fail(&StatusError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason})
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("phone: call cancelled: %w", ctx.Err()))
		}
		return fail(fmt.Errorf("%w: waiting for answer: %v", ErrTransport, err))
	}
	if err := sess.Ack(ctx); err != nil {
		return fail(fmt.Errorf("%w: ACK: %v", ErrTransport, err))
	}
	ans, err := sdp.Parse(sess.InviteResponse.Body())
	var codec sdp.Format
	ok := false
	if err == nil {
		codec, ok = pickCodec(ans)
	}
	if !ok {
		bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sess.Bye(bctx)
		return fail(fmt.Errorf("%w: answer: %v", ErrNoMedia, err))
	}
	c.remote, c.pt = ans.Addr, codec.PT
	sctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.sendDone)
		if !p.cfg.Silent {
			sendTone(sctx, rtp, c.remote, c.pt, p.cfg.ToneHz, &c.sent)
		}
	}()
	return c, nil
}

// sendTone sends tone chunks until ctx is done, counting packets sent.
func sendTone(ctx context.Context, p *rtpphone.Phone, remote netip.AddrPort, pt uint8, hz float64, sent *atomic.Uint64) {
	for ctx.Err() == nil {
		if err := p.Send(ctx, remote, pt, hz, chunk); err != nil {
			return
		}
		sent.Add(uint64(chunk / frame))
	}
}

// Refresh sends a re-INVITE in the call's dialog (a session refresh, with
// the original offer), ACKs a 2xx and returns the final status and the SDP
// answered.
func (c *Call) Refresh(ctx context.Context) (int, []byte, error) {
	target := c.sess.InviteRequest.Recipient
	if ct := c.sess.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(sip.INVITE, *target.Clone())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(c.sess.InviteRequest.Body())
	res, err := c.sess.Do(ctx, req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: re-INVITE: %v", ErrTransport, err)
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, *target.Clone())
		if err := c.sess.WriteRequest(ack); err != nil {
			return res.StatusCode, res.Body(), fmt.Errorf("%w: ACK: %v", ErrTransport, err)
		}
	}
	return res.StatusCode, res.Body(), nil
}

// SendDTMF presses keys ('0'-'9', '*', '#', 'A'-'D') one after the other
// as RFC 4733 telephone-events (payload type 101, 100 ms each, 40 ms
// apart), on the call's RTP stream.
func (c *Call) SendDTMF(ctx context.Context, keys string) error {
	for i := 0; i < len(keys); i++ {
		if err := c.rtp.SendDTMF(ctx, c.remote, keys[i]); err != nil {
			return fmt.Errorf("phone: key %q: %w", keys[i], err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(40 * time.Millisecond):
		}
	}
	return nil
}

// SendINFO presses keys one after the other as SIP INFO requests in the
// call's dialog (application/dtmf-relay, "Signal=<key>" and
// "Duration=160"), each waiting for its answer; a non-2xx answer is
// *StatusError.
func (c *Call) SendINFO(ctx context.Context, keys string) error {
	target := c.sess.InviteRequest.Recipient
	if ct := c.sess.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	for i := 0; i < len(keys); i++ {
		if err := sendINFO(ctx, target, c.sess.Do, keys[i]); err != nil {
			return err
		}
	}
	return nil
}

// sendINFO sends one key by INFO through do (a dialog's Do).
func sendINFO(ctx context.Context, target sip.Uri, do func(context.Context, *sip.Request) (*sip.Response, error), key byte) error {
	req := sip.NewRequest(sip.INFO, *target.Clone())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte("Signal=" + string(key) + "\r\nDuration=160\r\n"))
	res, err := do(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: INFO: %v", ErrTransport, err)
	}
	if !res.IsSuccess() {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	return nil
}

// RemoteHangup is closed when the appliance hangs up the call.
func (c *Call) RemoteHangup() <-chan struct{} { return c.remoteBye }

// PayloadType is the negotiated G.711 payload type.
func (c *Call) PayloadType() uint8 { return c.pt }

// MediaRemote is where the call's RTP is sent (the appliance's leg-A
// address).
func (c *Call) MediaRemote() netip.AddrPort { return c.remote }

// Stats counts RTP so far (final after Hangup).
func (c *Call) Stats() RTPStats {
	c.finalMu.Lock()
	defer c.finalMu.Unlock()
	if c.final != nil {
		return *c.final
	}
	n, _ := c.rtp.Received()
	return RTPStats{Sent: c.sent.Load(), Received: n}
}

func (c *Call) stopMedia() {
	c.stopOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		<-c.sendDone
		n, _ := c.rtp.Received()
		c.finalMu.Lock()
		c.final = &RTPStats{Sent: c.sent.Load(), Received: n}
		c.finalMu.Unlock()
		c.rtp.Close()
	})
}

// Hangup stops the tone and sends BYE (unless the appliance already hung
// up, in which case it returns ErrHungUp).
func (c *Call) Hangup(ctx context.Context) error {
	c.stopMedia()
	c.p.mu.Lock()
	delete(c.p.calls, c.cid)
	c.p.mu.Unlock()
	select {
	case <-c.remoteBye:
		return ErrHungUp
	default:
	}
	if err := c.sess.Bye(ctx); err != nil {
		return fmt.Errorf("%w: BYE: %v", ErrTransport, err)
	}
	return nil
}

func (p *Port) onBye(req *sip.Request, tx sip.ServerTransaction) {
	var c *Call
	if id := req.CallID(); id != nil {
		p.mu.Lock()
		c = p.calls[id.Value()]
		p.mu.Unlock()
	}
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err := c.sess.ReadBye(req, tx); err != nil {
		p.ep.log.Debug("phone: BYE", "err", err)
	}
	c.byeOnce.Do(func() { close(c.remoteBye) })
}

// Result summarizes a call placed with Port.Call.
type Result struct {
	Code         int    // final status of the INVITE (200 when answered)
	Reason       string // its reason phrase
	Provisional  []int  // provisional statuses seen (180, 183)
	Answered     bool
	RemoteHangup bool // the appliance hung up first
	// RTP counts the call's packets; for a refused call, Received counts
	// the early media heard before the final answer.
	RTP RTPStats
}

// Call dials number, talks for talk (or until the appliance hangs up) and
// hangs up. Refusals are reported in Result, not as errors.
func (p *Port) Call(ctx context.Context, number string, talk time.Duration) (Result, error) {
	var res Result
	var mu sync.Mutex
	c, err := p.Dial(ctx, number, func(code int) {
		mu.Lock()
		res.Provisional = append(res.Provisional, code)
		mu.Unlock()
	})
	var se *StatusError
	switch {
	case errors.As(err, &se):
		res.Code, res.Reason = se.Code, se.Reason
		res.RTP.Received = se.EarlyRTP
		return res, nil
	case err != nil:
		return res, err
	}
	res.Code, res.Reason, res.Answered = c.sess.InviteResponse.StatusCode, c.sess.InviteResponse.Reason, true
	t := time.NewTimer(talk)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.RemoteHangup():
		res.RemoteHangup = true
	case <-ctx.Done():
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil && !errors.Is(err, ErrHungUp) {
		res.RTP = c.Stats()
		return res, err
	}
	res.RTP = c.Stats()
	return res, nil
}
