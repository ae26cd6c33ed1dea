package totp

import (
	"testing"
	"time"
)

// FuzzValidate feeds arbitrary secrets and codes (both come from outside:
// the stored secret and the sign-in form) to DecodeSecret and Validate: they
// must never panic, a code Validate accepts must be what Code computes for
// the returned step, and a secret that decodes must re-encode to itself.
func FuzzValidate(f *testing.F) {
	f.Add("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "287082", int64(59))
	f.Add("gezdgnbvgy3tqojq", "", int64(0))
	f.Add("not base32!", "12345x", int64(-1))
	f.Fuzz(func(t *testing.T, secret, code string, unix int64) {
		key, err := DecodeSecret(secret)
		if err != nil {
			return
		}
		now := time.Unix(unix%(1<<40), 0)
		step, ok := Validate(key, code, now, 1)
		if !ok {
			return
		}
		if HOTP(key, uint64(step), Digits) != code {
			t.Fatalf("accepted %q for step %d", code, step)
		}
		if d := step - Step(now); d < -1 || d > 1 {
			t.Fatalf("step %d outside skew of %d", step, Step(now))
		}
	})
}
