// Package callctl is the appliance's SIP side: a registrar for the IAD's FXS
// ports (digest-authenticated REGISTER, bindings with expiry) and a
// back-to-back user agent that turns a port's authenticated INVITE into an
// authorized call on the SIP trunk, with media anchored on the appliance.
//
// For each INVITE from a port the Server challenges it (407), asks the
// injected Authorizer, refuses with "403 <reason>" or places an INVITE to
// sip:<number>@<trunk>, relays 180/183 and the final answer, bridges the two
// legs through an injected MediaSession, and reports every attempt exactly
// once through OnCallEnd as a wire.CallRecord.
//
// With Config.HotlineNumber and Deps.Hotline, an INVITE to the hotline
// number (an IAD port hotlining on pick-up) is answered by the appliance,
// which runs the IVR itself (hotline.go): card tap, PIN, a menu with the
// balance and calls left, the number, then the authorized trunk call
// bridged to the answered port leg; every ending is spoken before BYE.
// Keys reach the IVR and the called party's acceptance as RFC 4733
// events, in-band G.711 tones (media's detector, while a leg sends no
// events) or SIP INFO (info.go) from either leg.
//
// With family acceptance the called party first hears who is calling
// (announce.go): the name the person recorded at the hotline (menu option
// 3, Deps.Names) or their policy name spoken at run time (Deps.Speaker),
// and the prison's name. Opus is negotiated end to end on direct-dialled
// calls when both legs can do it; legs the appliance talks to stay G.711
// or get their prompts in the G.711 format answered beside Opus
// (docs/decisions/0007-opus-and-prompts.md).
//
// The call flow runs in phases (outgoing.go, hotline.go): the port's
// offer, authorization, then media, trunk, negotiation, acceptance and
// bridge; on the hotline the tap, PIN, menu and number first. Each phase
// returns an outcome, and one place (outcome.go) applies an ending: the
// trunk hung up, the port answered or, on the hotline, spoken to and hung
// up, the disposition set for the record.
//
// Time (nonce expiry, binding expiry, ring and duration limits, call record
// timestamps) comes from an injected shared/clock.Clock.
package callctl

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/kinline/kinline/appliance/callctl/trunks"
)

// Config configures a Server. The zero value plus at least one Terminal and
// a Trunk.Address (or Trunks) is usable; WithDefaults fills in the rest.
type Config struct {
	// Listen is the UDP address the server binds for SIP. Default
	// "127.0.0.1:5060".
	Listen string
	// TCP also accepts SIP over TCP on Listen's address and port (RFC 3261
	// section 18 asks every element for UDP and TCP). A dialog a port
	// opens over TCP stays on TCP: its answers go back on the port's
	// connection, the appliance's BYE goes over TCP to the port's Contact,
	// and the Contact the appliance gives says transport=tcp. Default
	// false; a trunk with Transport "tcp" turns it on.
	TCP bool
	// TCPMaxConns bounds the SIP connections peers have open to the
	// server at once. A new connection is still accepted at the cap: the
	// one closed to make room is one that has not delivered a message yet
	// (the oldest first), else the least recently active. Default 256.
	TCPMaxConns int
	// TCPMaxConnsPerSource bounds the connections from one IP address; a
	// new one past it closes that address's least recently active
	// connection. Default 32.
	TCPMaxConnsPerSource int
	// TCPFirstMessageTimeout is how long a new connection has to deliver
	// its first complete SIP message before it is closed. Default 5 s.
	TCPFirstMessageTimeout time.Duration
	// TCPIdleTimeout closes a connection that has carried nothing for
	// this long. Default: MaxExpires or MaxDuration, whichever is longer,
	// plus a minute (a registered port refreshes within MaxExpires; a
	// connection quiet through the longest call is gone). The appliance
	// dials the port's Contact if it must send on a closed one.
	TCPIdleTimeout time.Duration
	// MaxTransactions bounds the SIP transactions the server keeps state
	// for at once: authenticated INVITEs (a call in setup, a refusal
	// waiting for its ACK, an answered INVITE for RFC 6026's 32 s) and
	// accepted REGISTERs. Past it a request is answered 503 Service
	// Unavailable with Retry-After, keeping nothing. Challenges and other
	// refusals keep no state at all. Default 256.
	MaxTransactions int
	// MaxTransactionsPerTerminal bounds the same for one port, so that
	// one port (or whoever has its password) cannot take the others'
	// room. Default 16.
	MaxTransactionsPerTerminal int
	// RetryAfter is the Retry-After of a 503 answered under overload.
	// Default 5 s.
	RetryAfter time.Duration
	// PublicIP is the address written in Via, Contact and (unless MediaIP is
	// set) SDP. Default: the Listen host, or 127.0.0.1 if that is
	// unspecified.
	PublicIP string
	// MediaIP is the address written in SDP c= lines for both legs.
	// Default: the media session's own address if it is specified, else
	// PublicIP.
	MediaIP string
	// Realm is the digest authentication realm. Default "kinline".
	Realm string
	// NonceTTL is how long a digest nonce stays valid, and only from the
	// address it was issued to; within it a port may reuse the nonce with
	// increasing nonce counts (each count once). Default 30 s: a port's
	// later request on an older nonce is challenged again with stale=true,
	// which every IAD answers without asking anyone.
	NonceTTL time.Duration
	// MaxExpires caps the binding lifetime a port may ask for in REGISTER.
	// Default 3600 s. MinExpires (default 60 s) is the shortest accepted;
	// shorter requests are raised to it.
	MaxExpires, MinExpires time.Duration
	// Terminals are the IAD ports allowed to register and call.
	Terminals []Terminal
	// Trunk is where allowed calls go when Trunks is empty: it becomes
	// the one trunk (named trunks.DefaultName) with a catch-all route.
	Trunk Trunk
	// Trunks are the SIP trunks allowed calls may be placed on and Routes
	// choose among them by number prefix and destination type
	// (AuthResult.DestinationType), in priority order, with failover when
	// a trunk answers 5xx, does not ring within its Timeout, is marked down
	// by its OPTIONS keep-alives or carries its MaxCalls (package trunks).
	// Set either Trunk or Trunks, not both. Routes empty: one catch-all
	// route through Trunks in the order listed.
	Trunks []trunks.Trunk
	Routes []trunks.Route
	// RingTimeout bounds the time from placing the trunk call to its answer;
	// the call then ends as no_answer (408 to the port). Default 60 s.
	RingTimeout time.Duration
	// MaxDuration is a hard limit on an answered call; when it is reached
	// both legs are hung up and the disposition is "limited". Default 1 h.
	// AuthResult.MaxDuration may shorten it per call. Both parties hear
	// "2 minutes remaining" and "1 minute remaining" before the end.
	MaxDuration time.Duration
	// FamilyAccept makes the called party accept the call before it is
	// bridged: when the trunk answers, leg B hears who is calling, "this
	// call is recorded" (unless the call is privileged) and "press 1 to
	// accept, 9 to block" while the port hears ringback. 1 bridges the
	// call (its Answer time is the acceptance); 9 ends it as "rejected"
	// and reports a wire.NumberBlocked; no key within AcceptTimeout, or a
	// hang-up, ends it as "rejected", never bridged. Default false (bridge
	// at once, for trunks that cannot press keys, such as sipp).
	FamilyAccept bool
	// AcceptTimeout bounds the wait for the called party's key, counted
	// from the trunk's answer. Default 20 s.
	AcceptTimeout time.Duration
	// SpokenRefusals makes a refused call answer the port with 183 Session
	// Progress and SDP, speak the refusal in the person's language as
	// early media, then send the 403. Default false (403 at once).
	SpokenRefusals bool
	// UserAgent is the User-Agent / Server header value. Default
	// "kinline-appliance".
	UserAgent string
	// HotlineNumber is the Request-URI user an IAD port dials when it
	// hotlines to the appliance on pick-up (for example "100"). With
	// Deps.Hotline set, call control answers such an INVITE and runs the
	// hotline IVR (see Hotline). "" disables it: the number is an ordinary
	// destination.
	HotlineNumber string
	// TapTimeout bounds the hotline's wait for a card tap after "please
	// tap your card". Default 30 s.
	TapTimeout time.Duration
	// DigitTimeout bounds each wait for a key at the hotline: the first
	// key after a prompt and the time between keys of a PIN or number (an
	// entry ends at '#' or when it runs out). Default 8 s.
	DigitTimeout time.Duration
	// SessionExpires is the session interval the trunk INVITE asks for
	// (RFC 4028 session timers, the appliance as refresher): a trunk that
	// supports them ends a call nobody refreshes, such as one whose
	// appliance died, within this long. Default DefaultSessionExpires;
	// negative leaves session timers out of the INVITE.
	SessionExpires time.Duration
}

// Terminal is one IAD port: its id in Kinline (the block's terminal id) and
// its SIP digest credentials.
type Terminal struct {
	ID       string
	SIPUser  string
	Password string
}

// Trunk is the SIP trunk allowed calls are placed on.
type Trunk struct {
	// Address is the trunk's "host:port" where INVITEs are sent.
	Address string
	// Transport is how the trunk is reached: "udp" (the default) or
	// "tcp". With "tcp" the server also listens on TCP (Config.TCP), where
	// the trunk sends its in-dialog requests (the family's BYE).
	Transport string
	// Domain is the host part of the Request-URI (sip:<number>@<Domain>).
	// Default: Address.
	Domain string
}

// WithDefaults returns a copy of c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5060"
	}
	if c.PublicIP == "" {
		if ap, err := netip.ParseAddrPort(c.Listen); err == nil && !ap.Addr().IsUnspecified() {
			c.PublicIP = ap.Addr().String()
		} else {
			c.PublicIP = "127.0.0.1"
		}
	}
	if c.Realm == "" {
		c.Realm = "kinline"
	}
	if c.NonceTTL <= 0 {
		c.NonceTTL = 30 * time.Second
	}
	if c.MaxExpires <= 0 {
		c.MaxExpires = time.Hour
	}
	if c.MinExpires <= 0 {
		c.MinExpires = time.Minute
	}
	if c.MinExpires > c.MaxExpires {
		c.MinExpires = c.MaxExpires
	}
	if c.Trunk.Domain == "" {
		c.Trunk.Domain = c.Trunk.Address
	}
	c.Trunk.Transport = strings.ToLower(c.Trunk.Transport)
	if c.Trunk.Transport == "" {
		c.Trunk.Transport = "udp"
	}
	if len(c.Trunks) == 0 {
		c.Trunks = []trunks.Trunk{{Name: trunks.DefaultName, Address: c.Trunk.Address, Transport: c.Trunk.Transport, Domain: c.Trunk.Domain}}
	}
	tc := c.trunkConfig()
	c.Trunks, c.Routes = tc.Trunks, tc.Routes
	if tc.UsesTCP() {
		c.TCP = true
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = time.Minute
	}
	if c.SessionExpires == 0 {
		c.SessionExpires = DefaultSessionExpires
	} else if c.SessionExpires > 0 && c.SessionExpires < MinSE {
		c.SessionExpires = MinSE
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = time.Hour
	}
	if c.MaxTransactions <= 0 {
		c.MaxTransactions = 256
	}
	if c.MaxTransactionsPerTerminal <= 0 {
		c.MaxTransactionsPerTerminal = 16
	}
	if c.RetryAfter < time.Second {
		c.RetryAfter = 5 * time.Second
	}
	if c.TCPMaxConns <= 0 {
		c.TCPMaxConns = 256
	}
	if c.TCPMaxConnsPerSource <= 0 {
		c.TCPMaxConnsPerSource = 32
	}
	if c.TCPFirstMessageTimeout <= 0 {
		c.TCPFirstMessageTimeout = 5 * time.Second
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = max(c.MaxExpires, c.MaxDuration) + time.Minute
	}
	if c.AcceptTimeout <= 0 {
		c.AcceptTimeout = 20 * time.Second
	}
	if c.UserAgent == "" {
		c.UserAgent = "kinline-appliance"
	}
	if c.TapTimeout <= 0 {
		c.TapTimeout = 30 * time.Second
	}
	if c.DigitTimeout <= 0 {
		c.DigitTimeout = 8 * time.Second
	}
	return c
}

// trunkConfig is the trunks' configuration, defaults filled in.
func (c Config) trunkConfig() trunks.Config {
	return trunks.Config{Trunks: c.Trunks, Routes: c.Routes}.WithDefaults()
}

// Validate reports configuration errors (wrapping ErrConfig).
func (c Config) Validate() error {
	if _, err := netip.ParseAddrPort(c.Listen); err != nil {
		return fmt.Errorf("%w: listen %q: %v", ErrConfig, c.Listen, err)
	}
	if _, err := netip.ParseAddr(c.PublicIP); err != nil {
		return fmt.Errorf("%w: public IP %q: %v", ErrConfig, c.PublicIP, err)
	}
	if c.MediaIP != "" {
		if _, err := netip.ParseAddr(c.MediaIP); err != nil {
			return fmt.Errorf("%w: media IP %q: %v", ErrConfig, c.MediaIP, err)
		}
	}
	if c.Trunk.Address != "" || len(c.Trunks) == 0 {
		// The single trunk (WithDefaults makes it Trunks[0]).
		if _, _, err := net.SplitHostPort(c.Trunk.Address); err != nil {
			return fmt.Errorf("%w: trunk address %q: %v", ErrConfig, c.Trunk.Address, err)
		}
		if t := c.Trunk.Transport; t != "" && t != "udp" && t != "tcp" {
			return fmt.Errorf("%w: trunk transport %q: udp or tcp", ErrConfig, t)
		}
		if len(c.Trunks) > 0 && !(len(c.Trunks) == 1 && c.Trunks[0].Name == trunks.DefaultName && c.Trunks[0].Address == c.Trunk.Address) {
			return fmt.Errorf("%w: set Trunk or Trunks, not both", ErrConfig)
		}
	}
	if len(c.Trunks) > 0 {
		if err := c.trunkConfig().Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if c.HotlineNumber != "" && !validNumber(c.HotlineNumber) {
		return fmt.Errorf("%w: hotline number %q", ErrConfig, c.HotlineNumber)
	}
	ids := map[string]bool{}
	users := map[string]bool{}
	for _, t := range c.Terminals {
		if t.ID == "" || t.SIPUser == "" || t.Password == "" {
			return fmt.Errorf("%w: terminal %q needs an id, a SIP user and a password", ErrConfig, t.ID)
		}
		if ids[t.ID] || users[t.SIPUser] {
			return fmt.Errorf("%w: duplicate terminal %q / user %q", ErrConfig, t.ID, t.SIPUser)
		}
		ids[t.ID], users[t.SIPUser] = true, true
	}
	return nil
}
