package callctl

// Keys sent by SIP INFO (RFC 2976) on either leg: application/dtmf-relay
// ("Signal=5") and application/dtmf ("5") bodies, fed into the same
// digit stream as RFC 4733 events and in-band tones, so the hotline IVR
// and the called party's acceptance read one channel whatever the
// gateway sends.

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/dtmf"
	"github.com/kinline/kinline/appliance/media"
)

// infoKey decides what an INFO request with this Content-Type and body
// means: a key (status 200), nothing to act on (key 0, status 200: an
// empty keep-alive INFO, or an event other than a key such as a
// flash-hook), or an error status (415 for a content type that carries
// no keys, 400 for a malformed body).
func infoKey(contentType string, body []byte) (key rune, status int) {
	if strings.TrimSpace(contentType) == "" && len(body) == 0 {
		return 0, sip.StatusOK
	}
	r, err := dtmf.ParseINFO(contentType, body)
	switch {
	case err == nil:
		return r.Key, sip.StatusOK
	case errors.Is(err, dtmf.ErrContentType):
		return 0, sip.StatusUnsupportedMediaType
	case errors.Is(err, dtmf.ErrUnsupported):
		return 0, sip.StatusOK
	default:
		return 0, sip.StatusBadRequest
	}
}

// onInfo takes a key pressed on either leg of a call.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	if !wellFormed(req) {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	c, port := s.lookup(req)
	if c == nil || (port && c.portDialog() == nil) || (!port && c.trunkDialog() == nil) {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	key, status := infoKey(ct, req.Body())
	switch status {
	case sip.StatusOK:
	case sip.StatusUnsupportedMediaType:
		s.respond(req, tx, status, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	default:
		s.respond(req, tx, status, "Bad Request")
		return
	}
	if key != 0 {
		leg := media.LegB
		if port {
			leg = media.LegA
		}
		c.mu.Lock()
		ms := c.media
		c.mu.Unlock()
		var err error = media.ErrUnsupported
		if ms != nil {
			err = ms.ReportDigit(leg, key)
		}
		switch {
		case errors.Is(err, media.ErrUnsupported):
			s.log.Warn("INFO key dropped: no media session takes keys", "call", c.id, "leg", leg.String())
		case err != nil:
			s.log.Debug("INFO key not delivered", "call", c.id, "leg", leg, "err", err)
		default:
			s.log.Info("key by SIP INFO", "call", c.id, "leg", leg.String(), "key", string(key))
		}
	}
	s.respond(req, tx, sip.StatusOK, "OK")
}
