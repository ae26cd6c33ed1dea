package ingest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/shared/sign"
)

// FuzzParseBatch feeds untrusted bytes to the batch parser: it must never
// panic, and whatever it accepts names the topic's appliance and verifies.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"v":1,"appliance_id":"blk-a","events":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := ingest.ParseBatch("blk-a", payload)
		if err != nil {
			if !errors.Is(err, ingest.ErrRefused) {
				t.Fatalf("error not wrapping ErrRefused: %v", err)
			}
			return
		}
		if b.ApplianceID != "blk-a" || len(b.Events) == 0 {
			t.Fatalf("accepted %+v", b)
		}
		for i := range b.Events {
			if b.Events[i].ApplianceID != "blk-a" || b.Events[i].Verify() != nil {
				t.Fatalf("accepted bad event %+v", b.Events[i])
			}
		}
	})
}

// FuzzParseRecording: never panics; an accepted upload's bytes match its ref.
func FuzzParseRecording(f *testing.F) {
	f.Add([]byte(`{"v":1,"appliance_id":"blk-a","call_id":"c","ref":{"sha256":"x"},"data":"AAAA"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		up, sum, err := ingest.ParseRecording("blk-a", payload)
		if err != nil {
			if up == nil && sum != "" {
				t.Fatal("sum without upload")
			}
			return
		}
		got := sha256.Sum256(up.Data)
		if up.ApplianceID != "blk-a" || up.CallID == "" || hex.EncodeToString(got[:]) != sum ||
			!bytes.EqualFold([]byte(sum), []byte(up.Ref.SHA256)) || int64(len(up.Data)) != up.Ref.Bytes {
			t.Fatalf("accepted %+v", up)
		}
	})
}

// fuzzKey is the appliance key the FuzzParseSignedBatch corpus is signed with
// (ed25519 seed of 32 bytes 0x01).
func fuzzKey() ed25519.PublicKey {
	seed := bytes.Repeat([]byte{1}, ed25519.SeedSize)
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// FuzzParseSignedBatch: never panics; whatever it accepts is a batch of the
// topic's appliance whose events verify and whose signature verifies under
// the appliance's key; every refusal wraps ErrRefused.
func FuzzParseSignedBatch(f *testing.F) {
	f.Add([]byte(`{"v":1,"appliance_id":"blk-a","events":[],"sig":"AAAA"}`))
	pub := fuzzKey()
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := ingest.ParseSignedBatch("blk-a", payload, pub, true)
		if err != nil {
			if !errors.Is(err, ingest.ErrRefused) {
				t.Fatalf("error not wrapping ErrRefused: %v", err)
			}
			if _, err := ingest.ParseSignedBatch("blk-a", payload, nil, false); err == nil {
				t.Fatal("accepted without a key")
			}
			return
		}
		if b.ApplianceID != "blk-a" || len(b.Events) == 0 {
			t.Fatalf("accepted %+v", b)
		}
		if err := sign.VerifyBatch(pub, b); err != nil {
			t.Fatalf("accepted a batch that does not verify: %v", err)
		}
		for i := range b.Events {
			if b.Events[i].ApplianceID != "blk-a" || b.Events[i].Verify() != nil {
				t.Fatalf("accepted bad event %+v", b.Events[i])
			}
		}
		if _, err := ingest.ParseSignedBatch("blk-a", payload, nil, false); !errors.Is(err, ingest.ErrSignature) {
			t.Fatalf("accepted with an unknown key: %v", err)
		}
	})
}
