// Package totp implements time-based one-time passwords (RFC 6238 over the
// HOTP of RFC 4226) with HMAC-SHA-1, 6 digits and a 30-second step: the
// parameters every authenticator app understands. It is a few lines of
// crypto/hmac, so no third-party module is needed.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Parameters of the codes this package issues and accepts.
const (
	Digits     = 6
	Period     = 30 // seconds
	SecretSize = 20 // bytes (160 bits, as RFC 4226 recommends)
)

// ErrSecret is returned for a secret that is not valid base32.
var ErrSecret = errors.New("totp: malformed secret")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a random secret, base32 without padding.
func NewSecret() string {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		panic("totp: crypto/rand failed: " + err.Error())
	}
	return b32.EncodeToString(b)
}

// DecodeSecret decodes a base32 secret (case and padding insensitive).
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimRight(strings.ToUpper(strings.ReplaceAll(secret, " ", "")), "=")
	k, err := b32.DecodeString(s)
	if err != nil || len(k) < 10 {
		return nil, fmt.Errorf("%w: want base32 of at least 10 bytes", ErrSecret)
	}
	return k, nil
}

// Step is the RFC 6238 time step T for t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// HOTP is RFC 4226's code for counter with the given number of digits.
func HOTP(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// Code is the 6-digit code for key at time t.
func Code(key []byte, t time.Time) string { return HOTP(key, uint64(Step(t)), Digits) }

// Validate checks code against the steps from skew before to skew after
// now's step and returns the matching step (callers store it and refuse a
// step at or below the last one used, so a code cannot be replayed). The
// comparison is constant time per candidate.
func Validate(key []byte, code string, now time.Time, skew int) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	found := int64(-1)
	for d := -skew; d <= skew; d++ {
		st := cur + int64(d)
		if st < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(HOTP(key, uint64(st), Digits)), []byte(code)) == 1 && found < 0 {
			found = st
		}
	}
	return found, found >= 0
}

// URI is the otpauth:// enrolment URI (the "Key URI Format" authenticator
// apps read from a QR code) for account at issuer.
func URI(issuer, account, secret string) string {
	label := url.PathEscape(issuer + ":" + account)
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", fmt.Sprint(Digits))
	v.Set("period", fmt.Sprint(Period))
	return "otpauth://totp/" + label + "?" + v.Encode()
}
