// Package signin is the console's sign-in: the sign-in form's post (a
// username, password and one-time code, or an API token), the session
// cookie it sets, sign-out, and the session a request carries.
//
// Sessions are random ids stored (hashed) in the database with an
// absolute expiry and an idle timeout, set as an HttpOnly, SameSite=Strict
// cookie. The sign-in form carries a double-submit CSRF token (a cookie
// and the form's field); every post is refused from a foreign Origin
// (SameOrigin). Every sign-in and failed sign-in is audited. Failed
// sign-ins are throttled by source address and by account (Throttle,
// docs/decisions/0038-sign-in-throttling.md), alike for users that exist
// and users that do not; no account is ever locked.
package signin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/clock"
)

// CookieName is the session cookie's name.
const CookieName = "kinline_session"

// LoginCookieName is the sign-in form's double-submit CSRF cookie.
const LoginCookieName = "kinline_login"

// Users is what sign-in needs of the console users' store (users.Store).
type Users interface {
	Login(ctx context.Context, username, password, code string) (*users.User, bool, error)
	StartSession(ctx context.Context, in users.NewSession) (string, *users.Session, error)
	SessionByID(ctx context.Context, id string) (*users.Session, error)
	DeleteSession(ctx context.Context, id string) error
	AuthenticateToken(ctx context.Context, secret string) (*users.Token, error)
}

// Auditor writes the audit log (store.Store): failed token sign-ins.
type Auditor interface {
	Audit(ctx context.Context, actor, action, target, detail string) error
}

// Config configures sign-in; every field but Log and SecureCookie is
// required.
type Config struct {
	Users Users
	Audit Auditor
	Log   *slog.Logger
	// SessionTTL is a session's absolute lifetime, SessionIdle how long
	// it lasts without a request.
	SessionTTL, SessionIdle time.Duration
	// SecureCookie marks the cookies Secure (served over TLS).
	SecureCookie bool
	// Form shows the sign-in form with its CSRF token and a message.
	Form func(w http.ResponseWriter, status int, csrf, msg string)
	// Clock is the throttle's time (see Throttle); nil is the wall clock.
	Clock clock.Clock
}

// Signin serves the sign-in and sign-out posts.
type Signin struct {
	cfg      Config
	throttle *Throttle
}

// New makes the sign-in of cfg.
func New(cfg Config) *Signin {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Signin{cfg: cfg, throttle: NewThrottle(cfg.Clock)}
}

// Messages of a failed sign-in: the same whether or not the user exists.
const (
	msgWrong     = "Wrong username, password or one-time code."
	msgThrottled = "Too many failed sign-ins from here: try again in %d seconds."
)

// throttled answers 429 with Retry-After for an attempt that must wait.
func (s *Signin) throttled(w http.ResponseWriter, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.form(w, http.StatusTooManyRequests, fmt.Sprintf(msgThrottled, secs))
}

// Current is the live session r carries, nil when none.
func (s *Signin) Current(r *http.Request) *users.Session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	se, err := s.cfg.Users.SessionByID(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, store.ErrUnauthorized) {
			s.cfg.Log.Error("web: session lookup", "err", err)
		}
		return nil
	}
	return se
}

// Page shows the sign-in form.
func (s *Signin) Page(w http.ResponseWriter, r *http.Request) {
	s.form(w, http.StatusOK, "")
}

// form shows the sign-in form with a fresh double-submit CSRF token.
func (s *Signin) form(w http.ResponseWriter, status int, msg string) {
	tok := store.NewSecret()
	s.setCookie(w, LoginCookieName, tok, "/login", 3600)
	s.cfg.Form(w, status, tok, msg)
}

func (s *Signin) setCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: s.cfg.SecureCookie,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}

// SameOrigin refuses form posts whose Origin (sent by browsers on POST)
// names another site.
func SameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	// Browsers send "Origin: null" on a form post from a page served with
	// Referrer-Policy: no-referrer (as the console's pages are); the
	// Sec-Fetch-Site header, which pages cannot set, then says whether the
	// post came from this site (found by the headless Chromium tests).
	if o == "" || o == "null" && (r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin") {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// TokensEqual compares a posted CSRF token with the expected one.
func TokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Login signs in with the form's token, or its username, password and
// one-time code, and starts a session.
func (s *Signin) Login(w http.ResponseWriter, r *http.Request) {
	if !SameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	ck, err := r.Cookie(LoginCookieName)
	if err != nil || !TokensEqual(r.PostFormValue("csrf"), ck.Value) {
		s.form(w, http.StatusForbidden, "The sign-in form expired; please try again.")
		return
	}
	var ns users.NewSession
	var ok bool
	next := "/calls"
	addr := ClientAddress(r)
	if tok := r.PostFormValue("token"); tok != "" {
		ns, ok = s.tokenLogin(w, r, tok, addr)
	} else {
		ns, next, ok = s.passwordLogin(w, r, addr)
	}
	if !ok {
		return
	}
	ns.TTL, ns.Idle = s.cfg.SessionTTL, s.cfg.SessionIdle
	id, _, err := s.cfg.Users.StartSession(r.Context(), ns)
	if err != nil {
		s.cfg.Log.Error("web: create session", "err", err)
		s.form(w, http.StatusInternalServerError, "Sign-in failed; try again.")
		return
	}
	s.setCookie(w, LoginCookieName, "", "/login", -1)
	s.setCookie(w, CookieName, id, "/", int(s.cfg.SessionTTL.Seconds()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tokenLogin checks a sign-in with an API token from addr; false when it
// answered.
func (s *Signin) tokenLogin(w http.ResponseWriter, r *http.Request, tok, addr string) (users.NewSession, bool) {
	if wait := s.throttle.Allow("", addr); wait > 0 {
		s.throttled(w, wait)
		return users.NewSession{}, false
	}
	t, err := s.cfg.Users.AuthenticateToken(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, store.ErrUnauthorized) {
			s.cfg.Log.Error("web: authenticate", "err", err)
			s.form(w, http.StatusInternalServerError, "Sign-in failed; try again.")
			return users.NewSession{}, false
		}
		s.throttle.Failed("", addr)
		if err := s.cfg.Audit.Audit(r.Context(), "anonymous", "login.failed", "console", "invalid token"); err != nil {
			s.cfg.Log.Error("web: audit", "err", err)
		}
		s.form(w, http.StatusUnauthorized, "That token is not valid.")
		return users.NewSession{}, false
	}
	return tokenSession(t), true
}

// passwordLogin checks a sign-in with username, password and one-time
// code from addr, throttled (see Throttle) before the password is looked
// at, alike for users that exist and users that do not; false when it
// answered. next is the first page to show.
func (s *Signin) passwordLogin(w http.ResponseWriter, r *http.Request, addr string) (ns users.NewSession, next string, ok bool) {
	username := r.PostFormValue("username")
	if wait := s.throttle.Allow(username, addr); wait > 0 {
		s.throttled(w, wait)
		return ns, "", false
	}
	u, mfa, err := s.cfg.Users.Login(r.Context(), username, r.PostFormValue("password"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, store.ErrUnauthorized):
		s.throttle.Failed(username, addr)
		s.form(w, http.StatusUnauthorized, msgWrong)
		return ns, "", false
	case err != nil:
		s.cfg.Log.Error("web: login", "err", err)
		s.form(w, http.StatusInternalServerError, "Sign-in failed; try again.")
		return ns, "", false
	}
	s.throttle.Succeeded(username, addr)
	ns = users.NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, MFA: mfa}
	next = "/calls"
	if !mfa && authz.MustEnrolTOTP(u.Role) {
		// Their work (playback, exports) needs a second factor: the
		// first page they see is where they enrol one.
		next = "/account/totp?notice=" + url.QueryEscape("Your role plays and exports recordings: enrol a second factor before you can do so.")
	}
	return ns, next, true
}

// Logout ends the session (its CSRF token required) and clears the
// cookie.
func (s *Signin) Logout(w http.ResponseWriter, r *http.Request) {
	if !SameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if c, err := r.Cookie(CookieName); err == nil {
		if se := s.Current(r); se != nil {
			if !TokensEqual(r.PostFormValue("csrf"), se.CSRF) {
				http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
				return
			}
			if err := s.cfg.Users.DeleteSession(r.Context(), c.Value); err != nil {
				s.cfg.Log.Error("web: logout", "err", err)
			}
		}
	}
	s.setCookie(w, CookieName, "", "/", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// tokenSession is the session of a sign-in with token t: it acts as the
// token's role (scoped to its owner's blocks) and has a second factor when
// the owner has one. It ends when the token stops working (revoked,
// expired, its owner disabled).
func tokenSession(t *users.Token) users.NewSession {
	return users.NewSession{Actor: "token:" + t.Name, Role: t.Role, TokenID: t.ID, MFA: t.OwnerTOTP}
}
