package wire

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestEpochInHashAndBatchVersions(t *testing.T) {
	ev := Event{ApplianceID: "a1", Seq: 1, Time: time.Unix(1, 0).UTC(), Type: EventCardTap, Payload: json.RawMessage(`{}`)}
	ev.Seal()
	legacy := ev.Hash
	ev.Epoch = "e1"
	if ev.Verify() == nil {
		t.Fatal("an epoch added after sealing still verifies")
	}
	ev.Seal()
	if ev.Hash == legacy {
		t.Fatal("the hash does not cover the epoch")
	}
	ev.Epoch = "bad epoch"
	ev.Seal()
	if err := ev.Verify(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("epoch with a space: %v", err)
	}
	ev.Epoch = "e1"
	ev.Seal()
	v1 := ev
	v1.Epoch = ""
	v1.Seal()
	for _, tc := range []struct {
		name string
		b    Batch
		ok   bool
	}{
		{"v1 without epoch", Batch{V: 1, ApplianceID: "a1", Events: []Event{v1}}, true},
		{"v2 with epoch", Batch{V: 2, ApplianceID: "a1", Events: []Event{ev, ev}}, true},
		{"v1 with epoch", Batch{V: 1, ApplianceID: "a1", Events: []Event{ev}}, false},
		{"v2 mixed epochs", Batch{V: 2, ApplianceID: "a1", Events: []Event{ev, {ApplianceID: "a1"}}}, false},
		{"v3", Batch{V: 3, ApplianceID: "a1"}, false},
		{"empty", Batch{V: 2, ApplianceID: "a1"}, false},
		{"unsealed event", Batch{V: 1, ApplianceID: "a1", Events: []Event{{ApplianceID: "a1"}}}, false},
	} {
		data, _ := json.Marshal(tc.b)
		_, err := Decode[Batch](data, "a1")
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Other messages stay at ProtocolVersion.
	if _, err := Decode[Ack]([]byte(`{"v":2,"appliance_id":"a1","up_to":1}`), "a1"); !errors.Is(err, ErrVersion) {
		t.Fatalf("ack of version 2: %v", err)
	}
}
