package ingest_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// key returns a deterministic ed25519 key pair, distinct per seed byte.
func key(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	var s [ed25519.SeedSize]byte
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s[:])
	return priv.Public().(ed25519.PublicKey), priv
}

func signed(t *testing.T, priv ed25519.PrivateKey, evs []wire.Event) wire.Batch {
	t.Helper()
	b := wire.Batch{V: 1, ApplianceID: evs[0].ApplianceID, Events: evs}
	if err := sign.SignBatch(priv, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignedBatchesOnly(t *testing.T) {
	pubA, privA := key(1)
	_, privB := key(2)
	var mu sync.Mutex
	var reported []error
	e := setupCfg(t, nil, func(c *ingest.Config) {
		c.ApplianceKeys = func(id string) (ed25519.PublicKey, bool) { return pubA, id == "blk-a" }
		c.OnRefused = func(id string, err error) {
			mu.Lock()
			defer mu.Unlock()
			if id != "blk-a" {
				t.Errorf("refusal reported for %q", id)
			}
			reported = append(reported, err)
		}
	})
	honest := events("blk-a", 1, 6, "")
	forged := events("blk-a", 1, 6, "")
	for i := range forged {
		forged[i].Payload = json.RawMessage(`{"uid":"FORGED"}`)
		if i > 0 {
			forged[i].PrevHash = forged[i-1].Hash
		}
		forged[i].Seal()
	}

	// Unsigned.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: forged[:3]})
	// Signed by another appliance's key.
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privB, forged[:3]))
	// An honest signed batch, then tampered with: a payload changed and
	// its event hash recomputed, so only the signature can tell.
	tampered := signed(t, privA, append([]wire.Event(nil), honest[:3]...))
	tampered.Events[1].Payload = json.RawMessage(`{"uid":"FFFF"}`)
	tampered.Events[1].Seal()
	e.publish(t, wire.TopicEvents("blk-a"), tampered)
	// A signature of the wrong length.
	short := signed(t, privA, honest[:3])
	short.Signature = short.Signature[:10]
	e.publish(t, wire.TopicEvents("blk-a"), short)

	// Honest traffic goes on: its ack is the first ack at all.
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privA, honest[:3]))
	if got := e.nextAck(t); got != 3 {
		t.Fatalf("first ack %d, want 3 (a refused batch was acknowledged)", got)
	}
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privA, honest[3:]))
	if got := e.nextAck(t); got != 6 {
		t.Fatalf("ack %d, want 6", got)
	}
	stored := e.st.Events("blk-a")
	if len(stored) != 6 {
		t.Fatalf("stored %d events, want 6", len(stored))
	}
	for i, ev := range stored {
		if ev.Hash != honest[i].Hash {
			t.Fatalf("stored event %d is not the honest one: %s", ev.Seq, ev.Payload)
		}
	}
	if dups, _ := e.st.Duplicates("blk-a"); dups != 0 {
		t.Fatalf("a refused batch reached the store (%d dups)", dups)
	}
	if n := e.svc.RefusedBatches("blk-a"); n != 4 {
		t.Fatalf("RefusedBatches = %d, want 4", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 4 {
		t.Fatalf("OnRefused called %d times, want 4", len(reported))
	}
	for _, err := range reported {
		if !errors.Is(err, ingest.ErrSignature) || !errors.Is(err, ingest.ErrRefused) {
			t.Fatalf("reported error %v", err)
		}
	}
	if !errors.Is(reported[0], sign.ErrUnsigned) || !errors.Is(reported[1], sign.ErrBadSignature) {
		t.Fatalf("reasons: %v / %v", reported[0], reported[1])
	}
}

func TestUnknownApplianceKeyRefused(t *testing.T) {
	_, privA := key(1)
	e := setupCfg(t, nil, func(c *ingest.Config) {
		c.ApplianceKeys = func(string) (ed25519.PublicKey, bool) { return nil, false }
	})
	e.publish(t, wire.TopicEvents("blk-a"), signed(t, privA, events("blk-a", 1, 2, "")))
	testkit.Eventually(t, wait, "the batch from an appliance without a key refused", func() bool { return e.svc.RefusedBatches("blk-a") == 1 })
	if n := e.st.Count("blk-a"); n != 0 {
		t.Fatalf("stored %d events", n)
	}
}

func TestPoliciesSigned(t *testing.T) {
	pub, priv := key(9)
	otherPub, _ := key(8)
	pa := &wire.Policy{V: 1, ApplianceID: "blk-a", Block: "A", Version: 7, IssuedAt: time.Unix(1700000000, 5).UTC(),
		People: []wire.Person{{ID: "p1", PrisonNumber: "A1", Name: "Émile", Status: wire.StatusActive, Cards: []string{"04AB"},
			Numbers: []wire.ApprovedNumber{{Number: "+15551234", Name: "Mum"}}}}}
	e := setupCfg(t, func(s *ingesttest.Store) { s.SetPolicy(pa) }, func(c *ingest.Config) { c.PolicyKey = priv })
	p, err := wire.Decode[wire.Policy](e.next(t, wire.TopicPolicy("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.VerifyPolicy(pub, p); err != nil {
		t.Fatalf("published policy does not verify: %v", err)
	}
	if err := sign.VerifyPolicy(otherPub, p); !errors.Is(err, sign.ErrBadSignature) {
		t.Fatalf("verifies under another key: %v", err)
	}
	// The store's copy is left unsigned.
	stored, _ := e.st.PolicyFor(t.Context(), "blk-a")
	if stored.Signature != nil {
		t.Fatal("signing modified the store's policy")
	}
}

func TestBadPolicyKeyRefused(t *testing.T) {
	_, err := ingest.New(ingest.Config{Broker: "tcp://127.0.0.1:1", PolicyKey: make(ed25519.PrivateKey, 10)}, ingesttest.New(), nil)
	if !errors.Is(err, ingest.ErrConfig) {
		t.Fatalf("short policy key: %v", err)
	}
}
