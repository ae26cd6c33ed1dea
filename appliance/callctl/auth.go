package callctl

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/kinline/kinline/shared/clock"
)

// noncesPerUser bounds the nonces whose counts are kept for one SIP user
// (a port answering several challenges at once, a REGISTER and an INVITE
// in flight); the oldest is forgotten first and is stale from then on.
const noncesPerUser = 8

// ncWindow is how far below the highest nonce count seen a count may
// still arrive once (requests reordered on UDP).
const ncWindow = 64

// digestAuth issues and checks MD5 digest challenges (RFC 2617 / RFC 3261
// section 22, qop=auth only). A nonce is hex(issue time || serial ||
// HMAC(secret, issue time || serial || client address)): valid for ttl by the injected clock and
// only from the address it was issued to, and checking it costs no state,
// so a flood of unauthenticated requests costs no memory. State is kept
// only after a correct answer from a known user: the nonce counts (nc)
// each of that user's recent nonces has been used with, so that a request
// replayed with the same nonce and count is refused while a port that
// reuses its nonce with increasing counts (RFC 2617 3.2.2, as IADs and
// sipp do) keeps working. Every nonce is distinct (a serial number beside
// the issue time), so two challenges never share counts even on a clock
// that has not moved. That state is bounded: noncesPerUser per
// configured terminal.
type digestAuth struct {
	realm  string
	ttl    time.Duration
	clock  clock.Clock
	secret [32]byte
	// users maps SIP user to terminal.
	users map[string]Terminal

	// serial numbers the nonces.
	serial atomic.Uint64

	mu sync.Mutex
	// used holds, by SIP user, the nonces that user answered correctly.
	used map[string]*userNonces
}

// userNonces are one user's recently used nonces.
type userNonces struct {
	nonces []nonceUse
	// floor is the serial of the newest nonce forgotten to make room: a
	// nonce numbered no higher and not in nonces has lost its counts, so
	// it is stale.
	floor uint64
}

// nonceUse records the counts a nonce has been used with: max, the
// highest, and seen, a bitmap of max-1 (bit 0) down to max-ncWindow.
type nonceUse struct {
	nonce  string
	serial uint64
	issued time.Time
	max    uint32
	seen   uint64
}

// use records count nc, reporting false if it was used before or is too
// old to tell.
func (u *nonceUse) use(nc uint32) bool {
	switch {
	case nc > u.max:
		shift := nc - u.max
		if shift >= ncWindow+1 {
			u.seen = 0
		} else {
			u.seen = u.seen<<shift | 1<<(shift-1)
		}
		u.max = nc
		return true
	case nc == u.max:
		return false
	default:
		back := u.max - nc
		if back > ncWindow {
			return false
		}
		bit := uint64(1) << (back - 1)
		if u.seen&bit != 0 {
			return false
		}
		u.seen |= bit
		return true
	}
}

func newDigestAuth(realm string, ttl time.Duration, clk clock.Clock, terms []Terminal) (*digestAuth, error) {
	a := &digestAuth{realm: realm, ttl: ttl, clock: clk, users: map[string]Terminal{}, used: map[string]*userNonces{}}
	if _, err := rand.Read(a.secret[:]); err != nil {
		return nil, fmt.Errorf("callctl: nonce secret: %w", err)
	}
	for _, t := range terms {
		a.users[t.SIPUser] = t
	}
	return a, nil
}

// nonceLen is a nonce's length in bytes before hex encoding: issue time,
// serial, MAC.
const nonceLen = 8 + 8 + 16

// nonce issues a nonce for client.
func (a *digestAuth) nonce(client netip.Addr) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.clock.Now().UnixNano()))
	binary.BigEndian.PutUint64(b[8:16], a.serial.Add(1))
	copy(b[16:], a.mac(b[:16], client))
	return hex.EncodeToString(b[:])
}

func (a *digestAuth) mac(stamp []byte, client netip.Addr) []byte {
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(stamp)
	ip := client.Unmap().As16()
	m.Write(ip[:])
	return m.Sum(nil)[:16]
}

// nonceValid reports whether n is a nonce issued to client, when and with
// which serial, and whether it is still fresh.
func (a *digestAuth) nonceValid(n string, client netip.Addr) (issued time.Time, serial uint64, authentic, fresh bool) {
	b, err := hex.DecodeString(n)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, 0, false, false
	}
	if !hmac.Equal(b[16:], a.mac(b[:16], client)) {
		return time.Time{}, 0, false, false
	}
	issued = time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	serial = binary.BigEndian.Uint64(b[8:16])
	age := a.clock.Now().Sub(issued)
	return issued, serial, true, age >= -time.Second && age <= a.ttl
}

// challenge returns a header value for WWW-Authenticate /
// Proxy-Authenticate, with a nonce for client.
func (a *digestAuth) challenge(client netip.Addr, stale bool) string {
	c := digest.Challenge{
		Realm:     a.realm,
		Nonce:     a.nonce(client),
		Algorithm: "MD5",
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return c.String()
}

// check verifies an Authorization / Proxy-Authorization header value for a
// request with method and Request-URI ruri from client. It returns the
// terminal, or an error: ErrNoAuth (no usable header, or a nonce not
// issued to this client: challenge), ErrStaleNonce (a correct answer on an
// expired nonce or one whose count was used before: challenge again with
// stale=true) or ErrAuth (wrong user or password, no qop=auth, or a digest
// uri other than the Request-URI: answer 403).
func (a *digestAuth) check(header, method string, ruri sip.Uri, client netip.Addr) (Terminal, error) {
	if header == "" {
		return Terminal{}, ErrNoAuth
	}
	cr, err := digest.ParseCredentials(header)
	if err != nil {
		return Terminal{}, fmt.Errorf("%w: %w", ErrNoAuth, err)
	}
	if cr.Realm != a.realm || cr.Nonce == "" {
		return Terminal{}, fmt.Errorf("%w: realm or nonce missing", ErrNoAuth)
	}
	if alg := strings.ToUpper(cr.Algorithm); alg != "" && alg != "MD5" {
		return Terminal{}, fmt.Errorf("%w: algorithm %q", ErrNoAuth, cr.Algorithm)
	}
	issued, serial, authentic, fresh := a.nonceValid(cr.Nonce, client)
	if !authentic {
		return Terminal{}, fmt.Errorf("%w: nonce not issued to %s", ErrNoAuth, client)
	}
	// The challenge offered qop=auth only: an answer without it (RFC
	// 2069), or with anything else, is not an answer to it.
	if !strings.EqualFold(cr.QOP, "auth") {
		return Terminal{}, fmt.Errorf("%w: qop %q where auth was asked for", ErrAuth, cr.QOP)
	}
	if cr.Nc <= 0 || cr.Cnonce == "" {
		return Terminal{}, fmt.Errorf("%w: qop=auth without nc or cnonce", ErrAuth)
	}
	term, known := a.users[cr.Username]
	password := term.Password
	if !known {
		// Compute anyway so timing does not reveal which users exist.
		password = "\x00"
	}
	ha1 := md5hex(cr.Username + ":" + a.realm + ":" + password)
	ha2 := md5hex(method + ":" + cr.URI)
	want := md5hex(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, cr.Nonce, cr.Nc, cr.Cnonce, ha2))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cr.Response))) != 1 || !known {
		return Terminal{}, fmt.Errorf("%w: user %q", ErrAuth, cr.Username)
	}
	if err := sameURI(cr.URI, ruri, method == "REGISTER"); err != nil {
		return Terminal{}, fmt.Errorf("%w: user %q: %w", ErrAuth, cr.Username, err)
	}
	if !fresh {
		return Terminal{}, ErrStaleNonce
	}
	if !a.use(cr.Username, cr.Nonce, serial, issued, uint32(cr.Nc)) {
		return Terminal{}, fmt.Errorf("%w: user %q: nonce count %08x used before", ErrStaleNonce, cr.Username, cr.Nc)
	}
	return term, nil
}

// use records that user answered nonce (serial, issued then) with count
// nc, reporting false if that count was used before or the nonce's counts
// are no longer known.
func (a *digestAuth) use(user, nonce string, serial uint64, issued time.Time, nc uint32) bool {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	un := a.used[user]
	if un == nil {
		un = &userNonces{}
		a.used[user] = un
	}
	live := un.nonces[:0]
	var found *nonceUse
	for _, u := range un.nonces {
		if now.Sub(u.issued) > a.ttl+time.Second {
			continue // expired: its nonce is refused as stale anyway
		}
		live = append(live, u)
	}
	clear(un.nonces[len(live):])
	un.nonces = live
	for i := range un.nonces {
		if un.nonces[i].nonce == nonce {
			found = &un.nonces[i]
		}
	}
	if found == nil {
		if serial <= un.floor {
			return false
		}
		if len(un.nonces) == noncesPerUser {
			oldest := 0
			for i, u := range un.nonces {
				if u.serial < un.nonces[oldest].serial {
					oldest = i
				}
			}
			un.floor = max(un.floor, un.nonces[oldest].serial)
			un.nonces = append(un.nonces[:oldest], un.nonces[oldest+1:]...)
			if serial <= un.floor {
				return false
			}
		}
		un.nonces = append(un.nonces, nonceUse{nonce: nonce, serial: serial, issued: issued})
		found = &un.nonces[len(un.nonces)-1]
	}
	return found.use(nc)
}

// sameURI reports whether the digest uri names the Request-URI (RFC 3261
// 19.1.4: scheme, user and password exactly, host without case, port,
// and the transport, user, method, ttl and maddr parameters where either
// has them), so that credentials computed for one destination cannot be
// used for another. For a REGISTER (register true) the user part is not
// compared: its Request-URI has none (RFC 3261 10.2), what it binds is
// named by To (which must be the authenticated user), and sipp, given
// -auth_uri for the calls of a scenario, answers its REGISTER with the
// calls' uri.
func sameURI(digestURI string, ruri sip.Uri, register bool) error {
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return fmt.Errorf("digest uri %q: %w", truncate(digestURI), err)
	}
	port := func(x sip.Uri) int {
		if x.Port != 0 {
			return x.Port
		}
		if x.IsEncrypted() {
			return 5061
		}
		return 5060
	}
	same := strings.EqualFold(u.Scheme, ruri.Scheme) && u.Raw() == ruri.Raw() &&
		(register || u.User == ruri.User && u.Password == ruri.Password) &&
		strings.EqualFold(u.Host, ruri.Host) && port(u) == port(ruri)
	for _, p := range []string{"transport", "user", "method", "ttl", "maddr"} {
		if !same {
			break
		}
		var a, b string
		var inA, inB bool
		if u.UriParams != nil {
			a, inA = u.UriParams.Get(p)
		}
		if ruri.UriParams != nil {
			b, inB = ruri.UriParams.Get(p)
		}
		same = inA == inB && strings.EqualFold(a, b)
	}
	if !same {
		return fmt.Errorf("digest uri %q is not the Request-URI %q", truncate(digestURI), truncate(ruri.String()))
	}
	return nil
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
