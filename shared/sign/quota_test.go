package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

// TestPolicyFormV3PersonQuotas: a policy with a person's own quota is
// signed in form v3 (its domain, and each person's three limits after the
// maximum duration); the v2 form of the same policy without them differs,
// so taking a quota away, adding one or changing one breaks the signature,
// while a policy without any keeps form v2 (TestGolden).
func TestPolicyFormV3PersonQuotas(t *testing.T) {
	p := samplePolicy()
	v2 := PolicyBytes(p)
	if !bytes.Contains(v2, []byte(domainPolicy)) || bytes.Contains(v2, []byte(domainPolicyV3)) {
		t.Fatal("a policy without person quotas is not in form v2")
	}
	p.People[0].CallsPerDay, p.People[0].CallsPerWeek, p.People[0].CallsPerMonth = 4, 0, 40
	v3 := PolicyBytes(p)
	if !bytes.HasPrefix(v3, append(binary.BigEndian.AppendUint64(nil, uint64(len(domainPolicyV3))), domainPolicyV3...)) {
		t.Fatal("form v3 does not open with its domain")
	}
	// v3 is v2 with another domain and 3 x 8 bytes per person.
	if len(v3) != len(v2)+len(domainPolicyV3)-len(domainPolicy)+3*8*len(p.People) {
		t.Fatalf("form v3 is %d bytes, v2 %d", len(v3), len(v2))
	}
	var quotas []byte
	for _, n := range []uint64{4, 0, 40} {
		quotas = binary.BigEndian.AppendUint64(quotas, n)
	}
	if !bytes.Contains(v3, append(binary.BigEndian.AppendUint64(nil, 600), quotas...)) {
		t.Fatal("person 1's quotas do not follow their maximum duration")
	}

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
