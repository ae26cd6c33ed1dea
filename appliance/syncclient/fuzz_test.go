package syncclient

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// fuzzPolicyKey is central's policy key in the FuzzHandle corpus (ed25519
// seed of 32 bytes 0x03); the corpus file policy-signed is signed with it.
func fuzzPolicyKey() ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
}

// FuzzHandle feeds untrusted messages from the broker to the client's
// handler: it must never panic, and only messages naming this appliance in
// the current protocol version may reach the sync loop; with a policy key,
// only policies that verify under it, every other policy being counted as
// rejected.
func FuzzHandle(f *testing.F) {
	f.Add(wire.TopicAck("blk-a"), []byte(`{"v":1,"appliance_id":"blk-a","up_to":3}`))
	st, err := store.Open(filepath.Join(f.TempDir(), "s.db"), store.Options{ApplianceID: "blk-a"})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		c, err := New(Config{Broker: "tcp://127.0.0.1:1", ApplianceID: "blk-a"}, Deps{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		c.handle(topic, payload)
		pub := fuzzPolicyKey()
		cs, err := New(Config{Broker: "tcp://127.0.0.1:1", ApplianceID: "blk-a", PolicyKey: pub}, Deps{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		cs.handle(topic, payload)
		cs.mu.Lock()
		if cs.policy != nil && sign.VerifyPolicy(pub, cs.policy) != nil {
			t.Fatalf("policy that does not verify let through: %+v", cs.policy)
		}
		if c.policy != nil && cs.policy == nil && cs.rejected != 1 {
			t.Fatalf("policy refused for its signature without being counted")
		}
		if cs.rejected != 0 && topic != wire.TopicPolicy("blk-a") {
			t.Fatalf("rejection counted for topic %q", topic)
		}
		cs.mu.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.policy != nil && (c.policy.ApplianceID != "blk-a" || c.policy.V != wire.ProtocolVersion || topic != wire.TopicPolicy("blk-a")) {
			t.Fatalf("policy let through: %+v on %q", c.policy, topic)
		}
		for _, a := range c.acks {
			if a.ApplianceID != "blk-a" || topic != wire.TopicAck("blk-a") {
				t.Fatalf("ack %+v let through from topic %q", a, topic)
			}
		}
		for _, d := range c.deltas {
			if d.ApplianceID != "blk-a" || d.V != wire.ProtocolVersion || topic != wire.TopicPolicyDelta("blk-a") || d.Version <= d.BaseVersion {
				t.Fatalf("policy delta let through: %+v on %q", d, topic)
			}
		}
		for _, a := range c.recAcks {
			if a.ApplianceID != "blk-a" || topic != wire.TopicRecordingAck("blk-a") {
				t.Fatalf("recording ack let through: %+v on %q", a, topic)
			}
		}
		for _, a := range c.chunkAcks {
			if a.ApplianceID != "blk-a" || topic != wire.TopicRecordingChunkAck("blk-a") || a.V != wire.ProtocolVersion ||
				a.Offset < 0 || wire.ValidCallID(a.CallID) != nil {
				t.Fatalf("recording chunk ack let through: %+v on %q", a, topic)
			}
		}
	})
}
