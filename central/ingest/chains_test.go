package ingest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/shared/wire"
)

// TestWrongTopicBatchAlarmed: a batch naming another appliance, published
// on blk-a's events topic, is neither stored nor acknowledged, and raises
// AlarmWrongTopic about blk-a; blk-a's own traffic goes on.
func TestWrongTopicBatchAlarmed(t *testing.T) {
	var mu sync.Mutex
	var alarms []string
	e := setupCfg(t, nil, func(c *ingest.Config) {
		c.OnAlarm = func(id, code, source, message string) {
			mu.Lock()
			defer mu.Unlock()
			alarms = append(alarms, id+" "+code)
		}
	})
	other := events("blk-b", 1, 3, "")
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-b", Events: other})
	own := events("blk-a", 1, 2, "")
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: own})
	if got := e.nextAck(t); got != 2 {
		t.Fatalf("first ack %d, want 2 (the other appliance's batch acknowledged?)", got)
	}
	if n := len(e.st.Events("blk-b")); n != 0 {
		t.Fatalf("%d of the other appliance's events stored", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(alarms) != 1 || alarms[0] != "blk-a "+ingest.AlarmWrongTopic {
		t.Fatalf("alarms %v, want one %s about blk-a", alarms, ingest.AlarmWrongTopic)
	}
}

// conflictStore is a BatchStore whose acks report a conflict and nothing
// acknowledged.
type conflictStore struct {
	*ingesttest.Store
	mu      sync.Mutex
	batches []*wire.Batch
}

func (c *conflictStore) StoreBatch(_ context.Context, id string, b *wire.Batch) (wire.Ack, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b)
	return wire.Ack{V: wire.ProtocolVersion, ApplianceID: id, Epoch: b.Epoch(), Conflict: b.Events[0].Seq}, nil
}

// TestConflictAckPublished: with a BatchStore, ingest hands it the whole
// batch and publishes its ack even when nothing is acknowledged but a
// conflict is to be told.
func TestConflictAckPublished(t *testing.T) {
	cs := &conflictStore{Store: ingesttest.New()}
	e := setupWith(t, nil, nil, cs)
	evs := events("blk-a", 4, 2, "")
	for i := range evs {
		evs[i].Epoch = "e1"
		evs[i].Seal()
	}
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: wire.BatchVersion, ApplianceID: "blk-a", Acked: 3, Events: evs})
	a, err := wire.Decode[wire.Ack](e.next(t, wire.TopicAck("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if a.UpTo != 0 || a.Conflict != 4 || a.Epoch != "e1" {
		t.Fatalf("ack %+v, want conflict 4 of epoch e1", a)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.batches) != 1 || cs.batches[0].Acked != 3 {
		t.Fatalf("store got %d batches", len(cs.batches))
	}
}
