package signin

// Sign-in throttling (docs/decisions/0038-sign-in-throttling.md): token
// buckets of failed sign-ins on the injected clock, per source address,
// per (account, address) and per account. An account's bucket never stops
// an address that has not been failing against it, so nobody can lock a
// user out by guessing their password from elsewhere. Usernames are keys
// whether or not such a user exists, so that the throttle answers alike
// for both.

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/kinline/kinline/shared/clock"
)

// A limit is a bucket's size and the time it takes to win back one
// failure.
type limit struct {
	burst  float64
	refill time.Duration
}

// Limits of the throttle.
var (
	// An address may fail 20 times, then once every 30 s (any account,
	// or tokens).
	addrLimit = limit{burst: 20, refill: 30 * time.Second}
	// An address may fail 5 times for one account, then once a minute.
	pairLimit = limit{burst: 5, refill: time.Minute}
	// An account may fail 10 times (from everywhere), then once every
	// 30 s before it is under attack: then only addresses that have not
	// failed for it more than accountSlack times recently may try it.
	accountLimit = limit{burst: 10, refill: 30 * time.Second}
)

// accountSlack is how many recent failures for an account an address
// may have and still try it while the account is under attack: a user who
// mistyped once still gets a second try from their own address.
const accountSlack = 1

// maxKeys bounds each table of buckets; past it, buckets that are full
// again are forgotten, then arbitrary ones (forgetting only ever lets an
// attempt through that a full table would have slowed).
const maxKeys = 100_000

// maxAccountKey bounds the username kept as a key.
const maxAccountKey = 64

type bucket struct {
	tokens float64
	at     time.Time
}

type table struct {
	lim     limit
	buckets map[string]bucket
}

// level is the bucket of key at now, refilled; full when absent.
func (t *table) level(key string, now time.Time) float64 {
	b, ok := t.buckets[key]
	if !ok {
		return t.lim.burst
	}
	return min(t.lim.burst, b.tokens+float64(now.Sub(b.at))/float64(t.lim.refill))
}

// wait is how long until key's bucket holds need tokens.
func (t *table) wait(key string, now time.Time, need float64) time.Duration {
	short := need - t.level(key, now)
	if short <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(short * float64(t.lim.refill)))
}

// take removes one token from key's bucket (never below zero).
func (t *table) take(key string, now time.Time) {
	if _, ok := t.buckets[key]; !ok && len(t.buckets) >= maxKeys {
		t.prune(now)
	}
	t.buckets[key] = bucket{tokens: max(0, t.level(key, now)-1), at: now}
}

// prune forgets full buckets, then arbitrary ones down to three quarters
// of maxKeys.
func (t *table) prune(now time.Time) {
	for k := range t.buckets {
		if t.level(k, now) >= t.lim.burst {
			delete(t.buckets, k)
		}
	}
	for k := range t.buckets {
		if len(t.buckets) <= maxKeys*3/4 {
			break
		}
		delete(t.buckets, k)
	}
}

// Throttle counts failed sign-ins and says when an attempt must wait.
type Throttle struct {
	clk                  clock.Clock
	mu                   sync.Mutex
	addr, pair, accounts table
}

// NewThrottle returns a throttle on clk (nil: the wall clock).
func NewThrottle(clk clock.Clock) *Throttle {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Throttle{clk: clk,
		addr:     table{lim: addrLimit, buckets: map[string]bucket{}},
		pair:     table{lim: pairLimit, buckets: map[string]bucket{}},
		accounts: table{lim: accountLimit, buckets: map[string]bucket{}}}
}

// Allow says how long an attempt from addr for account ("" for a token
// sign-in) must wait: 0 when it may be checked now.
func (t *Throttle) Allow(account, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clk.Now()
	wait := t.addr.wait(addr, now, 1)
	if account == "" {
		return wait
	}
	account = accountKey(account)
	pk := pairKey(account, addr)
	wait = max(wait, t.pair.wait(pk, now, 1))
	if t.accounts.level(account, now) < 1 {
		// Under attack: only addresses without recent failures for the
		// account may try it.
		wait = max(wait, t.pair.wait(pk, now, pairLimit.burst-accountSlack))
	}
	return wait
}

// Failed counts a failed attempt from addr for account ("" for a token).
func (t *Throttle) Failed(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clk.Now()
	t.addr.take(addr, now)
	if account == "" {
		return
	}
	account = accountKey(account)
	t.pair.take(pairKey(account, addr), now)
	t.accounts.take(account, now)
}

// Succeeded forgets addr's failures for account: the user is in.
func (t *Throttle) Succeeded(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pair.buckets, pairKey(accountKey(account), addr))
}

func accountKey(account string) string {
	if len(account) > maxAccountKey {
		account = account[:maxAccountKey]
	}
	return account
}

func pairKey(account, addr string) string { return addr + "\x00" + account }

// SourceAddress is the address a request is throttled by: the client's IP
// address, an IPv6 one by its /64 (one host usually has a whole /64).
func SourceAddress(remoteAddr string) string {
	ip, host := peerIP(remoteAddr)
	if !ip.IsValid() {
		return host
	}
	return addrKey(ip)
}

// peerIP parses a request's RemoteAddr: the IP (invalid when it is none)
// and the host part.
func peerIP(remoteAddr string) (netip.Addr, string) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		return netip.Addr{}, host
	}
	return ip, host
}

func addrKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// ClientAddress is the source address (SourceAddress) of r's client. A
// request from a loopback peer is one a proxy on central's host passed on
// (central's documented place is behind a TLS proxy with http_listen on
// loopback): its client is the right-most address of X-Forwarded-For
// that is not loopback (the one the proxy appended; those left of it
// are the client's to invent). From any other peer, and when the header
// names no usable address, the peer is the client.
func ClientAddress(r *http.Request) string {
	peer := SourceAddress(r.RemoteAddr)
	if ip, _ := peerIP(r.RemoteAddr); !ip.IsValid() || !ip.Unmap().IsLoopback() {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if !ip.Unmap().IsLoopback() {
			return addrKey(ip)
		}
	}
	return peer
}
