package callctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrMalformed: a request breaks RFC 3261's rules for the headers every
// request carries (section 8.1.1) or holds bytes no header may hold.
var ErrMalformed = errors.New("callctl: malformed request")

// errTooManyHops: an INVITE arrived with Max-Forwards 0 (RFC 3261 section
// 16.3 step 2): the B2BUA would forward it.
var errTooManyHops = errors.New("callctl: Max-Forwards exhausted")

// checkRequest tells whether req may be processed at all: exactly one
// From, To, Call-ID and CSeq (sipgo keeps the first of each and
// silently ignores the others, so a second From would decide nothing and
// a second CSeq nothing either), at most one Max-Forwards, a CSeq method
// equal to the request's (RFC 3261 section 8.1.1.5), no control
// character other than HTAB in any header value (a NUL ends the value
// for some peers and not for others), and, for an INVITE, which the
// B2BUA forwards, a Max-Forwards above 0; and no more than
// MaxRequestSize bytes in all. The error is errTooLarge, errTooManyHops
// or wraps ErrMalformed and reads as a reason phrase.
func checkRequest(req *sip.Request) error {
	var from, to, callID, cseq, maxFwd int
	size := requestLineSize(req)
	var bad error
	for _, h := range req.Headers() {
		v := h.Value()
		size += len(h.Name()) + len(v) + 4
		switch h.(type) {
		case *sip.FromHeader:
			from++
		case *sip.ToHeader:
			to++
		case *sip.CallIDHeader:
			callID++
		case *sip.CSeqHeader:
			cseq++
		case *sip.MaxForwardsHeader:
			maxFwd++
		}
		if bad == nil && controlChar(v) >= 0 {
			bad = fmt.Errorf("%w: control character in %s header", ErrMalformed, safeHeaderName(h.Name()))
		}
	}
	if size > MaxRequestSize {
		return errTooLarge
	}
	if bad != nil {
		return bad
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"From", from}, {"To", to}, {"Call-ID", callID}, {"CSeq", cseq}} {
		switch {
		case c.n == 0:
			return fmt.Errorf("%w: no %s header", ErrMalformed, c.name)
		case c.n > 1:
			return fmt.Errorf("%w: %d %s headers", ErrMalformed, c.n, c.name)
		}
	}
	if maxFwd > 1 {
		return fmt.Errorf("%w: %d Max-Forwards headers", ErrMalformed, maxFwd)
	}
	if req.CallID().Value() == "" {
		return fmt.Errorf("%w: empty Call-ID", ErrMalformed)
	}
	if m := req.CSeq().MethodName; m != req.Method {
		return fmt.Errorf("%w: CSeq method %s is not the request's", ErrMalformed, sanitizeReason(string(m), "(none)"))
	}
	if req.IsInvite() {
		if mf := req.MaxForwards(); mf != nil && *mf == 0 {
			return errTooManyHops
		}
	}
	return nil
}

// controlChar is the index of the first control character (other than
// HTAB) in v, or -1.
func controlChar(v string) int {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}

// safeHeaderName is a header name fit for a reason phrase.
func safeHeaderName(n string) string {
	if controlChar(n) >= 0 || len(n) > 40 {
		return "a"
	}
	return n
}

// checked answers a request that checkRequest rejects, 400 (483 for an
// exhausted INVITE, 513 for one over MaxRequestSize) with the rule it broke as the reason phrase, before
// the handler h sees it: nothing is authenticated, placed or answered
// otherwise. A malformed ACK cannot be answered and is dropped.
func (s *Server) checked(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		err := checkRequest(req)
		if err == nil {
			h(req, tx)
			return
		}
		s.log.Info("malformed SIP request refused", "method", sanitizeReason(string(req.Method), "?"), "source", req.Source(), "err", err)
		if req.IsAck() {
			return
		}
		if errors.Is(err, errTooLarge) {
			s.respond(req, tx, sip.StatusMessageTooLarge, "Message Too Large")
			return
		}
		if errors.Is(err, errTooManyHops) {
			s.respond(req, tx, 483, "Too Many Hops")
			return
		}
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request ("+sanitizeReason(strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "), "malformed")+")")
	}
}
