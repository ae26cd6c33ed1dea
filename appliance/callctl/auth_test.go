package callctl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/kinline/kinline/shared/clock"
)

// testClient is the address the unit tests' nonces are issued to.
var testClient = netip.MustParseAddr("192.0.2.10")

// testURI is the Request-URI the unit tests' requests carry.
const testURI = "sip:123@appliance"

func newTestAuth(t testing.TB) (*digestAuth, *clock.Fake) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := newDigestAuth("kinline", 5*time.Minute, clk, []Terminal{{ID: "T1", SIPUser: "port1", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func mustURI(t testing.TB, s string) sip.Uri {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// answerNC answers chal with nonce count nc for uri.
func answerNC(t testing.TB, chal, user, pass, method, uri string, nc int) string {
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: user, Password: pass, Count: nc, Cnonce: "0a4f113b"})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func answer(t testing.TB, chal, user, pass, method string) string {
	return answerNC(t, chal, user, pass, method, testURI, 1)
}

func TestDigestCheck(t *testing.T) {
	a, clk := newTestAuth(t)
	ruri := mustURI(t, testURI)
	chal := a.challenge(testClient, false)
	if !strings.Contains(chal, `algorithm=MD5`) || !strings.Contains(chal, `qop="auth"`) {
		t.Fatalf("challenge %q", chal)
	}
	good := answer(t, chal, "port1", "pw", "INVITE")
	if term, err := a.check(good, "INVITE", ruri, testClient); err != nil || term.ID != "T1" {
		t.Fatalf("good credentials: %v %v", term, err)
	}
	if _, err := a.check(answerNC(t, chal, "port1", "pw", "REGISTER", testURI, 2), "INVITE", ruri, testClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("credentials for another method: %v", err)
	}
	if _, err := a.check(answer(t, chal, "port1", "nope", "INVITE"), "INVITE", ruri, testClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := a.check(answer(t, chal, "ghost", "pw", "INVITE"), "INVITE", ruri, testClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := a.check("", "INVITE", ruri, testClient); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("no header: %v", err)
	}
	// A nonce we did not issue is not accepted, whatever the response.
	forged := strings.Replace(good, a.nonceOf(t, chal), strings.Repeat("0", 2*nonceLen), 1)
	if _, err := a.check(forged, "INVITE", ruri, testClient); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("forged nonce: %v", err)
	}
	// Nonces expire by the injected clock; the right password then gets a
	// stale challenge rather than a 403.
	clk.Advance(5*time.Minute + time.Second)
	if _, err := a.check(answerNC(t, chal, "port1", "pw", "INVITE", testURI, 9), "INVITE", ruri, testClient); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("expired nonce: %v", err)
	}
}

// TestDigestReplayRules is issue 11 item 2 at the unit level: a count is
// accepted once per nonce (reordering within the window allowed), a nonce
// only from the address it was issued to, the digest uri must be the
// Request-URI, and qop=auth is required.
func TestDigestReplayRules(t *testing.T) {
	a, clk := newTestAuth(t)
	ruri := mustURI(t, testURI)
	chal := a.challenge(testClient, false)

	first := answerNC(t, chal, "port1", "pw", "REGISTER", testURI, 1)
	if _, err := a.check(first, "REGISTER", ruri, testClient); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := a.check(first, "REGISTER", ruri, testClient); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("same nonce and count again: %v, want a stale challenge", err)
	}
	// Increasing counts on the same nonce (what IADs and sipp do).
	for _, nc := range []int{2, 3, 5} {
		if _, err := a.check(answerNC(t, chal, "port1", "pw", "INVITE", testURI, nc), "INVITE", ruri, testClient); err != nil {
			t.Fatalf("nc %d: %v", nc, err)
		}
	}
	// 4 arrives late (reordered): once, not twice.
	late := answerNC(t, chal, "port1", "pw", "INVITE", testURI, 4)
	if _, err := a.check(late, "INVITE", ruri, testClient); err != nil {
		t.Fatalf("late nc 4: %v", err)
	}
	if _, err := a.check(late, "INVITE", ruri, testClient); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("late nc 4 again: %v", err)
	}
	// Far beyond, then far below the window.
	if _, err := a.check(answerNC(t, chal, "port1", "pw", "INVITE", testURI, 500), "INVITE", ruri, testClient); err != nil {
		t.Fatalf("nc 500: %v", err)
	}
	if _, err := a.check(answerNC(t, chal, "port1", "pw", "INVITE", testURI, 6), "INVITE", ruri, testClient); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("nc 6 after 500: %v", err)
	}

	// Another client address: the nonce is not its.
	other := netip.MustParseAddr("192.0.2.99")
	if _, err := a.check(answerNC(t, chal, "port1", "pw", "INVITE", testURI, 501), "INVITE", ruri, other); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("nonce from another client: %v", err)
	}

	// The digest uri must be the Request-URI.
	c2 := a.challenge(testClient, false)
	if _, err := a.check(answerNC(t, c2, "port1", "pw", "INVITE", "sip:999@appliance", 1), "INVITE", ruri, testClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("uri for another number: %v", err)
	}
	for _, same := range []string{"sip:123@APPLIANCE", "sip:123@appliance:5060", "sip:123@appliance;lr"} {
		if err := sameURI(same, ruri, false); err != nil {
			t.Errorf("%s: %v", same, err)
		}
	}
	for _, differs := range []string{"sips:123@appliance", "sip:1234@appliance", "sip:123@appliance:5070", "sip:123@appliance;transport=tcp", "tel:123", "garbage"} {
		if err := sameURI(differs, ruri, false); err == nil {
			t.Errorf("%s taken for %s", differs, testURI)
		}
	}

	// qop=auth was asked for: an RFC 2069 answer is refused.
	c3, _ := digest.ParseChallenge(a.challenge(testClient, false))
	c3.QOP = nil
	cred, _ := digest.Digest(c3, digest.Options{Method: "REGISTER", URI: testURI, Username: "port1", Password: "pw"})
	if _, err := a.check(cred.String(), "REGISTER", ruri, testClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("no-qop credentials: %v", err)
	}

	// State stays bounded: many nonces answered, the oldest forgotten and
	// stale from then on; a fresh one still works.
	var chals []string
	for range 3 * noncesPerUser {
		clk.Advance(time.Millisecond)
		chals = append(chals, a.challenge(testClient, false))
		if _, err := a.check(answerNC(t, chals[len(chals)-1], "port1", "pw", "INVITE", testURI, 1), "INVITE", ruri, testClient); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.used["port1"].nonces); n > noncesPerUser {
		t.Fatalf("%d nonces kept for one user", n)
	}
	if _, err := a.check(answerNC(t, chals[0], "port1", "pw", "INVITE", testURI, 2), "INVITE", ruri, testClient); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("forgotten nonce: %v", err)
	}
	if _, err := a.check(answerNC(t, chals[len(chals)-1], "port1", "pw", "INVITE", testURI, 2), "INVITE", ruri, testClient); err != nil {
		t.Fatalf("newest nonce, next count: %v", err)
	}
}

func (a *digestAuth) nonceOf(t testing.TB, chal string) string {
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	return c.Nonce
}

// FuzzDigestCheck: any Authorization header value is handled without
// panic, and nothing but a correct answer is accepted.
func FuzzDigestCheck(f *testing.F) {
	a, _ := newTestAuth(f)
	ruri := mustURI(f, testURI)
	f.Add(answer(f, a.challenge(testClient, false), "port1", "wrong", "INVITE"), "INVITE")
	f.Add(`Digest username="port1", realm="kinline", nonce="00", uri="sip:x", response="00", qop=auth, nc=zz`, "REGISTER")
	f.Add("Basic Zm9vOmJhcg==", "INVITE")
	f.Fuzz(func(t *testing.T, header, method string) {
		term, err := a.check(header, method, ruri, testClient)
		if err == nil && term.ID != "T1" {
			t.Fatalf("accepted %q as %+v", header, term)
		}
	})
}
