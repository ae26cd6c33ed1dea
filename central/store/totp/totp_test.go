package totp

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows: the 8-digit codes for the ASCII key
// "12345678901234567890".
func TestRFC6238Vectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		tm := time.Unix(v.unix, 0)
		if got := HOTP(key, uint64(Step(tm)), 8); got != v.code {
			t.Errorf("T=%d: got %s want %s", v.unix, got, v.code)
		}
		// The 6-digit code is the same value mod 10^6.
		if got := Code(key, tm); got != v.code[2:] {
			t.Errorf("T=%d 6 digits: got %s want %s", v.unix, got, v.code[2:])
		}
	}
}

func TestValidateSkew(t *testing.T) {
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := Step(now)
	for d, want := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code := HOTP(key, uint64(cur+d), Digits)
		st, ok := Validate(key, code, now, 1)
		if ok != want {
			t.Errorf("offset %d: ok=%v want %v", d, ok, want)
		}
		if ok && st != cur+d {
			t.Errorf("offset %d: step %d want %d", d, st, cur+d)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := Validate(key, bad, now, 1); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSecretAndURI(t *testing.T) {
	s := NewSecret()
	k, err := DecodeSecret(strings.ToLower(s))
	if err != nil || len(k) != SecretSize {
		t.Fatalf("decode %q: %v %d", s, err, len(k))
	}
	if _, err := DecodeSecret("not base32!"); err == nil {
		t.Fatal("bad secret accepted")
	}
	u, err := url.Parse(URI("Kinline", "ann", s))
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != s || u.Query().Get("digits") != "6" {
		t.Fatalf("uri %v %v", u, err)
	}
	if !strings.HasPrefix(u.Path, "/Kinline:ann") {
		t.Fatalf("label %q", u.Path)
	}
}
