package callctl

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/kinline/kinline/shared/clock"
)

func newTestAuth(t testing.TB) (*digestAuth, *clock.Fake) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := newDigestAuth("kinline", 5*time.Minute, clk, []Terminal{{ID: "T1", SIPUser: "port1", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func answer(t testing.TB, chal, user, pass, method string) string {
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: "sip:123@appliance", Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestDigestCheck(t *testing.T) {
	a, clk := newTestAuth(t)
	chal := a.challenge(false)
	if !strings.Contains(chal, `algorithm=MD5`) || !strings.Contains(chal, `qop="auth"`) {
		t.Fatalf("challenge %q", chal)
	}
	good := answer(t, chal, "port1", "pw", "INVITE")
	if term, err := a.check(good, "INVITE"); err != nil || term.ID != "T1" {
		t.Fatalf("good credentials: %v %v", term, err)
	}
	if _, err := a.check(good, "REGISTER"); !errors.Is(err, ErrAuth) {
		t.Fatalf("credentials for another method: %v", err)
	}
	if _, err := a.check(answer(t, chal, "port1", "nope", "INVITE"), "INVITE"); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := a.check(answer(t, chal, "ghost", "pw", "INVITE"), "INVITE"); !errors.Is(err, ErrAuth) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := a.check("", "INVITE"); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("no header: %v", err)
	}
	// A nonce we did not issue is not accepted, whatever the response.
	forged := strings.Replace(good, a.nonceOf(t, chal), strings.Repeat("0", 48), 1)
	if _, err := a.check(forged, "INVITE"); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("forged nonce: %v", err)
	}
	// Nonces expire by the injected clock; the right password then gets a
	// stale challenge rather than a 403.
	clk.Advance(5*time.Minute + time.Second)
	if _, err := a.check(good, "INVITE"); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("expired nonce: %v", err)
	}
	// Without qop (RFC 2069 style).
	c, _ := digest.ParseChallenge(a.challenge(false))
	c.QOP = nil
	cred, _ := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:appliance", Username: "port1", Password: "pw"})
	if _, err := a.check(cred.String(), "REGISTER"); err != nil {
		t.Fatalf("no-qop credentials: %v", err)
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
	f.Add(answer(f, a.challenge(false), "port1", "wrong", "INVITE"), "INVITE")
	f.Add(`Digest username="port1", realm="kinline", nonce="00", uri="sip:x", response="00", qop=auth, nc=zz`, "REGISTER")
	f.Add("Basic Zm9vOmJhcg==", "INVITE")
	f.Fuzz(func(t *testing.T, header, method string) {
		term, err := a.check(header, method)
		if err == nil && term.ID != "T1" {
			t.Fatalf("accepted %q as %+v", header, term)
		}
	})
}
