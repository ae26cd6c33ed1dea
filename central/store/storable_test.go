package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

// TestUnstorableTextFromAppliance: text PostgreSQL cannot store (a NUL
// character, invalid UTF-8) in an appliance's events is refused alike on
// both databases, with an alarm, and neither stops the batch's
// acknowledgement of the good events nor the projection of later ones.
func TestUnstorableTextFromAppliance(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	evs := chain("app1", 1, 6, "", func(seq uint64) (wire.EventType, any) {
		switch seq {
		case 2: // decodes to an alarm message with a NUL: stored, not projected
			return wire.EventAlarm, map[string]string{"code": "reader_down", "source": "r1", "message": "no\u0000answer"}
		case 3: // a NUL in a call's id
			return wire.EventCall, map[string]string{"call_id": "c\u0000x", "disposition": wire.DispCompleted}
		}
		return callEvent(seq)
	})
	// seq 5: a NUL in the type, sealed by the appliance (not stored).
	evs[4].Type = "call\x00"
	evs[4].Seal()
	ack, err := s.StoreEvents(ctx, "app1", evs)
	if err != nil {
		t.Fatal(err)
	}
	if ack != 4 {
		t.Fatalf("ack %d, want 4 (seq 5 refused)", ack)
	}
	if n := openAlarms(t, s, "app1", AlarmEventInvalid); n != 1 {
		t.Fatalf("%d event_invalid alarms, want 1 (seq 5)", n)
	}
	if n := openAlarms(t, s, "app1", AlarmPayload); n != 2 {
		t.Fatalf("%d payload alarms, want 2 (seq 2 and 3)", n)
	}
	// The projection went on past the refused payloads: seq 4 and 6.
	for _, seq := range []int{1, 4, 6} {
		if _, err := s.Call(ctx, fmt.Sprintf("call-%d", seq)); err != nil {
			t.Fatalf("call-%d not projected: %v", seq, err)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM alarms WHERE origin = 'appliance'`); n != 0 {
		t.Fatalf("%d appliance alarms projected, want 0 (the NUL alarm was refused)", n)
	}
	// Invalid UTF-8 in a payload (sealed; a direct caller, since JSON
	// decoding of a batch never yields it in strings).
	bad := chain("app1", 7, 7, evs[5].Hash, callEvent)
	bad[0].Payload = json.RawMessage("{\"call_id\":\"c7\",\"disposition\":\"completed\",\"reason\":\"\xff\"}")
	bad[0].Seal()
	if _, err := s.StoreEvents(ctx, "app1", bad); err != nil {
		t.Fatal(err)
	}
	if n := openAlarms(t, s, "app1", AlarmEventInvalid); n != 2 {
		t.Fatalf("%d event_invalid alarms after invalid UTF-8, want 2", n)
	}
	if n, _, _ := s.StoredEvents(ctx, "app1"); n != 5 {
		t.Fatalf("%d events stored, want 5 (1-4 and 6)", n)
	}
}
