package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestDualAuthFieldsAreAdditive: a policy and a call record written before
// dual authorization still decode (the new fields are zero: no officer), and
// the new fields round-trip and stay out of the JSON when unset.
func TestDualAuthFieldsAreAdditive(t *testing.T) {
	old := `{"v":1,"appliance_id":"a1","block":"A","version":3,"issued_at":"2026-03-01T10:00:00Z",
		"people":[{"id":"p1","prison_number":"A1","name":"Ann","status":"active","cards":["04A1B2C3"],"numbers":[]}]}`
	p, err := Decode[Policy]([]byte(old), "a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 0 || p.People[0].SupervisionLevel != "" || p.People[0].Confirm != ConfirmInherit {
		t.Fatalf("old policy decoded with rules: %+v", p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rules", "supervision_level", "confirm"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("unset %s written: %s", k, b)
		}
	}

	p.Rules = []CallRule{{Level: "high", Confirm: ConfirmBoth, ConfirmWindowSeconds: 30, OfficerTapEndsCall: true}}
	p.People[0].SupervisionLevel, p.People[0].Confirm, p.People[0].ConfirmWindowSeconds = "high", ConfirmCard, 10
	b, _ = json.Marshal(p)
	back, err := Decode[Policy](b, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Rules[0], p.Rules[0]) || back.People[0].SupervisionLevel != "high" || back.People[0].Confirm != ConfirmCard || back.People[0].ConfirmWindowSeconds != 10 {
		t.Fatalf("round trip: %+v", back)
	}

	rec := CallRecord{CallID: "c1", Terminal: "t1", Number: "1", Disposition: DispCompleted, OfficerID: "o1", ConfirmMethod: "button+card", EndedBy: "o2"}
	b, _ = json.Marshal(rec)
	var got CallRecord
	if err := json.Unmarshal(b, &got); err != nil || got.OfficerID != "o1" || got.ConfirmMethod != "button+card" || got.EndedBy != "o2" {
		t.Fatalf("call record round trip: %+v %v (%s)", got, err, b)
	}
	b, _ = json.Marshal(CallRecord{CallID: "c2"})
	if strings.Contains(string(b), "officer") || strings.Contains(string(b), "ended_by") {
		t.Errorf("unset officer fields written: %s", b)
	}
}
