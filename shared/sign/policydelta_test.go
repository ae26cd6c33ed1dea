package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func deltaPolicies(t *testing.T) (base, next *wire.Policy) {
	t.Helper()
	base = &wire.Policy{V: wire.ProtocolVersion, ApplianceID: "block-a-1", Block: "A", Version: 3,
		IssuedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		People: []wire.Person{
			{ID: "p1", PrisonNumber: "A1", Name: "One", Status: wire.StatusActive, Cards: []string{"01"}},
			{ID: "p2", PrisonNumber: "A2", Name: "Two", Status: wire.StatusActive, Cards: []string{"02"}},
		},
		Rules: []wire.CallRule{{Level: "", Confirm: wire.ConfirmButton}},
	}
	data, _ := json.Marshal(base)
	next = new(wire.Policy)
	if err := json.Unmarshal(data, next); err != nil {
		t.Fatal(err)
	}
	next.Version, next.IssuedAt = 4, base.IssuedAt.Add(time.Minute)
	next.People[1].Cards = []string{"02", "03"}
	next.People = append(next.People, wire.Person{ID: "p3", Name: "Three", Status: wire.StatusActive})
	return base, next
}

func TestPolicyDeltaSignedLikeItsSnapshot(t *testing.T) {
	priv := fixedKey(3)
	pub := priv.Public().(ed25519.PublicKey)
	base, next := deltaPolicies(t)
	if err := SignPolicy(priv, base); err != nil {
		t.Fatal(err)
	}
	d, err := wire.DiffPolicy(base, next)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyPolicyDelta(pub, base, d); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned delta: %v", err)
	}
	if err := SignPolicyDelta(priv, base, d); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(d)
	got, err := wire.DecodePolicyDelta(data, "block-a-1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ApplyPolicyDelta(pub, base, got)
	if err != nil {
		t.Fatalf("signed delta refused: %v", err)
	}
	// The result is the snapshot, signature included.
	snap := *next
	if err := SignPolicy(priv, &snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Signature, snap.Signature) || !bytes.Equal(PolicyBytes(res), PolicyBytes(&snap)) {
		t.Fatal("delta result differs from the signed snapshot")
	}
	if err := VerifyPolicy(pub, res); err != nil {
		t.Fatalf("result does not verify as a snapshot: %v", err)
	}

	// Tampering with a signed field of the delta breaks it.
	bad := *got
	bad.Upsert = append([]wire.Person(nil), got.Upsert...)
	bad.Upsert[0].Cards = []string{"FF"}
	if _, err := ApplyPolicyDelta(pub, base, &bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered delta: %v", err)
	}
	// Another key.
	other := fixedKey(4)
	if err := SignPolicyDelta(other, base, &bad); err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyPolicyDelta(pub, base, &bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("delta signed by another key: %v", err)
	}
	// Another base.
	older := *base
	older.Version = 2
	if _, err := ApplyPolicyDelta(pub, &older, got); !errors.Is(err, wire.ErrDeltaBase) {
		t.Fatalf("delta on another base: %v", err)
	}
	// Version bumped by a forger (to jump ahead) does not verify.
	jump := *got
	jump.Version = 99
	if _, err := ApplyPolicyDelta(pub, base, &jump); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("delta with a forged version: %v", err)
	}
}
