package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/clock"
)

// attempt posts the sign-in form straight to the console's handler from
// remote (an address:port), with a valid double-submit token. It returns
// the status, the page with its fresh CSRF token blanked, and Retry-After.
func attempt(t *testing.T, h http.Handler, remote string, form url.Values) (int, string, string) {
	t.Helper()
	const csrf = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	form.Set("csrf", csrf)
	r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: "kinline_login", Value: csrf})
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body := csrfRE.ReplaceAllString(w.Body.String(), "csrf")
	body = regexp64.ReplaceAllString(body, "token")
	return w.Code, body, w.Header().Get("Retry-After")
}

// regexp64 finds the page's random tokens.
var regexp64 = regexp.MustCompile(`[0-9a-f]{64}`)

func throttleSetup(t *testing.T) (*store.Store, http.Handler, *clock.Fake) {
	st, srv, _, _, clk := setupClock(t)
	return st, srv.Config.Handler, clk
}

// TestSigninAlikeForUnknownUsers (issue 14, defect 6): failed sign-ins
// for a user that exists and for one that does not answer the same
// status, page and Retry-After, attempt by attempt, from the first wrong
// password until well past the throttle.
func TestSigninAlikeForUnknownUsers(t *testing.T) {
	st, h, _ := throttleSetup(t)
	mkUser(t, st, "bob", store.RoleReadOnly)
	throttled := false
	for i := range 30 {
		ks, kb, kr := attempt(t, h, "192.0.2.1:1000", url.Values{"username": {"bob"}, "password": {"guess " + strconv.Itoa(i)}})
		us, ub, ur := attempt(t, h, "192.0.2.2:1000", url.Values{"username": {"nobody"}, "password": {"guess " + strconv.Itoa(i)}})
		if ks != us || kb != ub || kr != ur {
			t.Fatalf("attempt %d: known user %d %q, unknown user %d %q (pages differ: %v)", i, ks, kr, us, ur, kb != ub)
		}
		if ks != http.StatusUnauthorized && ks != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: %d", i, ks)
		}
		throttled = throttled || ks == http.StatusTooManyRequests
	}
	if !throttled {
		t.Fatal("30 wrong passwords from one address never throttled")
	}
}

// TestSigninThrottlesAnAddress: an address that keeps failing, over many
// usernames, answers 429 with Retry-After whatever it tries (a real
// user's right password, a token) until the wait on the clock is over.
func TestSigninThrottlesAnAddress(t *testing.T) {
	st, h, clk := throttleSetup(t)
	mkUser(t, st, "bob", store.RoleReadOnly)
	const addr = "198.51.100.7:4000"
	n := 0
	for ; n < 100; n++ {
		code, _, _ := attempt(t, h, addr, url.Values{"username": {fmt.Sprintf("user%d", n)}, "password": {"x"}})
		if code == http.StatusTooManyRequests {
			break
		}
	}
	if n == 0 || n >= 100 {
		t.Fatalf("address throttled after %d failures", n)
	}
	code, _, retry := attempt(t, h, addr, url.Values{"username": {"bob"}, "password": {pw}})
	secs, err := strconv.Atoi(retry)
	if code != http.StatusTooManyRequests || err != nil || secs <= 0 {
		t.Fatalf("right password from a throttled address: %d, Retry-After %q", code, retry)
	}
	if code, _, r := attempt(t, h, addr, url.Values{"token": {"not-a-token"}}); code != http.StatusTooManyRequests || r == "" {
		t.Fatalf("token from a throttled address: %d %q", code, r)
	}
	// Another host is not throttled.
	if code, _, _ := attempt(t, h, "[2001:db8::1]:1", url.Values{"username": {"bob"}, "password": {pw}}); code != http.StatusSeeOther {
		t.Fatalf("another address: %d", code)
	}
	clk.Advance(time.Duration(secs)*time.Second - time.Millisecond)
	if code, _, _ := attempt(t, h, addr, url.Values{"username": {"bob"}, "password": {pw}}); code != http.StatusTooManyRequests {
		t.Fatalf("before Retry-After: %d", code)
	}
	clk.Advance(time.Millisecond)
	if code, _, _ := attempt(t, h, addr, url.Values{"username": {"bob"}, "password": {pw}}); code != http.StatusSeeOther {
		t.Fatalf("after Retry-After: %d", code)
	}
}

// TestSigninIPv6ThrottledByPrefix: the addresses of one /64 share a
// bucket.
func TestSigninIPv6ThrottledByPrefix(t *testing.T) {
	_, h, _ := throttleSetup(t)
	for i := range 100 {
		addr := fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)
		if code, _, _ := attempt(t, h, addr, url.Values{"username": {fmt.Sprintf("u%d", i)}, "password": {"x"}}); code == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("100 failures from one /64 never throttled")
}

// TestAttackerCannotLockTheAdminOut: an attacker hammering the admin's
// account from 60 addresses is slowed down (each address answered 429
// after a few tries) but the admin, from their own address, still signs
// in with the right password, also after a typo; an hour later the
// attacker's addresses are free again.
func TestAttackerCannotLockTheAdminOut(t *testing.T) {
	st, h, clk := throttleSetup(t)
	mkUser(t, st, "ada", store.RoleSystemAdmin)
	slowed := 0
	for a := range 60 {
		addr := fmt.Sprintf("203.0.%d.%d:5000", a/250, a%250+1)
		for i := range 10 {
			code, _, retry := attempt(t, h, addr, url.Values{"username": {"ada"}, "password": {fmt.Sprintf("guess-%d-%d", a, i)}})
			if code == http.StatusTooManyRequests {
				if retry == "" {
					t.Fatal("429 without Retry-After")
				}
				slowed++
				break
			}
			if code != http.StatusUnauthorized {
				t.Fatalf("attacker %s try %d: %d", addr, i, code)
			}
		}
		clk.Advance(time.Second)
	}
	if slowed != 60 {
		t.Fatalf("only %d of 60 attacking addresses slowed down", slowed)
	}
	const admin = "10.1.2.3:6000"
	if code, _, _ := attempt(t, h, admin, url.Values{"username": {"ada"}, "password": {"typo " + pw}}); code != http.StatusUnauthorized {
		t.Fatalf("admin's typo: %d", code)
	}
	if code, _, _ := attempt(t, h, admin, url.Values{"username": {"ada"}, "password": {pw}}); code != http.StatusSeeOther {
		t.Fatalf("admin locked out by an attacker: %d", code)
	}
	if code, _, _ := attempt(t, h, "10.9.9.9:1", url.Values{"username": {"ada"}, "password": {pw}}); code != http.StatusSeeOther {
		t.Fatalf("admin from a fresh address: %d", code)
	}
	clk.Advance(time.Hour)
	if code, _, _ := attempt(t, h, "203.0.0.1:5000", url.Values{"username": {"ada"}, "password": {"again"}}); code != http.StatusUnauthorized {
		t.Fatalf("throttle an hour later: %d", code)
	}
}
