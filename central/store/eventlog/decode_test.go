package eventlog

// The decoding of untrusted payloads (moved from the core store's tests
// with the event log; their corpora are in testdata/fuzz).

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/sqldb"
	"github.com/kinline/kinline/shared/wire"
)

func FuzzDecodeEvent(f *testing.F) {
	for _, seed := range []string{
		`{"call_id":"c1","terminal":"t","number":"+1 555","start":"2025-01-01T00:00:00Z","end":"2025-01-01T00:01:00Z","disposition":"completed","recording":{"sha256":"AB"}}`,
		`{"code":"reader_down","source":"r1"}`,
		`{"policy_version":3}`,
		`{"uid":"04a1"}`,
		`{"call_id":"c2","terminal":"t1","number":"+44 1","start":"2025-01-01T00:00:00Z","privileged":true}`,
		`{"at":"2025-01-01T00:00:00Z"}`,
		`null`,
	} {
		for _, typ := range []string{"call", "alarm", "status", "card_tap", "officer", "call_started", "calls_cleared"} {
			f.Add(typ, []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		ev := &wire.Event{ApplianceID: "a", Seq: 1, Type: wire.EventType(typ), Payload: payload}
		p, err := decodeEvent(ev)
		if err != nil {
			if !errors.Is(err, sqldb.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if p.call != nil {
			if p.call.CallID == "" || p.call.Disposition == "" {
				t.Fatalf("accepted call without id or disposition: %+v", p.call)
			}
			if err := p.call.Validate(); err != nil {
				t.Fatalf("accepted invalid call: %v", err)
			}
		}
		if p.alarm != nil && p.alarm.Code == "" {
			t.Fatal("accepted alarm without code")
		}
		if p.officer != nil && (p.officer.Action == "" || len(p.officer.Action) > 32 || len(p.officer.CallID) > 128) {
			t.Fatalf("accepted bad officer action %+v", p.officer)
		}
		if c := p.started; c != nil && (c.CallID == "" || len(c.CallID) > 128 || len(c.Number) > 64 || len(c.Terminal) > 128 || c.Start.IsZero()) {
			t.Fatalf("accepted bad call_started %+v", c)
		}
		if p.cleared != nil && p.cleared.At.IsZero() {
			t.Fatal("accepted calls_cleared without a time")
		}
	})
}

// FuzzJSONHasNUL: jsonHasNUL agrees with decoding the whole document and
// looking at every string, and decodeEvent never accepts a payload that
// decodes to a NUL.
func FuzzJSONHasNUL(f *testing.F) {
	for _, seed := range []string{
		`{"a":"b"}`, `{"a":"\u0000"}`, `{"\u0000":1}`, `["x",["\u0000"]]`, `"\\u0000"`, `{"a":"\\\u0000"}`,
		`{"call_id":"c\u0000","disposition":"completed"}`, `{"code":"x","message":"\u0000"`, `nul\u0000`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var v any
		want := json.Unmarshal([]byte(doc), &v) == nil && anyHasNUL(v)
		if got := jsonHasNUL([]byte(doc)); got != want {
			t.Fatalf("jsonHasNUL(%q) = %v, want %v", doc, got, want)
		}
		for _, typ := range []wire.EventType{wire.EventCall, wire.EventAlarm, wire.EventCardTap, wire.EventOfficer, wire.EventStatus, wire.EventLedger, wire.EventNumberBlocked,
			wire.EventCallStarted, wire.EventCallsCleared} {
			if _, err := decodeEvent(&wire.Event{Type: typ, Payload: []byte(doc)}); err == nil && want {
				t.Fatalf("%s payload %q with a NUL accepted", typ, doc)
			}
		}
		if want && !strings.Contains(doc, `\u0000`) {
			t.Fatalf("NUL without the escape in %q", doc)
		}
	})
}

// FuzzDecodeMoneyEvent feeds untrusted ledger, number_blocked and call
// payloads (with money fields) to decodeEvent: it never panics, fails only
// with ErrInvalid, and what it accepts is usable by the projection (and
// within the money package's limits on reasons and receipts: 500 and 128).
func FuzzDecodeMoneyEvent(f *testing.F) {
	for _, seed := range []struct{ typ, payload string }{
		{"ledger", `{"id":"appA:1","account":"p1","kind":"call_debit","amount":-30,"currency":"EUR","ref":"c1","at":"2025-01-01T00:00:00Z","origin":"appA"}`},
		{"ledger", `{"id":"","account":"p1","kind":"recharge","amount":5}`},
		{"number_blocked", `{"call_id":"c1","person_id":"p1","terminal":"t1","number":"+44 7700 900123","at":"2025-01-01T00:00:00Z"}`},
		{"number_blocked", `{"person_id":"p1","number":"abc"}`},
		{"call", `{"call_id":"c1","terminal":"t","number":"+1","start":"2025-01-01T00:00:00Z","end":"2025-01-01T00:01:00Z","disposition":"completed","cost":-1}`},
		{"call", `{"call_id":"c1","terminal":"t","number":"+1","start":"2025-01-01T00:00:00Z","end":"2025-01-01T00:01:00Z","disposition":"completed","free":true,"cost":0,"currency":"EUR","limited_by":"balance","max_duration_seconds":60}`},
	} {
		f.Add(seed.typ, []byte(seed.payload))
	}
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		ev := &wire.Event{ApplianceID: "a", Seq: 1, Type: wire.EventType(typ), Payload: payload}
		p, err := decodeEvent(ev)
		if err != nil {
			if !errors.Is(err, sqldb.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if l := p.ledger; l != nil && (l.ID == "" || l.Account == "" || len(l.ID) > 128 || len(l.Reason) > 500 || len(l.Receipt) > 128) {
			t.Fatalf("accepted ledger entry %+v", l)
		}
		if nb := p.blocked; nb != nil && (nb.PersonID == "" || nb.Number == "" || len(nb.Number) > 64) {
			t.Fatalf("accepted number block %+v", nb)
		}
		if c := p.call; c != nil && (c.Cost < 0 || c.MaxDurationSeconds < 0 || len(c.Currency) > 8 || len(c.LimitedBy) > 32) {
			t.Fatalf("accepted call money fields %+v", c)
		}
	})
}
