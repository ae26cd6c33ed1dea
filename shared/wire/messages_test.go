package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// validator is a message with a Validate method of no argument.
type validator interface{ Validate() error }

// sampleMessages holds one valid message of every kind, by name.
func sampleMessages() map[string]validator {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	ev := Event{ApplianceID: "a1", Epoch: "e1", Seq: 1, Time: t0, Type: EventAlarm, Payload: json.RawMessage(`{"code":"reader_down"}`)}
	ev.Seal()
	data := []byte("audio")
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	return map[string]validator{
		"batch":          &Batch{V: BatchVersion, ApplianceID: "a1", Events: []Event{ev}, Acked: 0},
		"ack":            &Ack{V: ProtocolVersion, ApplianceID: "a1", UpTo: 1, Epoch: "e1", Hash: ev.Hash},
		"policy":         &Policy{V: ProtocolVersion, ApplianceID: "a1", Block: "A", Version: 3, IssuedAt: t0},
		"recording":      &RecordingUpload{V: ProtocolVersion, ApplianceID: "a1", CallID: "c1", Ref: RecordingRef{ID: "c1", SHA256: hexSum, Bytes: int64(len(data))}, Data: data},
		"recording_ack":  &RecordingAck{V: ProtocolVersion, ApplianceID: "a1", CallID: "c1", SHA256: hexSum, OK: true},
		"command":        &Command{V: ProtocolVersion, ID: "cmd-1", ApplianceID: "a1", Kind: CmdEndCall, CallID: "c1", Issued: t0, Expires: t0.Add(time.Minute)},
		"command_answer": &CommandAnswer{V: ProtocolVersion, ApplianceID: "a1", ID: "cmd-1", OK: true, At: t0},
		"chunk_ack":      &RecordingChunkAck{V: ProtocolVersion, ApplianceID: "a1", CallID: "c1", SHA256: hexSum, Attempt: 1, Offset: 5},
		"policy_delta":   &PolicyDelta{V: ProtocolVersion, ApplianceID: "a1", Block: "A", BaseVersion: 3, Version: 4, IssuedAt: t0, Remove: []string{"p1"}},
		"policy_request": &PolicyRequest{V: ProtocolVersion, ApplianceID: "a1", Have: 3, Reason: "delta 4->5, have 3"},
	}
}

// decodeMessage decodes data as the message kind name with the package's
// decoder of that kind, for appliance "a1".
func decodeMessage(name string, data []byte) (validator, error) {
	switch name {
	case "batch":
		return nilIfErr(Decode[Batch](data, "a1"))
	case "ack":
		return nilIfErr(Decode[Ack](data, "a1"))
	case "policy":
		return nilIfErr(Decode[Policy](data, "a1"))
	case "recording":
		return nilIfErr(Decode[RecordingUpload](data, "a1"))
	case "recording_ack":
		return nilIfErr(Decode[RecordingAck](data, "a1"))
	case "command":
		c, err := DecodeCommand(data, "a1")
		if err == nil {
			err = c.Check()
		}
		return nilIfErr(c, err)
	case "command_answer":
		return nilIfErr(DecodeCommandAnswer(data, "a1"))
	case "chunk_ack":
		return nilIfErr(DecodeRecordingChunkAck(data, "a1"))
	case "policy_delta":
		return nilIfErr(DecodePolicyDelta(data, "a1"))
	case "policy_request":
		return nilIfErr(DecodePolicyRequest(data, "a1"))
	}
	return nil, errors.New("unknown message kind " + name)
}

func nilIfErr[T any, P interface {
	*T
	validator
}](m P, err error) (validator, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}

// TestMessagesValidate: every message kind decodes with its decoder and
// validates; with another version, Validate and the decoder refuse it
// with ErrVersion.
func TestMessagesValidate(t *testing.T) {
	for name, m := range sampleMessages() {
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data, _ := json.Marshal(m)
		if _, err := decodeMessage(name, data); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		var doc map[string]any
		_ = json.Unmarshal(data, &doc)
		doc["v"] = 7
		data, _ = json.Marshal(doc)
		if _, err := decodeMessage(name, data); !errors.Is(err, ErrVersion) {
			t.Fatalf("%s of version 7: %v", name, err)
		}
	}
	// A chunk validates against the largest file size given.
	data := []byte("audio")
	sum := sha256.Sum256(data)
	c := RecordingChunk{V: ProtocolVersion, ApplianceID: "a1", CallID: "c1", Ref: RecordingRef{SHA256: strings.ToUpper(hex.EncodeToString(sum[:])), Bytes: 5},
		Attempt: 1, ChunkSHA256: strings.ToUpper(hex.EncodeToString(sum[:])), Data: data}
	if err := c.Validate(5); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(4); !errors.Is(err, ErrMalformed) {
		t.Fatalf("chunk of a file over the limit: %v", err)
	}
	c.Data = []byte("audiO")
	if err := c.Validate(5); !errors.Is(err, ErrChunkHash) {
		t.Fatalf("chunk with other data: %v", err)
	}
	// A recording upload's call id cannot name another directory.
	up := *sampleMessages()["recording"].(*RecordingUpload)
	for _, id := range []string{"", "../x", `a\b`, "a\x00", strings.Repeat("c", MaxCallIDLen+1)} {
		up.CallID = id
		if err := up.Validate(); !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrBadCallID) {
			t.Fatalf("call id %q: %v", id, err)
		}
	}
	// A batch on another appliance's topic is refused as such even when
	// its events are wrong too.
	b := *sampleMessages()["batch"].(*Batch)
	b.ApplianceID, b.Events[0].ApplianceID = "a2", "a2"
	bad, _ := json.Marshal(b)
	if _, err := Decode[Batch](bad, "a1"); !errors.Is(err, ErrOtherAppliance) {
		t.Fatalf("batch of a2 with a bad hash on a1's topic: %v", err)
	}
}

// FuzzDecodeMessage: the decoders of every message kind never panic,
// fail only with ErrMalformed or ErrVersion (or, for a chunk ack, a bad
// call id), and what they accept validates.
func FuzzDecodeMessage(f *testing.F) {
	for name, m := range sampleMessages() {
		data, _ := json.Marshal(m)
		f.Add(name, data)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		m, err := decodeMessage(name, data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrHash) &&
				!errors.Is(err, ErrBadCallID) && !errors.Is(err, ErrBadCommand) && !strings.HasPrefix(err.Error(), "unknown message kind") {
				t.Fatalf("%s: unexpected error %v", name, err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("%s accepted by its decoder but not valid: %v", name, err)
		}
	})
}
