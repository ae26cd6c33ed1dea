package syncclient

import (
	"path/filepath"
	"testing"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/wire"
)

// FuzzHandle feeds untrusted messages from the broker to the client's
// handler: it must never panic, and only messages naming this appliance in
// the current protocol version may reach the sync loop.
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
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.policy != nil && (c.policy.ApplianceID != "blk-a" || c.policy.V != wire.ProtocolVersion || topic != wire.TopicPolicy("blk-a")) {
			t.Fatalf("policy let through: %+v on %q", c.policy, topic)
		}
		if c.ackUpTo != 0 && topic != wire.TopicAck("blk-a") {
			t.Fatalf("ack from topic %q", topic)
		}
		for _, a := range c.recAcks {
			if a.ApplianceID != "blk-a" || topic != wire.TopicRecordingAck("blk-a") {
				t.Fatalf("recording ack let through: %+v on %q", a, topic)
			}
		}
	})
}
