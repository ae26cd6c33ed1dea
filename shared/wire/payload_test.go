package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// samplePayloads holds one valid payload of every event type.
func samplePayloads() map[EventType]Payload {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	return map[EventType]Payload{
		EventCall: &CallRecord{CallID: "c1", Terminal: "t1", Number: "+442079460001", Start: t0, End: t0.Add(time.Minute),
			Disposition: DispCompleted, Recording: &RecordingRef{ID: "c1", SHA256: strings.Repeat("ab", 32), Bytes: 10, Format: "wav/pcmu-stereo"},
			Cost: 30, Currency: "GBP", LimitedBy: LimitRule, MaxDurationSeconds: 600, Trunk: "carrier-a"},
		EventCardTap:       &CardTap{Reader: "r1", Terminal: "t1", UID: "04A1B2C3", Known: true},
		EventAlarm:         &Alarm{Code: "reader_down", Source: "r1", Message: "no answer"},
		EventStatus:        &Status{PolicyVersion: 3, Software: "kinline 1"},
		EventOfficer:       &OfficerAction{Action: "confirm", OfficerID: "o1", CallID: "c1", Terminal: "t1"},
		EventLedger:        &LedgerEntry{ID: "a1:c1", Account: "p1", Kind: LedgerCallDebit, Amount: -30, Currency: "GBP", Ref: "c1", At: t0, Origin: "a1"},
		EventNumberBlocked: &NumberBlocked{CallID: "c1", PersonID: "p1", Terminal: "t1", Number: "+442079460001", At: t0},
		EventCallStarted:   &CallStarted{CallID: "c1", Terminal: "t1", PersonID: "p1", Number: "+442079460001", Start: t0},
		EventCallsCleared:  &CallsCleared{At: t0},
		EventCommand:       &CommandRecord{ID: "cmd-1", Kind: CmdLockdown, Expires: t0.Add(time.Hour), OK: true},
	}
}

// TestPayloadTable: every event type constant has its payload type, and a
// valid payload of each decodes to its type, unchanged.
func TestPayloadTable(t *testing.T) {
	samples := samplePayloads()
	if got := EventTypes(); len(got) != len(samples) {
		t.Fatalf("EventTypes() = %v, want the %d types of the samples", got, len(samples))
	}
	for _, typ := range EventTypes() {
		want, ok := samples[typ]
		if !ok {
			t.Fatalf("no sample for %s", typ)
		}
		if p, ok := NewPayload(typ); !ok || reflect.TypeOf(p) != reflect.TypeOf(want) {
			t.Fatalf("NewPayload(%s) = %T, want %T", typ, p, want)
		}
		data, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodePayload(&Event{Type: typ, Payload: data})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded %+v, want %+v", typ, got, want)
		}
	}
	if _, err := DecodePayload(&Event{Type: "voicemail", Payload: []byte(`{}`)}); !errors.Is(err, ErrUnknownEventType) {
		t.Fatalf("unknown type: %v", err)
	}
}

// TestDecodePayloadRefuses: payloads whose shape is wrong are refused with
// ErrMalformed, and the canonical forms are applied to the others.
func TestDecodePayloadRefuses(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, c := range []struct {
		typ     EventType
		payload any
	}{
		{EventCall, `not json`},
		{EventCall, map[string]any{"call_id": "", "disposition": "completed"}},
		{EventCall, map[string]any{"call_id": long(MaxIDLen + 1), "disposition": "completed"}},
		{EventCall, map[string]any{"call_id": "c1"}},
		{EventCall, map[string]any{"call_id": "c1", "disposition": "completed", "recording": map[string]any{"sha256": "AB"}}},
		{EventCall, map[string]any{"call_id": "c1", "disposition": "completed", "cost": -1}},
		{EventCall, map[string]any{"call_id": "c1", "disposition": "completed", "max_duration_seconds": -1}},
		{EventCall, map[string]any{"call_id": "c1", "disposition": "completed", "currency": long(MaxCurrencyLen + 1)}},
		{EventCall, map[string]any{"call_id": "c1", "disposition": "completed", "limited_by": long(MaxCodeLen + 1)}},
		{EventCall, map[string]any{"call_id": "c1", "disposition": "completed", "trunk": long(MaxTrunkLen + 1)}},
		{EventCall, nil},
		{EventAlarm, map[string]any{"source": "r1"}},
		{EventOfficer, map[string]any{"action": ""}},
		{EventOfficer, map[string]any{"action": "confirm", "call_id": long(MaxIDLen + 1)}},
		{EventLedger, map[string]any{"id": "", "account": "p1"}},
		{EventLedger, map[string]any{"id": "e1", "account": "p1", "reason": long(MaxLedgerReasonLen + 1)}},
		{EventLedger, map[string]any{"id": "e1", "account": "p1", "receipt": long(MaxLedgerReceiptLen + 1)}},
		{EventNumberBlocked, map[string]any{"number": "+441"}},
		{EventNumberBlocked, map[string]any{"person_id": "p1", "number": "abc"}},
		{EventNumberBlocked, map[string]any{"person_id": "p1", "number": "+44" + strings.Repeat(" 1", 40)}},
		{EventCallStarted, map[string]any{"call_id": "c1"}},
		{EventCallStarted, map[string]any{"call_id": "c1", "start": "2025-01-01T00:00:00Z", "number": long(MaxNumberLen + 1)}},
		{EventCallsCleared, map[string]any{}},
		{EventCommand, map[string]any{"id": "bad id", "kind": "lockdown", "expires": "2025-01-01T00:00:00Z"}},
		{EventCommand, map[string]any{"id": "c1", "expires": "2025-01-01T00:00:00Z"}},
		{EventCommand, map[string]any{"id": "c1", "kind": "lockdown"}},
	} {
		data, ok := c.payload.(string)
		if !ok {
			b, _ := json.Marshal(c.payload)
			data = string(b)
		}
		if p, err := DecodePayload(&Event{Type: c.typ, Payload: []byte(data)}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s %s: %+v, %v; want ErrMalformed", c.typ, data, p, err)
		}
	}

	p, err := DecodePayload(&Event{Type: EventCall, Payload: []byte(`{"call_id":"c1","disposition":"completed","number":"0044 20 7946-0001","card_uid":" 04a1 ","recording":{"sha256":"` + strings.Repeat("AB", 32) + `"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.(*CallRecord); c.Number != "+442079460001" || c.CardUID != "04A1" || c.Recording.SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("call not canonical: %+v", c)
	}
	p, err = DecodePayload(&Event{Type: EventCall, Payload: []byte(`{"call_id":"c1","disposition":"refused","number":"sip:x"}`)})
	if err != nil || p.(*CallRecord).Number != "sip:x" {
		t.Fatalf("a refused call's unusable number is kept as dialled: %+v %v", p, err)
	}
	p, err = DecodePayload(&Event{Type: EventNumberBlocked, Payload: []byte(`{"person_id":"p1","number":"0044 1"}`)})
	if err != nil || p.(*NumberBlocked).Number != "+441" {
		t.Fatalf("number_blocked not canonical: %+v %v", p, err)
	}
	p, err = DecodePayload(&Event{Type: EventCardTap, Payload: []byte(`{"uid":"04a1"}`)})
	if err != nil || p.(*CardTap).UID != "04A1" {
		t.Fatalf("card tap not canonical: %+v %v", p, err)
	}
	p, err = DecodePayload(&Event{Type: EventCallStarted, Payload: []byte(`{"call_id":"c1","start":"2025-01-01T00:00:00Z","number":"0044 1"}`)})
	if err != nil || p.(*CallStarted).Number != "+441" {
		t.Fatalf("call_started not canonical: %+v %v", p, err)
	}
}

// FuzzDecodePayload: DecodePayload never panics, fails only with
// ErrMalformed or ErrUnknownEventType, and what it accepts is valid and
// canonical: encoded and decoded again it is accepted and unchanged.
func FuzzDecodePayload(f *testing.F) {
	for typ, p := range samplePayloads() {
		data, _ := json.Marshal(p)
		f.Add(string(typ), data)
	}
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		p, err := DecodePayload(&Event{Type: EventType(typ), Payload: payload})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownEventType) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrUnknownEventType: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted payload is not valid once canonical: %v", err)
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodePayload(&Event{Type: EventType(typ), Payload: data})
		if err != nil {
			t.Fatalf("canonical payload %s refused: %v", data, err)
		}
		data2, _ := json.Marshal(again)
		if !bytes.Equal(data, data2) {
			t.Fatalf("canonical form not stable: %s, then %s", data, data2)
		}
	})
}

// TestEveryEventTypeHasPayload: every EventType constant declared in this
// package has a payload type in the table, so that a new event type
// cannot be added without its Validate.
func TestEveryEventTypeHasPayload(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`\bEventType = "([^"]+)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllSubmatch(src, -1) {
			n++
			if _, ok := NewPayload(EventType(m[1])); !ok {
				t.Errorf("%s: event type %q has no payload type in the table", f, m[1])
			}
		}
	}
	if n != len(EventTypes()) {
		t.Fatalf("%d event type constants, %d payload types", n, len(EventTypes()))
	}
}

// TestStatusValidate: a status of an older appliance (no capability) and of
// a newer one pass; an oversized software, one with control characters and
// a negative capability are refused.
func TestStatusValidate(t *testing.T) {
	for _, s := range []Status{
		{Software: "dev"},
		{Software: "v1.2.0-3-gabcdef", Capability: CurrentCapabilityVersion},
		{Software: "v9.0.0", Capability: CurrentCapabilityVersion + 40},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	for _, s := range []Status{
		{Software: strings.Repeat("v", MaxIDLen+1)},
		{Software: "v1\nERROR forged log line"},
		{Software: "v1\x1b[31m"},
		{Software: "v1", Capability: -1},
	} {
		if err := s.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v: %v, want ErrMalformed", s, err)
		}
	}
}
