package callctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/appliance/callctl/sipvia"
	"github.com/kinline/kinline/appliance/callctl/trunks"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Server is the appliance's registrar and B2BUA. Create it with New, then
// Run it.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	clk  clock.Clock
	auth *digestAuth
	gate *txGate
	// shedLogged is when (UnixNano, by the clock) overload was last logged.
	shedLogged atomic.Int64

	mu       sync.Mutex
	conn     net.PacketConn
	addr     netip.AddrPort
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	cli      *sipgo.Client
	dua      *sipgo.DialogUA
	tcpLn    net.Listener    // nil unless Config.TCP
	tcpGuard *tcpGuard       // tcpLn's limits (nil unless Config.TCP)
	duaTCP   *sipgo.DialogUA // dialogs over TCP (nil unless Config.TCP)
	runCtx   context.Context
	bindings map[string]Binding // by terminal id
	calls    map[string]*call   // by Kinline call id
	byPortID map[string]*call   // by the port leg's SIP Call-ID
	byTrunk  map[string]*call   // by the trunk leg's SIP Call-ID
	wg       sync.WaitGroup
	// noSpeech is done once the lack of a speech synthesiser was logged.
	noSpeech sync.Once
	// serving is closed once Run serves the SIP socket: requests the
	// appliance originates (EndDialog) are then sent from it.
	serving chan struct{}
	// trunks is the trunks' state and routes; orphans the trunk
	// attempts given up with no answer, by SIP Call-ID (trunkleg.go).
	trunks  *trunks.Table
	orphans map[string]*abandoned
}

// New checks cfg (after WithDefaults) and returns a Server. Nothing is bound
// until Listen or Run.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Authorizer == nil || deps.Media == nil {
		return nil, fmt.Errorf("%w: Authorizer and Media are required", ErrConfig)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	if deps.OnCallEnd == nil {
		deps.OnCallEnd = func(wire.CallRecord) {}
	}
	auth, err := newDigestAuth(cfg.Realm, cfg.NonceTTL, deps.Clock, cfg.Terminals)
	if err != nil {
		return nil, err
	}
	tt, err := trunks.New(cfg.trunkConfig(), deps.Clock, deps.Logger.With("component", "trunks"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &Server{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger.With("component", "callctl"),
		clk:      deps.Clock,
		auth:     auth,
		gate:     newTxGate(cfg.MaxTransactions, cfg.MaxTransactionsPerTerminal),
		bindings: map[string]Binding{},
		calls:    map[string]*call{},
		byPortID: map[string]*call{},
		byTrunk:  map[string]*call{},
		serving:  make(chan struct{}),
		trunks:   tt,
		orphans:  map[string]*abandoned{},
	}, nil
}

// Listen binds the UDP socket, and with Config.TCP the TCP listener on the
// same port (if not yet bound). Addr is valid afterwards.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("%w: listen %q: %v", ErrConfig, s.cfg.Listen, err)
	}
	network := "udp4"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("callctl: listen %s: %w", s.cfg.Listen, err)
	}
	bound, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return fmt.Errorf("callctl: local address: %w", err)
	}
	sipLog := s.deps.Logger.With("component", "sipgo")
	ua, err := s.newUA(sipLog)
	if err != nil {
		conn.Close()
		return fmt.Errorf("callctl: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		conn.Close()
		return fmt.Errorf("callctl: sip server: %w", err)
	}
	cli, err := sipgo.NewClient(ua,
		sipgo.WithClientLogger(sipLog),
		sipgo.WithClientHostname(s.cfg.PublicIP),
		sipgo.WithClientPort(int(bound.Port())),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()),
	)
	if err != nil {
		ua.Close()
		conn.Close()
		return fmt.Errorf("callctl: sip client: %w", err)
	}
	if s.cfg.TCP {
		if err := s.listenTCP(ua, sipLog, network, bound); err != nil {
			ua.Close()
			conn.Close()
			return fmt.Errorf("callctl: SIP over TCP on %s: %w", bound, err)
		}
	}
	s.conn, s.addr, s.ua, s.srv, s.cli = conn, bound, ua, srv, cli
	s.dua = &sipgo.DialogUA{
		Client: cli,
		ContactHDR: sip.ContactHeader{
			Address: sip.Uri{Scheme: "sip", User: "kinline", Host: s.cfg.PublicIP, Port: int(bound.Port())},
		},
	}
	s.route(srv)
	return nil
}

// newUA is the SIP user agent: Kinline's Via parser, late trunk answers
// taken (lateTrunkResponse), TCP timeouts from the config.
func (s *Server) newUA(sipLog *slog.Logger) (*sipgo.UserAgent, error) {
	return sipgo.NewUA(
		sipgo.WithUserAgent(s.cfg.UserAgent),
		sipgo.WithUserAgentParser(sipvia.NewParser()), // RFC 3261 whitespace in Via

		sipgo.WithUserAgentHostname(s.cfg.PublicIP),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				if s.lateTrunkResponse(r) {
					return
				}
				sipLog.Debug("unmatched SIP response (retransmission)", "status", r.StatusCode, "source", r.Source())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: &sip.TransportTCP{
				ReadTimeout:  s.cfg.TCPIdleTimeout,
				WriteTimeout: 10 * time.Second,
			}}),
		),
	)
}

// listenTCP binds the TCP listener on the UDP socket's address (network:
// the UDP network), guarded (tcpguard.go), and its dialog UA.
func (s *Server) listenTCP(ua *sipgo.UserAgent, sipLog *slog.Logger, network string, bound netip.AddrPort) error {
	// The TCP client has no fixed local address: a connection it dials
	// cannot share the listening port, and answers to what it sends
	// come back on the connection it opened.
	cliTCP, err := sipgo.NewClient(ua,
		sipgo.WithClientLogger(sipLog),
		sipgo.WithClientHostname(s.cfg.PublicIP),
		sipgo.WithClientPort(int(bound.Port())),
	)
	if err != nil {
		return err
	}
	s.tcpLn, err = net.Listen(strings.Replace(network, "udp", "tcp", 1), bound.String())
	if err != nil {
		return err
	}
	s.tcpGuard = newTCPGuard(s.tcpLn, s.cfg.TCPMaxConns, s.cfg.TCPMaxConnsPerSource, s.cfg.TCPFirstMessageTimeout, s.log)
	s.tcpLn = s.tcpGuard
	ua.TransportLayer().OnMessage(s.tcpGuard.prove)
	contact := sip.Uri{Scheme: "sip", User: "kinline", Host: s.cfg.PublicIP, Port: int(bound.Port()), UriParams: sip.NewParams()}
	contact.UriParams.Add("transport", "tcp")
	s.duaTCP = &sipgo.DialogUA{Client: cliTCP, ContactHDR: sip.ContactHeader{Address: contact}}
	return nil
}

// route gives each SIP method its handler, guarded (checked) and
// panic-safe (safe).
func (s *Server) route(srv *sipgo.Server) {
	srv.OnRegister(s.safe(s.checked(s.onRegister)))
	srv.OnInvite(s.safe(s.checked(s.onInvite)))
	srv.OnAck(s.safe(s.checked(s.onAck)))
	srv.OnBye(s.safe(s.checked(s.onBye)))
	srv.OnCancel(s.safe(s.checked(s.onCancel)))
	srv.OnOptions(s.safe(s.checked(s.onOptions)))
	srv.OnInfo(s.safe(s.checked(s.onInfo)))
	srv.OnUpdate(s.safe(s.checked(s.onUpdate)))
}

// Addr is the bound SIP address (valid after Listen).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens (if needed) and serves SIP until ctx is done. It then ends
// every call (disposition "ended", or "failed" before answer), waits for
// their records and releases the socket. It returns nil after a clean stop.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.runCtx != nil {
		s.mu.Unlock()
		return fmt.Errorf("callctl: Run called twice")
	}
	s.runCtx = ctx
	conn, srv, ua, tcpLn := s.conn, s.srv, s.ua, s.tcpLn
	s.mu.Unlock()
	trunkNames := make([]string, len(s.cfg.Trunks))
	for i, t := range s.cfg.Trunks {
		trunkNames[i] = t.Name + "=" + t.Address
	}
	s.log.Info("SIP server listening", "addr", conn.LocalAddr().String(), "terminals", len(s.cfg.Terminals), "trunks", strings.Join(trunkNames, ","))

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.ServeUDP(conn) }()
	if tcpLn != nil {
		s.log.Info("SIP over TCP listening", "addr", tcpLn.Addr().String())
		go func() { serveErr <- srv.ServeTCP(tcpLn) }()
	}
	waitServing(ua, conn.LocalAddr().String())
	close(s.serving)
	// Keep-alives leave from the listening socket: start them once it serves.
	kaCtx, kaStop := context.WithCancel(ctx)
	kaDone := make(chan struct{})
	go func() { s.trunks.KeepAlive(kaCtx, trunks.PingerFunc(s.ping)); close(kaDone) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		if err != nil {
			err = fmt.Errorf("callctl: serve: %w", err)
		}
	}
	kaStop()
	<-kaDone
	s.mu.Lock()
	active := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		active = append(active, c)
	}
	s.mu.Unlock()
	for _, c := range active {
		c.stop(errShutdown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.log.Error("calls did not finish at shutdown")
	}
	if tcpLn != nil {
		tcpLn.Close()
	}
	conn.Close()
	ua.Close()
	return err
}

// dialogUA is the dialog user agent for a dialog over transport ("UDP",
// "TCP", as sipgo names a message's transport, or the trunk's "udp",
// "tcp"): its client sends on that transport, its Contact says so.
func (s *Server) dialogUA(transport string) *sipgo.DialogUA {
	if s.duaTCP != nil && strings.EqualFold(transport, "tcp") {
		return s.duaTCP
	}
	return s.dua
}

// waitServing waits (up to 5 s) until sipgo's transport layer holds the
// listening socket, so that requests we originate are sent from it.
func waitServing(ua *sipgo.UserAgent, addr string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// ActiveCalls lists the calls in progress.
func (s *Server) ActiveCalls() []ActiveCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ActiveCall, 0, len(s.calls))
	for _, c := range s.calls {
		out = append(out, c.snapshot())
	}
	return out
}

// EndCall ends a call at once (BYE to both legs, or CANCEL before answer);
// its record has disposition "ended". It waits until the call is torn down
// or ctx is done.
func (s *Server) EndCall(ctx context.Context, callID string) error {
	s.mu.Lock()
	c := s.calls[callID]
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: %q", ErrNoSuchCall, callID)
	}
	c.stop(errEnded)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("callctl: end call %q: %w", callID, ctx.Err())
	}
}

// Bindings lists the unexpired registrations.
func (s *Server) Bindings() []Binding {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Binding, 0, len(s.bindings))
	for _, b := range s.bindings {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

// safe turns a panic in a handler into a logged 500, so hostile input can
// never take the server down.
func (s *Server) safe(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic in SIP handler", "method", string(req.Method), "source", req.Source(), "panic", r, "stack", string(debug.Stack()))
				func() {
					defer func() { _ = recover() }()
					if !req.IsAck() {
						_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil))
					}
				}()
			}
		}()
		h(req, tx)
	}
}

// respond answers req: a refusal (300 and up) statelessly, since
// answering a retransmission of the request again changes nothing and
// keeping it would let a flood of bad requests hold transactions for
// Timer H or J; a success on the transaction, so that a retransmitted
// request (an INFO key, an unregistration) is answered from it and not
// acted on twice.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	if code >= 300 {
		s.respondStateless(req, tx, code, reason, hdrs...)
		return
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Warn("SIP answer not sent", "code", code, "err", err)
	}
}

// wellFormed checks the headers every request must carry (RFC 3261 8.1.1).
func wellFormed(req *sip.Request) bool {
	return req.From() != nil && req.To() != nil && req.CallID() != nil && req.CSeq() != nil &&
		req.Via() != nil && req.CallID().Value() != ""
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if !wellFormed(req) {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	// Stateless: OPTIONS needs no authentication, so a flood of them must
	// leave nothing behind.
	s.respondStateless(req, tx, sip.StatusOK, "OK", sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO"))
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if !wellFormed(req) {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	term, ok := s.authenticate(req, tx, "Authorization", "WWW-Authenticate", sip.StatusUnauthorized, "Unauthorized")
	if !ok {
		return
	}
	if to := req.To(); to.Address.User != "" && to.Address.User != term.SIPUser {
		s.log.Warn("REGISTER for another user refused", "user", term.SIPUser, "to", to.Address.User, "source", req.Source())
		s.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return
	}
	release, ok := s.admit(req, tx, term)
	if !ok {
		return
	}
	defer release()

	now := s.clk.Now()
	expires := s.cfg.MaxExpires
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32); err == nil {
			expires = time.Duration(n) * time.Second
		}
	}
	contact := req.Contact()
	if contact != nil {
		if v, ok := contact.Params.Get("expires"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				expires = time.Duration(n) * time.Second
			}
		}
	}

	s.mu.Lock()
	for id, b := range s.bindings {
		if !b.Expires.After(now) {
			delete(s.bindings, id)
		}
	}
	switch {
	case contact == nil:
		// A query: answer with the current binding.
	case contact.Address.Wildcard || expires == 0:
		delete(s.bindings, term.ID)
		s.mu.Unlock()
		s.log.Info("port unregistered", "terminal", term.ID, "source", req.Source())
		s.respond(req, tx, sip.StatusOK, "OK")
		return
	default:
		expires = min(max(expires, s.cfg.MinExpires), s.cfg.MaxExpires)
		s.bindings[term.ID] = Binding{
			Terminal: term.ID,
			User:     term.SIPUser,
			Contact:  contact.Address.String(),
			Source:   req.Source(),
			Expires:  now.Add(expires),
		}
	}
	b, bound := s.bindings[term.ID]
	s.mu.Unlock()

	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if bound {
		c := contact
		if c == nil {
			c = &sip.ContactHeader{}
			if err := sip.ParseUri(b.Contact, &c.Address); err != nil {
				c = nil
			}
		}
		if c != nil {
			rc := sip.ContactHeader{Address: c.Address, Params: sip.NewParams()}
			rc.Params.Add("expires", strconv.Itoa(int(b.Expires.Sub(now)/time.Second)))
			res.AppendHeader(&rc)
		}
		if contact != nil {
			s.log.Info("port registered", "terminal", term.ID, "contact", b.Contact, "source", b.Source, "expires", b.Expires.Sub(now))
		}
	}
	if err := tx.Respond(res); err != nil {
		s.log.Warn("SIP answer not sent", "err", err)
	}
}

// authenticate checks the request's digest credentials. On failure it has
// already answered: a challenge (code) when credentials are missing, stale
// or replayed, 403 when they are wrong. Challenges are sent statelessly
// (RFC 3261 8.2.7, as hardened registrars do): the request's transaction
// ends with the answer, so an unanswered challenge is neither kept for 32 s
// nor retransmitted, and a port that resends its request gets a fresh one.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, authHdr, chalHdr string, code int, reason string) (Terminal, bool) {
	val := ""
	if h := req.GetHeader(authHdr); h != nil {
		val = h.Value()
	}
	if val == "" && s.gate.full() {
		// Full: shed the attempt before its challenge, which would only
		// bring its ACK and a second request to shed.
		s.shed(req, tx, "")
		return Terminal{}, false
	}
	client := sourceAddr(req)
	term, err := s.auth.check(val, string(req.Method), req.Recipient, client)
	switch {
	case err == nil:
		return term, true
	case errors.Is(err, ErrStaleNonce):
		if err != ErrStaleNonce { // a count used before, not an expired nonce
			s.log.Warn("SIP credentials replayed, challenging again", "method", string(req.Method), "source", req.Source(), "err", err)
		}
		s.respondStateless(req, tx, code, reason, sip.NewHeader(chalHdr, s.auth.challenge(client, true)))
	case errors.Is(err, ErrAuth):
		s.log.Warn("SIP authentication failed", "method", string(req.Method), "source", req.Source(), "err", err)
		s.respond(req, tx, sip.StatusForbidden, "Forbidden")
	default:
		if val != "" {
			s.log.Debug("unusable credentials, challenging", "source", req.Source(), "err", err)
		}
		s.respondStateless(req, tx, code, reason, sip.NewHeader(chalHdr, s.auth.challenge(client, false)))
	}
	return Terminal{}, false
}

// sourceAddr is the IP address a request came from (the zero Addr if its
// source is not an address).
func sourceAddr(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// respondStateless answers req on the connection it came in on and ends
// its transaction at once: nothing of it is kept and the answer is not
// retransmitted (a client that lost it resends its request).
func (s *Server) respondStateless(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	var err error
	if c, ok := tx.(interface{ Connection() sip.Connection }); ok && c.Connection() != nil {
		err = c.Connection().WriteMsg(res)
		tx.Terminate()
	} else {
		err = tx.Respond(res)
	}
	if err != nil {
		s.log.Debug("stateless respond failed", "code", code, "err", err)
	}
}

// lookup finds a call by a request's SIP Call-ID and tells which leg it is on.
func (s *Server) lookup(req *sip.Request) (*call, bool) {
	id := req.CallID()
	if id == nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.byPortID[id.Value()]; c != nil {
		return c, true
	}
	if c := s.byTrunk[id.Value()]; c != nil {
		return c, false
	}
	return nil, false
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c, port := s.lookup(req)
	if c == nil || !port || req.CSeq() == nil {
		return
	}
	if d := c.portDialog(); d != nil {
		if err := d.ReadAck(req, tx); err != nil {
			s.log.Debug("ACK not matched", "call", c.id, "err", err)
		}
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if !wellFormed(req) {
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	c, port := s.lookup(req)
	if c == nil {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if port {
		d := c.portDialog()
		if d == nil || d.ReadBye(req, tx) != nil {
			s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
		c.goneOnce.Do(func() { close(c.portGone) })
		c.stop(errPortBye)
		return
	}
	d := c.trunkDialog()
	if d == nil || d.ReadBye(req, tx) != nil {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.stop(errTrunkBye)
}

// onCancel sees only CANCELs that matched no INVITE transaction (matched
// ones are answered by the transaction layer, which fires the INVITE's
// OnCancel).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// Serving reports whether Run serves the SIP socket (from when it
// listens until the end of the process).
func (s *Server) Serving() bool {
	select {
	case <-s.serving:
		return true
	default:
		return false
	}
}
