// Package phone simulates the SIP phones around a Kinline appliance, for
// the demo, tests and the kinline-sipsim tool:
//
//   - Port is an IAD FXS port: it REGISTERs with digest auth, places calls
//     (INVITE with digest auth, SDP offering PCMU, PCMA and
//     telephone-event), sends a G.711 tone as RTP, counts what it receives
//     and hangs up; on an answered call it presses keys as RFC 4733
//     events (Call.SendDTMF) or SIP INFO (Call.SendINFO), as a person
//     does at the appliance's hotline IVR.
//   - Family is a "family phone" UAS standing in for the SIP trunk: it
//     rings (180), answers (or refuses with a chosen status, or never
//     answers), sends a different tone, counts received RTP and hangs up
//     after a while or when it receives BYE.
//
// Both run over UDP on loopback or any local address, each on its own
// sipgo user agent. RTP comes from internal/rtpphone.
package phone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sdp"
	"github.com/kinline/kinline/internal/poll"
	"github.com/kinline/kinline/internal/rtpphone"
)

// Errors of the simulated phones.
var (
	ErrClosed    = errors.New("phone: closed")
	ErrNoMedia   = errors.New("phone: no usable media in SDP")
	ErrConfig    = errors.New("phone: invalid config")
	ErrHungUp    = errors.New("phone: call already ended")
	ErrTransport = errors.New("phone: SIP transport failure")
)

// StatusError is a final non-2xx SIP response.
type StatusError struct {
	Code   int
	Reason string
	// EarlyRTP counts the RTP packets received before the final answer
	// (early media after 183 Session Progress).
	EarlyRTP uint64
}

func (e *StatusError) Error() string { return fmt.Sprintf("phone: %d %s", e.Code, e.Reason) }

// frame is the RTP packetization interval; chunk is how much tone one
// rtpphone.Send call carries (tones are whole cycles per chunk, so the
// chunks join without clicks).
const (
	frame = 20 * time.Millisecond
	chunk = 100 * time.Millisecond
)

// endpoint is a sipgo user agent serving one bound UDP socket, with a
// client that sends from that same socket.
type endpoint struct {
	conn net.PacketConn
	addr netip.AddrPort
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	log  *slog.Logger
}

func newEndpoint(listen, name string, log *slog.Logger) (*endpoint, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	conn, err := net.ListenPacket("udp4", listen)
	if err != nil {
		return nil, fmt.Errorf("phone: listen %s: %w", listen, err)
	}
	addr, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("phone: local address: %w", err)
	}
	host := addr.Addr().String()
	if addr.Addr().IsUnspecified() {
		host = "127.0.0.1"
	}
	sipLog := log.With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(name),
		sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("unmatched SIP response (retransmission)", "status", r.StatusCode, "source", r.Source())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
	)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("phone: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("phone: server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(host),
		sipgo.WithClientPort(int(addr.Port())), sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("phone: client: %w", err)
	}
	return &endpoint{conn: conn, addr: addr, ua: ua, srv: srv, cli: cli, log: log}, nil
}

// serve starts reading the socket and returns once sipgo can send from it.
func (e *endpoint) serve() {
	go func() {
		if err := e.srv.ServeUDP(e.conn); err != nil {
			e.log.Debug("phone: serve ended", "err", err)
		}
	}()
	waitServing(e.ua, e.conn.LocalAddr().String())
}

// waitServing waits (up to 5 s) until the transport layer has the
// listening socket in its pool; requests sent before that would try to
// bind a second socket to the same address.
func waitServing(ua *sipgo.UserAgent, addr string) {
	_ = poll.Until(context.Background(), 5*time.Second, time.Millisecond, func() bool {
		c, err := ua.TransportLayer().GetConnection("udp", addr)
		return err == nil && c != nil
	})
}

func (e *endpoint) close() error {
	err := e.conn.Close()
	e.ua.Close()
	return err
}

func (e *endpoint) host() string {
	if e.addr.Addr().IsUnspecified() {
		return "127.0.0.1"
	}
	return e.addr.Addr().String()
}

// openRTP opens an rtpphone on the endpoint's host, any port, keeping
// keep samples of received audio (0: the default).
func (e *endpoint) openRTP(keep int) (*rtpphone.Phone, error) {
	ip, _ := netip.ParseAddr(e.host())
	p, err := rtpphone.Listen(netip.AddrPortFrom(ip, 0), rtpphone.WithLogger(e.log), rtpphone.WithAudioKeep(keep))
	if err != nil {
		return nil, fmt.Errorf("phone: rtp: %w", err)
	}
	return p, nil
}

// offerBody is the SDP offer a port sends: opus/48000/2 first (with
// opus), PCMU, PCMA and (with te) telephone-event.
func offerBody(addr netip.AddrPort, te, opus bool) []byte {
	formats := []sdp.Format{sdp.PCMU, sdp.PCMA}
	if opus {
		formats = append([]sdp.Format{sdp.Opus}, formats...)
	}
	if te {
		formats = append(formats, sdp.TelephoneEvent)
	}
	return sdp.Build(sdp.Description{
		Addr:      addr,
		Formats:   formats,
		PTime:     20,
		SessionID: uint64(time.Now().Unix()),
		Username:  "sipsim",
	})
}

// pickCodec returns the first G.711 format of s.
func pickCodec(s *sdp.Session) (sdp.Format, bool) {
	for _, f := range s.Formats {
		if f.Is("PCMU") || f.Is("PCMA") {
			return f, true
		}
	}
	return sdp.Format{}, false
}
