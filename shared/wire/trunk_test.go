package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCallRecordTrunk: CallRecord.Trunk is additive: absent from the JSON
// when empty (a peer without it sees the record it always saw), carried
// when set, and "" in a record from before the field.
func TestCallRecordTrunk(t *testing.T) {
	b, err := json.Marshal(CallRecord{CallID: "c1", Disposition: DispRefused})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "trunk") {
		t.Fatalf("empty trunk on the wire: %s", b)
	}
	b, _ = json.Marshal(CallRecord{CallID: "c2", Disposition: DispCompleted, Trunk: "carrier-b"})
	var back CallRecord
	if err := json.Unmarshal(b, &back); err != nil || back.Trunk != "carrier-b" || !strings.Contains(string(b), `"trunk":"carrier-b"`) {
		t.Fatalf("round trip: %s -> %+v %v", b, back, err)
	}
	var old CallRecord
	if err := json.Unmarshal([]byte(`{"call_id":"c3","terminal":"t1","number":"1","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:00Z","disposition":"failed"}`), &old); err != nil || old.Trunk != "" {
		t.Fatalf("old record: %+v %v", old, err)
	}
}
