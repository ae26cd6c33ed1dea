package config

import (
	"fmt"
	"time"
)

// Console configures the web console's sessions.
type Console struct {
	// SecureCookie marks the console's cookies Secure, so that browsers
	// send them over HTTPS only. Default true: central serves plain HTTP
	// and belongs behind a TLS-terminating proxy (http_listen on
	// loopback), and browsers reach the console over HTTPS. Set it false
	// only when the console is used over plain HTTP (the demo, a
	// development machine); central warns at start when it is false.
	SecureCookie *bool `yaml:"secure_cookie"`
	// SessionTTL is a session's absolute lifetime (default 8h),
	// SessionIdle how long a session without a request lasts (default
	// 30m).
	SessionTTL  time.Duration `yaml:"session_ttl"`
	SessionIdle time.Duration `yaml:"session_idle"`
	// SignInHint is a line the sign-in page shows under its token form
	// (the demo's says where its admin token file is). Empty by default:
	// a real installation's sign-in page advertises no file.
	SignInHint string `yaml:"sign_in_hint"`
}

// Secure reports whether the console's cookies are marked Secure.
func (c Console) Secure() bool { return c.SecureCookie == nil || *c.SecureCookie }

// validate checks the session durations.
func (c Console) validate() error {
	if c.SessionTTL < 0 || c.SessionIdle < 0 {
		return fmt.Errorf("%w: console.session_ttl and console.session_idle may not be negative", ErrInvalid)
	}
	if c.SessionTTL > 0 && c.SessionIdle > c.SessionTTL {
		return fmt.Errorf("%w: console.session_idle (%s) is longer than console.session_ttl (%s)", ErrInvalid, c.SessionIdle, c.SessionTTL)
	}
	return nil
}
