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
	"strings"
	"time"

	"github.com/icholy/digest"

	"github.com/kinline/kinline/shared/clock"
)

// digestAuth issues and checks MD5 digest challenges (RFC 2617 / RFC 3261
// section 22). Nonces are stateless: hex(issue time || HMAC(secret, issue
// time)), valid for ttl by the injected clock, so a flood of REGISTERs
// costs no memory.
type digestAuth struct {
	realm  string
	ttl    time.Duration
	clock  clock.Clock
	secret [32]byte
	// users maps SIP user to terminal.
	users map[string]Terminal
}

func newDigestAuth(realm string, ttl time.Duration, clk clock.Clock, terms []Terminal) (*digestAuth, error) {
	a := &digestAuth{realm: realm, ttl: ttl, clock: clk, users: map[string]Terminal{}}
	if _, err := rand.Read(a.secret[:]); err != nil {
		return nil, fmt.Errorf("callctl: nonce secret: %w", err)
	}
	for _, t := range terms {
		a.users[t.SIPUser] = t
	}
	return a, nil
}

func (a *digestAuth) nonce() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.clock.Now().UnixNano()))
	copy(b[8:], a.mac(b[:8]))
	return hex.EncodeToString(b[:])
}

func (a *digestAuth) mac(ts []byte) []byte {
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// nonceValid reports (authentic, fresh).
func (a *digestAuth) nonceValid(n string) (bool, bool) {
	b, err := hex.DecodeString(n)
	if err != nil || len(b) != 24 {
		return false, false
	}
	if !hmac.Equal(b[8:], a.mac(b[:8])) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	age := a.clock.Now().Sub(issued)
	return true, age >= -time.Second && age <= a.ttl
}

// challenge returns a header value for WWW-Authenticate / Proxy-Authenticate.
func (a *digestAuth) challenge(stale bool) string {
	c := digest.Challenge{
		Realm:     a.realm,
		Nonce:     a.nonce(),
		Algorithm: "MD5",
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return c.String()
}

// check verifies an Authorization / Proxy-Authorization header value for
// method. It returns the terminal, or ErrNoAuth (no usable header),
// ErrStaleNonce (challenge again with stale=true) or ErrAuth (wrong user or
// password: answer 403).
func (a *digestAuth) check(header, method string) (Terminal, error) {
	if header == "" {
		return Terminal{}, ErrNoAuth
	}
	cr, err := digest.ParseCredentials(header)
	if err != nil {
		return Terminal{}, fmt.Errorf("%w: %v", ErrNoAuth, err)
	}
	if cr.Realm != a.realm || cr.Nonce == "" {
		return Terminal{}, fmt.Errorf("%w: realm or nonce missing", ErrNoAuth)
	}
	if alg := strings.ToUpper(cr.Algorithm); alg != "" && alg != "MD5" {
		return Terminal{}, fmt.Errorf("%w: algorithm %q", ErrNoAuth, cr.Algorithm)
	}
	authentic, fresh := a.nonceValid(cr.Nonce)
	if !authentic {
		return Terminal{}, fmt.Errorf("%w: nonce not ours", ErrNoAuth)
	}
	term, known := a.users[cr.Username]
	password := term.Password
	if !known {
		// Compute anyway so timing does not reveal which users exist.
		password = "\x00"
	}
	ha1 := md5hex(cr.Username + ":" + a.realm + ":" + password)
	ha2 := md5hex(method + ":" + cr.URI)
	var want string
	switch strings.ToLower(cr.QOP) {
	case "":
		want = md5hex(ha1 + ":" + cr.Nonce + ":" + ha2)
	case "auth":
		want = md5hex(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, cr.Nonce, cr.Nc, cr.Cnonce, ha2))
	default:
		return Terminal{}, fmt.Errorf("%w: qop %q", ErrNoAuth, cr.QOP)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cr.Response))) != 1 || !known {
		return Terminal{}, fmt.Errorf("%w: user %q", ErrAuth, cr.Username)
	}
	if !fresh {
		return Terminal{}, ErrStaleNonce
	}
	return term, nil
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
