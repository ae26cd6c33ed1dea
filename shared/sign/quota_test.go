package sign

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

// TestPersonQuotasSigned: a person's own quotas are covered by the
// policy signature: taking one away, changing, moving or adding one
// breaks it.
func TestPersonQuotasSigned(t *testing.T) {
	p := samplePolicy()
	p.People[0].CallsPerDay, p.People[0].CallsPerWeek, p.People[0].CallsPerMonth = 4, 0, 40
	priv := fixedKey(2)
	if err := SignPolicy(priv, p); err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	for name, mutate := range map[string]func(*wire.Policy){
		"quota removed":       func(q *wire.Policy) { q.People[0].CallsPerDay, q.People[0].CallsPerMonth = 0, 0 },
		"quota changed":       func(q *wire.Policy) { q.People[0].CallsPerMonth = 41 },
		"quota moved":         func(q *wire.Policy) { q.People[0].CallsPerWeek, q.People[0].CallsPerMonth = 40, 0 },
		"quota given another": func(q *wire.Policy) { q.People[1].CallsPerDay = 1 },
	} {
		q := deepCopy(t, p).(*wire.Policy)
		if err := VerifyPolicy(pub, q); err != nil {
			t.Fatalf("%s: copy does not verify: %v", name, err)
		}
		mutate(q)
		if err := VerifyPolicy(pub, q); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: verify = %v, want ErrBadSignature", name, err)
		}
	}
}
