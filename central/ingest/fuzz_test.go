package ingest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
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
			// One chain per batch, and only from batch version 2 on.
			if b.Events[i].Epoch != b.Epoch() || (b.V < 2 && b.Events[i].Epoch != "") || wire.ValidEpoch(b.Events[i].Epoch) != nil {
				t.Fatalf("accepted event of epoch %q in a batch of version %d, epoch %q", b.Events[i].Epoch, b.V, b.Epoch())
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

// FuzzParseRecordingChunk: never panics; every refusal wraps ErrRefused; a
// chunk comes back with an error only for a data/hash mismatch; an accepted
// chunk names the topic's appliance, a call id that is a plain file name, a
// well-formed file hash and size, and data inside the file matching its
// hash (or, for a query, no data at all).
func FuzzParseRecordingChunk(f *testing.F) {
	f.Add([]byte(`{"v":1,"appliance_id":"blk-a","call_id":"c-1","ref":{"sha256":"5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9","bytes":1},"attempt":1,"query":true}`))
	const maxFile = 1 << 20
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := ingest.ParseRecordingChunk("blk-a", payload, maxFile)
		if err != nil {
			if !errors.Is(err, ingest.ErrRefused) {
				t.Fatalf("error not wrapping ErrRefused: %v", err)
			}
			if c != nil && !errors.Is(err, wire.ErrChunkHash) {
				t.Fatalf("chunk returned with %v", err)
			}
			return
		}
		if c.ApplianceID != "blk-a" || wire.ValidCallID(c.CallID) != nil || strings.ContainsAny(c.CallID, "/\\") || strings.HasPrefix(c.CallID, ".") {
			t.Fatalf("accepted %q of %q", c.CallID, c.ApplianceID)
		}
		if len(c.Ref.SHA256) != 64 || c.Ref.Bytes < 0 || c.Ref.Bytes > maxFile {
			t.Fatalf("accepted file %+v", c.Ref)
		}
		if c.Query {
			if len(c.Data) != 0 || c.Offset != 0 {
				t.Fatalf("accepted query with data: %+v", c)
			}
			return
		}
		n := int64(len(c.Data))
		if n == 0 || n > wire.MaxChunkSize || c.Offset < 0 || c.Offset+n > c.Ref.Bytes {
			t.Fatalf("accepted chunk [%d,+%d) of %d", c.Offset, n, c.Ref.Bytes)
		}
		sum := sha256.Sum256(c.Data)
		if hex.EncodeToString(sum[:]) != c.ChunkSHA256 {
			t.Fatal("accepted chunk not matching its hash")
		}
	})
}
