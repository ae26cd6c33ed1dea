// Package trunks chooses the SIP trunk an authorized call is placed on.
//
// An appliance may reach the outside world through several trunks (a SIP
// carrier, a PSTN or E1 gateway, an IMS access). Routes pick, by number
// prefix and by destination type (the classes the rates use: local,
// national, mobile, international, custom), an ordered list of trunks: the
// first is tried first, the next only if it fails over (Failover: a 5xx
// answer, or no ringing in time), is marked down by its OPTIONS keep-alives
// (KeepAlive) or carries its maximum of concurrent calls (Acquire).
//
// The package holds the configuration, the routing decision and each
// trunk's state (up or down, calls in progress); call control (the parent
// package) places the INVITEs and asks it which trunk comes next. It sends
// nothing itself: keep-alives go through an injected Pinger, and time comes
// from an injected shared/clock.Clock.
package trunks

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/kinline/kinline/shared/policy/number"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the trunk layer.
var (
	// ErrConfig wraps every configuration error.
	ErrConfig = errors.New("trunks: invalid config")
	// ErrNoRoute: no route matches the number and its destination type.
	ErrNoRoute = errors.New("trunks: no route for number")
	// ErrDown: the trunk's keep-alives say it is down.
	ErrDown = errors.New("trunks: trunk is down")
	// ErrFull: the trunk carries its maximum of concurrent calls.
	ErrFull = errors.New("trunks: trunk at its call limit")
	// ErrUnknown: no trunk of that name.
	ErrUnknown = errors.New("trunks: no such trunk")
)

// Defaults.
const (
	// DefaultName names the one trunk of a configuration written with the
	// single sip.trunk of earlier versions.
	DefaultName = "trunk"
	// DefaultTimeout is Trunk.Timeout's default.
	DefaultTimeout = 5 * time.Second
	// DefaultDownAfter is Trunk.DownAfter's default.
	DefaultDownAfter = 2
)

// Trunk is one SIP trunk (carrier, softswitch, PSTN/E1 gateway).
type Trunk struct {
	// Name identifies the trunk in routes, logs and call records
	// (letters, digits, '.', '_', '-'; at most 64).
	Name string
	// Address is the "host:port" INVITEs and OPTIONS are sent to.
	Address string
	// Transport is "udp" (the default) or "tcp".
	Transport string
	// Domain is the host part of the Request-URI (sip:<number>@<Domain>).
	// Default: Address.
	Domain string
	// MaxCalls bounds the calls in progress on this trunk (ringing or
	// answered); a call finding it full goes to the next trunk of its
	// route. 0: no limit.
	MaxCalls int
	// Timeout is how long the trunk has to ring (180/183) or answer an
	// INVITE when the route has another trunk to try: then the attempt is
	// cancelled (or, with no answer at all, abandoned) and the next trunk
	// is tried. The last trunk of a route is waited for until the call's
	// ring timeout. It also bounds each keep-alive OPTIONS. Default 5 s.
	Timeout time.Duration
	// KeepAlive is the interval of OPTIONS keep-alives (RFC 3261 11):
	// after DownAfter unanswered (or 5xx-answered) ones in a row the trunk
	// is down and skipped by every route until an OPTIONS is answered
	// again. 0 sends none (the trunk is always up).
	KeepAlive time.Duration
	// DownAfter is how many failed keep-alives in a row mark the trunk
	// down. Default 2.
	DownAfter int
}

// Route sends the numbers it matches to its trunks, in order.
type Route struct {
	// Prefix is a normalized number prefix ("+44", "0", "+"): the route
	// matches numbers that start with it. "" matches every number.
	Prefix string
	// Types are destination types (wire.Dest*: local, national, mobile,
	// international, custom), those of the rate the call is priced at:
	// the route matches only calls of one of them. Empty: any call,
	// unrated ones included.
	Types []string
	// Trunks are trunk names in priority order: the first is tried first.
	Trunks []string
}

// Config is the trunks and the routes among them.
type Config struct {
	Trunks []Trunk
	// Routes choose a call's trunks: of the routes that match a call, the
	// one with the longest Prefix wins, then one naming Types over one
	// that does not, then the first listed. Empty: one catch-all route
	// through every trunk in the order listed.
	Routes []Route
}

// WithDefaults returns a copy of c with defaults filled in (slices are
// copied, c is left as it was).
func (c Config) WithDefaults() Config {
	c.Trunks = slices.Clone(c.Trunks)
	for i := range c.Trunks {
		t := &c.Trunks[i]
		t.Transport = strings.ToLower(t.Transport)
		if t.Transport == "" {
			t.Transport = "udp"
		}
		if t.Domain == "" {
			t.Domain = t.Address
		}
		if t.Timeout <= 0 {
			t.Timeout = DefaultTimeout
		}
		if t.DownAfter <= 0 {
			t.DownAfter = DefaultDownAfter
		}
	}
	if len(c.Routes) == 0 && len(c.Trunks) > 0 {
		all := make([]string, len(c.Trunks))
		for i, t := range c.Trunks {
			all[i] = t.Name
		}
		c.Routes = []Route{{Trunks: all}}
	} else {
		c.Routes = slices.Clone(c.Routes)
	}
	return c
}

// Validate reports the first configuration error (wrapping ErrConfig).
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	if len(c.Trunks) == 0 {
		return bad("at least one trunk is required")
	}
	names := map[string]bool{}
	for _, t := range c.Trunks {
		if !validName(t.Name) {
			return bad("trunk name %q: letters, digits, '.', '_' and '-', at most 64", t.Name)
		}
		if names[t.Name] {
			return bad("duplicate trunk %q", t.Name)
		}
		names[t.Name] = true
		if _, _, err := net.SplitHostPort(t.Address); err != nil {
			return bad("trunk %q: address %q: %v", t.Name, t.Address, err)
		}
		if tr := strings.ToLower(t.Transport); tr != "" && tr != "udp" && tr != "tcp" {
			return bad("trunk %q: transport %q: udp or tcp", t.Name, t.Transport)
		}
		if t.MaxCalls < 0 || t.Timeout < 0 || t.KeepAlive < 0 || t.DownAfter < 0 {
			return bad("trunk %q: negative max_calls, timeout, keepalive or down_after", t.Name)
		}
		if t.KeepAlive > 0 && t.KeepAlive < time.Second {
			return bad("trunk %q: keepalive %v: at least 1s", t.Name, t.KeepAlive)
		}
	}
	for i, r := range c.Routes {
		if !validPrefix(r.Prefix) {
			return bad("route %d: prefix %q is not a normalized number prefix (digits, an optional leading '+', not \"00\")", i, r.Prefix)
		}
		for _, ty := range r.Types {
			switch ty {
			case wire.DestLocal, wire.DestNational, wire.DestMobile, wire.DestInternational, wire.DestCustom:
			default:
				return bad("route %d: destination type %q (local, national, mobile, international, custom)", i, ty)
			}
		}
		if len(r.Trunks) == 0 {
			return bad("route %d: names no trunk", i)
		}
		seen := map[string]bool{}
		for _, n := range r.Trunks {
			if !names[n] {
				return bad("route %d: unknown trunk %q", i, n)
			}
			if seen[n] {
				return bad("route %d: trunk %q listed twice", i, n)
			}
			seen[n] = true
		}
	}
	return nil
}

// UsesTCP reports whether any trunk is reached over TCP.
func (c Config) UsesTCP() bool {
	for _, t := range c.Trunks {
		if strings.EqualFold(t.Transport, "tcp") {
			return true
		}
	}
	return false
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// validPrefix: "" or "+", or an optional '+' then digits, not "00...".
func validPrefix(p string) bool {
	if len(p) > number.MaxLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !(p[i] >= '0' && p[i] <= '9' || p[i] == '+' && i == 0) {
			return false
		}
	}
	return !strings.HasPrefix(p, "00")
}

// Failover reports whether a trunk's final answer to an INVITE means the
// next trunk of the route should be tried: a 5xx (the trunk or what is
// behind it failed: 500, 502, 503, 504, ...). Every other answer is the
// called party's (busy, not found, declined) and ends the call.
func Failover(status int) bool { return status >= 500 && status <= 599 }

// pick returns the route for a call: the matching route with the longest
// prefix, then one with types, then the first listed; nil when none
// matches. n is the normalized number (or the dialled one when it does not
// normalize).
func pick(routes []Route, n, destType string) *Route {
	var best *Route
	bestLen, bestTyped := -1, false
	for i := range routes {
		r := &routes[i]
		if !strings.HasPrefix(n, r.Prefix) {
			continue
		}
		typed := len(r.Types) > 0
		if typed && !slices.Contains(r.Types, destType) {
			continue
		}
		if len(r.Prefix) > bestLen || len(r.Prefix) == bestLen && typed && !bestTyped {
			best, bestLen, bestTyped = r, len(r.Prefix), typed
		}
	}
	return best
}
