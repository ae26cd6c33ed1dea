package callctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// RFC 4028 session timers on the trunk leg. The trunk INVITE asks for a
// session interval with the appliance as refresher (Session-Expires with
// refresher=uac, Supported: timer, Min-SE). When the trunk's 2xx confirms
// a session timer with the appliance as refresher, the appliance
// refreshes the session every half interval (UPDATE when the trunk allows
// it, else a re-INVITE with the session description it offered): a trunk
// that supports session timers ends a dialog that nobody refreshes, so a
// call whose appliance died ends at the trunk within one interval even if
// no BYE reaches it. A trunk that answers 422 gets the INVITE again with
// the interval it asks for (Min-SE); a 2xx without Session-Expires means
// no session timer.

const (
	// DefaultSessionExpires is Config.SessionExpires's default.
	DefaultSessionExpires = 10 * time.Minute
	// MinSE is the smallest session interval the appliance accepts from a
	// peer or asks for (RFC 4028's floor).
	MinSE = 90 * time.Second
	// maxSE bounds the interval a 422 may impose.
	maxSE = 2 * time.Hour
	// minRefresh floors the refresh period of a trunk that imposes an
	// interval shorter than Min-SE.
	minRefresh = time.Second
	// refreshTimeout bounds each refresh transaction.
	refreshTimeout = 32 * time.Second
	// statusIntervalTooSmall is 422 Session Interval Too Small.
	statusIntervalTooSmall = 422
)

// ErrSessionExpires is wrapped by the parse errors of Session-Expires and
// Min-SE values.
var ErrSessionExpires = errors.New("callctl: malformed session timer header")

// errSessionExpired ends a call whose trunk session could not be
// refreshed (the dialog is gone at the trunk, or no refresh was answered
// before the session expired).
var errSessionExpired = errors.New("trunk session expired (not refreshed)")

// seconds writes a duration as RFC 4028 delta-seconds.
func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// addSessionTimer adds the session timer request headers for interval se
// (the appliance as refresher) to a trunk INVITE or refresh.
func addSessionTimer(req *sip.Request, se time.Duration) {
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	req.AppendHeader(sip.NewHeader("Session-Expires", seconds(se)+";refresher=uac"))
	req.AppendHeader(sip.NewHeader("Min-SE", seconds(MinSE)))
}

// maxDelta bounds delta-seconds (RFC 3261's 2**31-1), which keeps a
// Duration from overflowing.
const maxDelta = 1<<31 - 1

// parseDelta parses delta-seconds (1*DIGIT, 1 to maxDelta).
func parseDelta(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("%w: delta-seconds %q", ErrSessionExpires, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: delta-seconds %q", ErrSessionExpires, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 || n > maxDelta {
		return 0, fmt.Errorf("%w: delta-seconds %q", ErrSessionExpires, s)
	}
	return time.Duration(n) * time.Second, nil
}

// parseSessionExpires parses a Session-Expires value, "delta-seconds
// *(;param)": the interval and the refresher ("uac", "uas", or "" when
// the parameter is absent). Unknown parameters are ignored.
func parseSessionExpires(v string) (time.Duration, string, error) {
	parts := strings.Split(v, ";")
	d, err := parseDelta(parts[0])
	if err != nil {
		return 0, "", err
	}
	refresher := ""
	for _, p := range parts[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "refresher") {
			continue
		}
		switch r := strings.ToLower(strings.TrimSpace(val)); r {
		case "uac", "uas":
			refresher = r
		default:
			return 0, "", fmt.Errorf("%w: refresher %q", ErrSessionExpires, val)
		}
	}
	return d, refresher, nil
}

// parseMinSE parses a Min-SE value ("delta-seconds *(;param)").
func parseMinSE(v string) (time.Duration, error) {
	d, _, _ := strings.Cut(v, ";")
	return parseDelta(d)
}

// sessionExpiresOf reads a message's Session-Expires (or its compact
// form, x): ok is false when there is none.
func sessionExpiresOf(m interface{ GetHeader(string) sip.Header }) (d time.Duration, refresher string, ok bool, err error) {
	h := m.GetHeader("Session-Expires")
	if h == nil {
		h = m.GetHeader("x")
	}
	if h == nil {
		return 0, "", false, nil
	}
	d, refresher, err = parseSessionExpires(h.Value())
	return d, refresher, err == nil, err
}

// minSEOf is a 422's Min-SE, if usable: larger than se and at most maxSE.
func minSEOf(res *sip.Response, se time.Duration) (time.Duration, bool) {
	if res == nil || res.StatusCode != statusIntervalTooSmall {
		return 0, false
	}
	h := res.GetHeader("Min-SE")
	if h == nil {
		return 0, false
	}
	d, err := parseMinSE(h.Value())
	if err != nil || d <= se || d > maxSE {
		return 0, false
	}
	return d, true
}

// allows reports whether a response's Allow lists method.
func allows(res *sip.Response, method sip.RequestMethod) bool {
	for _, h := range res.GetHeaders("Allow") {
		for _, m := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(m), string(method)) {
				return true
			}
		}
	}
	return false
}

// startSessionTimer starts refreshing the trunk dialog when its 2xx made
// the appliance the refresher; offer is the session description the
// appliance offered (sent again by a re-INVITE refresh). The returned
// function stops it.
func (c *call) startSessionTimer(dlgB *sipgo.DialogClientSession, offer []byte, log *slog.Logger) (stop func()) {
	res := dlgB.InviteResponse
	interval, refresher, ok, err := sessionExpiresOf(res)
	if err != nil {
		log.Warn("trunk's Session-Expires unusable: no session refresh", "err", err)
	}
	if !ok || refresher == "uas" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.refreshLoop(ctx, dlgB, interval, allows(res, sip.UPDATE), offer, log)
	}()
	return func() { cancel(); <-done }
}

// refreshLoop refreshes the session every half interval until ctx is
// done; it ends the call when the trunk no longer knows the dialog or
// when the session expires unrefreshed.
func (c *call) refreshLoop(ctx context.Context, dlgB *sipgo.DialogClientSession, interval time.Duration, update bool, offer []byte, log *slog.Logger) {
	clk := c.s.clk
	expires := clk.Now().Add(interval)
	wait := max(interval/2, minRefresh)
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(wait):
		}
		res, err := c.refresh(ctx, dlgB, interval, update, offer)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && res.IsSuccess():
			d, _, ok, _ := sessionExpiresOf(res)
			if !ok {
				log.Info("trunk dropped the session timer")
				return
			}
			interval, expires, wait = d, clk.Now().Add(d), max(d/2, minRefresh)
			log.Debug("trunk session refreshed", "interval", d)
			continue
		case err == nil && res.StatusCode == statusIntervalTooSmall:
			if d, ok := minSEOf(res, interval); ok {
				interval, wait = d, 0
				continue
			}
		case err == nil && (res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTimeout):
			log.Warn("trunk no longer knows the call: ending it", "status", res.StatusCode)
			c.stop(errSessionExpired)
			return
		case err == nil && res.StatusCode == sip.StatusMethodNotAllowed && update:
			update, wait = false, 0 // try a re-INVITE at once
			continue
		}
		// Not refreshed: try again while the session lasts.
		left := expires.Sub(clk.Now())
		if left <= minRefresh {
			log.Warn("trunk session expired unrefreshed: ending the call", "err", err)
			c.stop(errSessionExpired)
			return
		}
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		log.Warn("trunk session refresh failed: retrying", "status", status, "err", err, "left", left)
		wait = max(left/3, minRefresh)
	}
}

// refresh sends one session refresh within dlgB and returns its final
// answer (a re-INVITE's 2xx is acknowledged).
func (c *call) refresh(ctx context.Context, dlgB *sipgo.DialogClientSession, interval time.Duration, update bool, offer []byte) (*sip.Response, error) {
	target := dlgB.InviteRequest.Recipient
	if ct := dlgB.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	method := sip.INVITE
	if update {
		method = sip.UPDATE
	}
	req := sip.NewRequest(method, *target.Clone())
	addSessionTimer(req, interval)
	if !update {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offer)
	}
	rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	res, err := dlgB.Do(rctx, req)
	if err != nil {
		return nil, err
	}
	if !update && res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, *target.Clone())
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
		if err := dlgB.WriteRequest(ack); err != nil {
			return res, fmt.Errorf("ACK to the refresh: %w", err)
		}
	}
	return res, nil
}

// echoSessionTimer puts in a 2xx the session timer of the request it
// answers (a peer's refresh): the same interval and refresher, the
// requester when it named none.
func echoSessionTimer(req *sip.Request, res *sip.Response) {
	d, refresher, ok, err := sessionExpiresOf(req)
	if !ok || err != nil {
		return
	}
	if refresher == "" {
		refresher = "uac"
	}
	res.AppendHeader(sip.NewHeader("Session-Expires", seconds(d)+";refresher="+refresher))
	if refresher == "uac" {
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
}

// onUpdate answers an UPDATE within a call (RFC 3311), which a peer sends
// to refresh its session (RFC 4028): without a body it gets a 200 with
// its session timer echoed; an offer in it gets the session already
// negotiated on that leg, as a re-INVITE does (the anchored media stays).
func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if !wellFormed(req) {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	c, port := s.lookup(req)
	if c == nil || (port && c.portDialog() == nil) || (!port && c.trunkDialog() == nil) {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if len(req.Body()) > 0 {
		c.mu.Lock()
		body := c.bodyB
		if port {
			body = c.bodyA
		}
		c.mu.Unlock()
		if body == nil {
			s.respond(req, tx, sip.StatusRequestPending, "Request Pending")
			return
		}
		res = sip.NewSDPResponseFromRequest(req, body)
	}
	res.AppendHeader(&s.dialogUA(req.Transport()).ContactHDR)
	echoSessionTimer(req, res)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("UPDATE respond failed", "call", c.id, "err", err)
	}
}
