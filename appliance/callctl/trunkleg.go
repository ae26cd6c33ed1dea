package callctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/trunks"
	"github.com/kinline/kinline/shared/clock"
)

// Placing the trunk leg on one of several trunks, with failover
// (docs/decisions/0021-trunk-failover.md). The rules that keep a call
// from being placed twice:
//
//   - trunks are tried one after the other, never two at once;
//   - a trunk that rang (180/183) is never left for another: only its
//     final answer, the caller or the call's ring timeout ends it;
//   - a trunk that answers 5xx, or does not ring within its Timeout, is
//     left for the next trunk of the route only once its attempt is over:
//     a trunk that sent a provisional answer is CANCELled and its 487
//     awaited (a 200 crossing the CANCEL wins: that trunk carries the
//     call and no other is tried); a trunk that sent nothing has its
//     INVITE transaction ended (no more retransmissions), and should it
//     answer later, a provisional answer is CANCELled and a 200 is ACKed
//     and hung up at once (abandon): never bridged;
//   - the last trunk a call can use is waited for until the ring timeout.

// errAttemptTimeout is why an attempt that got only 100 Trying is
// cancelled: the trunk did not ring in time and another trunk waits.
var errAttemptTimeout = errors.New("trunk did not ring in time")

// trunkLeg is the trunk a call is on (or was last tried on): its name for
// the record, the attempt's SIP Call-ID and the call slot it holds.
type trunkLeg struct {
	name  string
	cid   string
	lease *trunks.Lease
}

// noBuild sends a request as built (its Via kept), for the CANCELs and
// ACKs of abandoned attempts.
func noBuild(*sipgo.Client, *sip.Request) error { return nil }

// placeTrunk places the trunk leg: it tries the trunks of the call's
// route (by its number and destType, the priced rate's destination type)
// in order (skipping those down or at their call limit) until one
// answers 200 or gives a final answer that is not a failover, and
// returns that attempt's dialog. onResponse sees every response of every
// attempt (the provisional ones are relayed to the port). On failure the
// dialog is the last attempt's (nil when none was sent) and the error is
// that attempt's: a *sipgo.ErrDialogResponse for a final answer, a
// transaction or context error otherwise, or ErrTrunk when no trunk could
// be tried.
func (c *call) placeTrunk(body []byte, destType string, onResponse func(*sip.Response), log *slog.Logger) (*sipgo.DialogClientSession, error) {
	s := c.s
	c.mu.Lock()
	num := c.number
	c.mu.Unlock()
	names, err := s.trunks.Route(num, destType)
	if err != nil {
		log.Warn("no trunk route for the call", "destination_type", destType, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrTrunk, err)
	}
	var dlg *sipgo.DialogClientSession
	var lastErr error
	var skipped []string
	tried := 0
	for i, name := range names {
		if c.ctx.Err() != nil {
			return dlg, context.Cause(c.ctx)
		}
		lease, err := s.trunks.Acquire(name)
		if err != nil {
			log.Info("trunk skipped", "trunk", name, "why", err)
			skipped = append(skipped, err.Error())
			continue
		}
		next := slices.ContainsFunc(names[i+1:], s.trunks.Available)
		d, failover, err := c.attempt(lease, tried, body, next, onResponse, log)
		tried++
		if d != nil {
			dlg = d
		}
		if err == nil {
			return dlg, nil
		}
		c.releaseTrunk()
		if !failover {
			return dlg, err
		}
		log.Warn("trunk failed over", "trunk", name, "err", err)
		lastErr = err
	}
	if lastErr != nil {
		return dlg, lastErr
	}
	return dlg, fmt.Errorf("%w: no trunk available (%s)", ErrTrunk, strings.Join(skipped, "; "))
}

// releaseTrunk frees the call's slot on its trunk (the name stays, for
// the record).
func (c *call) releaseTrunk() {
	c.mu.Lock()
	l := c.leg.lease
	c.leg.lease = nil
	c.mu.Unlock()
	if l != nil {
		l.Release()
	}
}

// attempt places the call on one trunk. n numbers the attempt (its SIP
// Call-ID is the call id, then <call id>-<n+1>); next says whether
// another trunk could take the call, which arms the trunk's Timeout. It
// reports whether the failure allows the next trunk to be tried, and
// when it does, this attempt is over (see the rules above).
func (c *call) attempt(lease *trunks.Lease, n int, body []byte, next bool, onResponse func(*sip.Response), log *slog.Logger) (*sipgo.DialogClientSession, bool, error) {
	s := c.s
	tr := lease.Trunk()
	cid := c.id
	if n > 0 {
		cid = c.id + "-" + strconv.Itoa(n+1)
	}
	c.mu.Lock()
	old := c.leg.cid
	c.leg = trunkLeg{name: tr.Name, cid: cid, lease: lease}
	c.mu.Unlock()
	s.mu.Lock()
	if old != "" && old != cid {
		delete(s.byTrunk, old) // a late request on a left attempt matches no call
	}
	s.byTrunk[cid] = c
	s.mu.Unlock()

	se := s.cfg.SessionExpires
	log.Info("placing the call on a trunk", "trunk", tr.Name, "address", tr.Address, "attempt", n+1)
	dlg, err := c.attemptInvite(c.ctx, tr, cid, body, se, 1)
	if err != nil {
		return nil, next, err
	}
	var rang atomic.Bool
	err, cause := c.waitTrunk(dlg, tr, n, next, &rang, onResponse, log)
	var dr422 *sipgo.ErrDialogResponse
	if se > 0 && errors.As(err, &dr422) && c.ctx.Err() == nil && cause == nil {
		if min, ok := minSEOf(dr422.Res, se); ok {
			// 422: the trunk wants a longer session interval; ask again
			// once (CSeq 2) on the same trunk, with its Min-SE.
			log.Info("trunk asks for a longer session interval", "trunk", tr.Name, "min_se", min)
			dlg.Close()
			if dlg, err = c.attemptInvite(c.ctx, tr, cid, body, min, 2); err != nil {
				return nil, next, err
			}
			err, cause = c.waitTrunk(dlg, tr, n, next, &rang, onResponse, log)
		}
	}
	if err == nil {
		if cause == errAttemptTimeout && c.ctx.Err() == nil {
			// The 200 crossed our CANCEL: this trunk wins.
			log.Info("trunk answered as it was cancelled: it carries the call", "trunk", tr.Name)
		}
		// A call that stopped meanwhile: connect acknowledges and hangs up.
		return dlg, false, nil
	}
	if c.ctx.Err() != nil {
		return dlg, false, err // the call itself stopped: connect answers for it
	}
	switch cause {
	case errAttemptTimeout:
		return dlg, true, fmt.Errorf("%w: %s: %w within %v (cancelled)", ErrTrunk, tr.Name, errAttemptTimeout, tr.Timeout)
	case sipgo.WaitAnswerForceCancelErr:
		// The dialog now belongs to the clean-up of late answers: the
		// call forgets it.
		c.mu.Lock()
		if c.dlgB == dlg {
			c.dlgB = nil
		}
		c.mu.Unlock()
		s.abandon(dlg, tr, log)
		return nil, true, fmt.Errorf("%w: %s: no answer to the INVITE within %v", ErrTrunk, tr.Name, tr.Timeout)
	}
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) {
		return dlg, next && trunks.Failover(dr.Res.StatusCode), err
	}
	return dlg, next, fmt.Errorf("%w: %s: %w", ErrTrunk, tr.Name, err)
}

// waitTrunk waits for the final answer to an attempt's INVITE. The leg is
// cancelled by us, not by sipgo's WaitAnswer, which would send its CANCEL
// to the Request-URI's host instead of the trunk's address and lose a 200
// that crosses the CANCEL: when the call stops, or (with next) the trunk
// has only said 100 Trying within its Timeout, cancelTrunk sends the
// CANCEL to where the INVITE went and WaitAnswer goes on reading the
// INVITE's answers, the 487 or a 200 that crossed. A trunk that said
// nothing at all within its Timeout is given up (no CANCEL can be sent
// before a provisional answer). cause says which of these happened (nil:
// none, the trunk answered by itself); rang is set by any answer other
// than 100.
func (c *call) waitTrunk(dlg *sipgo.DialogClientSession, tr trunks.Trunk, n int, next bool, rang *atomic.Bool, onResponse func(*sip.Response), log *slog.Logger) (err, cause error) {
	waitCtx, stopWait := context.WithCancelCause(context.Background())
	defer stopWait(nil)
	provisional := make(chan struct{})
	var provOnce sync.Once
	var whyMu sync.Mutex
	var why error // the first reason the wait was cut short
	setWhy := func(cause error) bool {
		whyMu.Lock()
		defer whyMu.Unlock()
		if why != nil {
			return false
		}
		why = cause
		return true
	}
	cancelLeg := func(cause error) {
		if setWhy(cause) {
			go c.cancelTrunk(dlg, provisional, waitCtx, stopWait, log)
		}
	}
	stopOnCall := context.AfterFunc(c.ctx, func() { cancelLeg(context.Cause(c.ctx)) })
	defer stopOnCall()
	var responded atomic.Bool
	var timer clock.Timer
	if next {
		timer = c.s.clk.AfterFunc(tr.Timeout, func() {
			switch {
			case rang.Load():
			case responded.Load():
				cancelLeg(errAttemptTimeout)
			default:
				if setWhy(sipgo.WaitAnswerForceCancelErr) {
					stopWait(sipgo.WaitAnswerForceCancelErr) // nothing to CANCEL yet
				}
			}
		})
	}
	err = dlg.WaitAnswer(waitCtx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.IsProvisional() {
			provOnce.Do(func() { close(provisional) })
			if !responded.Swap(true) {
				log.Info("trunk responded", "trunk", tr.Name, "attempt", n+1, "status", r.StatusCode)
			}
		}
		if r.StatusCode != sip.StatusTrying {
			rang.Store(true)
		}
		onResponse(r)
		return nil
	}})
	if timer != nil {
		timer.Stop()
	}
	if context.Cause(waitCtx) == sipgo.WaitAnswerForceCancelErr {
		// cancelTrunk gave up waiting for the final answer, or nothing
		// was heard: the dialog is abandoned either way.
		return err, sipgo.WaitAnswerForceCancelErr
	}
	whyMu.Lock()
	defer whyMu.Unlock()
	return err, why
}

// attemptInvite sends an attempt's INVITE (CSeq cseq, session interval
// se) and makes its dialog the call's trunk dialog.
func (c *call) attemptInvite(ctx context.Context, tr trunks.Trunk, cid string, body []byte, se time.Duration, cseq uint32) (*sipgo.DialogClientSession, error) {
	s := c.s
	inv, err := s.trunkInvite(c, tr, cid, body, se, cseq)
	if err != nil {
		return nil, err
	}
	dlg, err := s.dialogUA(tr.Transport).WriteInvite(ctx, inv)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTrunk, tr.Name, err)
	}
	c.mu.Lock()
	c.dlgB = dlg
	c.mu.Unlock()
	return dlg, nil
}

// trunkInvite builds an attempt's INVITE: sip:<number>@<domain>, sent
// over the trunk's transport to its address, with Call-ID cid and CSeq
// cseq (explicit, so that a BYE after a restart can go above it). se > 0
// asks for RFC 4028 session timers with that interval.
func (s *Server) trunkInvite(c *call, tr trunks.Trunk, cid string, body []byte, se time.Duration, cseq uint32) (*sip.Request, error) {
	host, port, err := splitDomain(tr.Domain)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	number := c.number
	c.mu.Unlock()
	uri := sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(strings.ToUpper(tr.Transport))
	req.SetDestination(tr.Address)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "kinline", Host: s.cfg.PublicIP}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}, Params: sip.NewParams()})
	h := sip.CallIDHeader(cid)
	req.AppendHeader(&h)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.INVITE})
	if se > 0 {
		addSessionTimer(req, se)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	return req, nil
}

// splitDomain splits a trunk domain into host and port (0 when absent).
func splitDomain(domain string) (string, int, error) {
	h, p, err := net.SplitHostPort(domain)
	if err != nil {
		return domain, 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("%w: trunk domain %q", ErrConfig, domain)
	}
	return h, n, nil
}

// ping sends one keep-alive OPTIONS to a trunk (a trunks.Pinger).
func (s *Server) ping(ctx context.Context, tr trunks.Trunk) (int, error) {
	host, port, err := splitDomain(tr.Domain)
	if err != nil {
		return 0, err
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: port})
	req.SetTransport(strings.ToUpper(tr.Transport))
	req.SetDestination(tr.Address)
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res, err := s.dialogUA(tr.Transport).Client.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("OPTIONS to %s: %w", tr.Address, err)
	}
	return res.StatusCode, nil
}

// abandoned is a trunk attempt whose INVITE transaction is gone (given
// up with no answer): what arrives for it later is cleaned up
// (lateTrunkResponse), never bridged.
type abandoned struct {
	dlg *sipgo.DialogClientSession
	tr  trunks.Trunk
	log *slog.Logger

	mu        sync.Mutex
	cancelled bool // a CANCEL was sent
	hungUp    bool // a late 200 was ACKed and hung up
}

// orphan keeps an attempt whose transaction is gone for Timer B (64*T1,
// the INVITE's own lifetime), so that a late answer is cleaned up.
func (s *Server) orphan(dlg *sipgo.DialogClientSession, tr trunks.Trunk, log *slog.Logger) *abandoned {
	a := &abandoned{dlg: dlg, tr: tr, log: log}
	cid := dlg.InviteRequest.CallID().Value()
	s.mu.Lock()
	s.orphans[cid] = a
	s.mu.Unlock()
	s.clk.AfterFunc(sip.Timer_B, func() {
		s.mu.Lock()
		if s.orphans[cid] == a {
			delete(s.orphans, cid)
		}
		s.mu.Unlock()
	})
	return a
}

// abandon gives up an attempt with no answer (see orphan). A provisional
// answer already read (it raced the give-up) is CANCELled now.
func (s *Server) abandon(dlg *sipgo.DialogClientSession, tr trunks.Trunk, log *slog.Logger) {
	read := dlg.InviteResponse // before late answers may write it
	a := s.orphan(dlg, tr, log)
	log.Warn("trunk sent nothing in time: INVITE given up; a late answer will be cancelled or hung up", "trunk", tr.Name, "timeout", tr.Timeout)
	if read != nil {
		s.lateResponse(a, read)
	}
}

// lateTrunkResponse handles a response that matched no transaction: when
// it answers an abandoned attempt's INVITE it is cleaned up and true is
// returned.
func (s *Server) lateTrunkResponse(r *sip.Response) bool {
	id, cseq := r.CallID(), r.CSeq()
	if id == nil || cseq == nil || cseq.MethodName != sip.INVITE {
		return false
	}
	s.mu.Lock()
	a := s.orphans[id.Value()]
	s.mu.Unlock()
	if a == nil {
		return false
	}
	s.lateResponse(a, r)
	return true
}

// lateResponse cleans up one answer to an abandoned INVITE: a provisional
// one is CANCELled (once), a 200 ACKed and hung up (once), another final
// one ACKed (its retransmissions too).
func (s *Server) lateResponse(a *abandoned, r *sip.Response) {
	inv := a.dlg.InviteRequest
	cli := s.dialogUA(a.tr.Transport).Client
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.IsProvisional():
		if a.cancelled || a.hungUp {
			return
		}
		a.cancelled = true
		a.log.Warn("abandoned trunk attempt answered late: cancelling it", "trunk", a.tr.Name, "status", r.StatusCode)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			defer cancel()
			if _, err := cli.Do(ctx, newCancel(inv), noBuild); err != nil {
				a.log.Debug("CANCEL of an abandoned attempt failed", "trunk", a.tr.Name, "err", err)
			}
		}()
	case r.IsSuccess():
		if a.hungUp {
			return
		}
		a.hungUp = true
		a.log.Warn("abandoned trunk attempt answered 200 late: hanging it up, never bridged", "trunk", a.tr.Name)
		d := a.dlg
		d.InviteResponse = r
		go func() {
			if err := d.Ack(context.Background()); err != nil {
				a.log.Debug("ACK of a late 200 failed", "trunk", a.tr.Name, "err", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			defer cancel()
			if err := d.Bye(ctx); err != nil {
				a.log.Debug("BYE of a late 200 failed", "trunk", a.tr.Name, "err", err)
			}
		}()
	default:
		if err := cli.WriteRequest(ackNon2xx(inv, r), noBuild); err != nil {
			a.log.Debug("ACK of a late final answer failed", "trunk", a.tr.Name, "err", err)
		}
	}
}

// ackNon2xx builds the ACK of a non-2xx final answer to an INVITE whose
// transaction is gone (RFC 3261 17.1.1.3: the INVITE's Via, the answer's
// To).
func ackNon2xx(inv *sip.Request, r *sip.Response) *sip.Request {
	req := sip.NewRequest(sip.ACK, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(r.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.SetBody(nil)
	return req
}

// TrunkStatus lists the trunks' state (up or down by their keep-alives,
// calls in progress), in configuration order.
func (s *Server) TrunkStatus() []trunks.Status { return s.trunks.Status() }
