// Package sign signs and verifies the messages whose origin matters:
// an appliance's event batches (wire.Batch, signed with the appliance's
// ed25519 event key), a block's policy (wire.Policy) and central's
// commands (wire.Command), both signed with central's ed25519 policy key.
// It also reads and writes those keys as PEM files (PKCS#8 private keys, PKIX public keys).
//
// # Canonical form
//
// A signature covers a deterministic binary encoding of the message, never
// its JSON text, so it survives any JSON re-encoding that keeps the values.
// The encoding is built from these primitives:
//
//	u64(x)   8 bytes, big-endian
//	i64(x)   u64 of the two's complement
//	str(s)   u64(len(s)) then the bytes of s (also used for []byte)
//	bool(b)  one byte, 0 or 1
//	time(t)  i64(t.Unix()) then 4 bytes big-endian t.Nanosecond():
//	         the instant only, not the zone or monotonic reading
//	list(xs) u64(len(xs)) then each element
//
// and the messages are encoded as (Signature is never part of it):
//
//	Batch          = str("kinline/sign/v1/batch") i64(V) str(ApplianceID) list(Event)
//	                 for V 1 (which carries no Acked and no epochs); for V 2
//	                 (wire.BatchVersion) str("kinline/sign/v2/batch") i64(V)
//	                 str(ApplianceID) u64(Acked) list(Event2)
//	Event2         = str(ApplianceID) str(Epoch) u64(Seq) time(Time) str(Type)
//	                 str(Payload) str(PrevHash) str(Hash)
//	Event          = str(ApplianceID) u64(Seq) time(Time) str(Type) str(Payload)
//	                 str(PrevHash) str(Hash)
//	Policy         = str("kinline/sign/v3/policy") i64(V) str(ApplianceID) str(Block)
//	                 u64(Version) time(IssuedAt) list(Person) list(CallRule)
//	                 str(Prison) str(TimeZone) list(Window) list(NumberAttr) Money
//	Person         = str(ID) str(PrisonNumber) str(Name) str(Status) str(Language)
//	                 list(str(card)) str(PINHash) list(ApprovedNumber) bool(Officer)
//	                 str(SupervisionLevel) str(Confirm) i64(ConfirmWindowSeconds)
//	                 list(Window) i64(MaxDurationSeconds) i64(CallsPerDay)
//	                 i64(CallsPerWeek) i64(CallsPerMonth)
//	ApprovedNumber = str(Number) str(Name) str(Relationship) bool(Privileged)
//	                 bool(Free) bool(Hidden)
//	CallRule       = str(Level) str(Confirm) i64(ConfirmWindowSeconds)
//	                 bool(OfficerTapEndsCall) i64(MaxDurationSeconds) i64(CallsPerDay)
//	                 i64(CallsPerWeek) i64(CallsPerMonth) list(Window)
//	Window         = list(i64(day)) str(Start) str(End)
//	NumberAttr     = str(Number) str(Kind) str(Note)
//	Money          = bool(false) when Money is nil, else bool(true) str(Currency)
//	                 i64(Digits) str(TimeZone) list(Rate) list(AccountMoney) u64(IncludedSeq)
//	Rate           = str(Prefix) str(DestinationType) str(Name) i64(PerMinute)
//	                 i64(BillingUnitSeconds) i64(ConnectionFee) str(Rounding)
//	AccountMoney   = str(Account) i64(Balance) i64(CallsPerDay) i64(CallsPerWeek)
//	                 i64(CallsPerMonth) list(CallStamp)
//	CallStamp      = str(CallID) time(At)
//	Command        = str("kinline/sign/v1/command") i64(V) str(ID) str(ApplianceID)
//	                 str(Kind) str(CallID) time(Issued) time(Expires)
//
// The policy form is v3: v1 covered only people, cards, numbers and
// confirmation rules; v2 (never released) added the rules' windows and
// quotas, the prison-wide numbers and money; v3 adds each person's own
// quotas. A change of form changes the domain, so no signature carries over.
//
// Two fields are left out. MoneyPolicy.Charging (capability 19): it
// changes nothing an appliance decides (a money part means charging with
// or without it), and covering it would make every appliance before 19
// refuse the policies of a central that charges (central is upgraded
// first). Command.By (capability 21): it names who sent the command for
// the record and authorizes nothing, and covering it would make every
// appliance before 21 refuse the end_call commands of a newer central.
//
// The leading domain string keeps a signature of one kind of message from
// ever verifying as a signature of another. Every field of the wire structs
// but those two (above) is covered; a test walks the structs by
// reflection and fails when a field is added to shared/wire without being
// added here.
//
// Event payloads are signed as their bytes. encoding/json sends a
// json.RawMessage compacted (and with <, >, & escaped), so SignBatch refuses
// a payload that is not already in that form: it would not verify once it
// had crossed the wire. Payloads made with json.Marshal are in that form.
// Likewise SignBatch and SignPolicy refuse strings that are not valid UTF-8,
// which JSON cannot carry unchanged.
package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kinline/kinline/shared/wire"
)

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrUnsigned: the message carries no signature.
	ErrUnsigned = errors.New("sign: message is not signed")
	// ErrBadSignature: the signature does not match the message and key
	// (the message was altered, or signed by another key).
	ErrBadSignature = errors.New("sign: bad signature")
	// ErrKey: a key is missing, of the wrong type or size, or its file
	// cannot be parsed.
	ErrKey = errors.New("sign: bad key")
	// ErrKeyPermissions: a private key file is readable or writable by
	// users other than its owner.
	ErrKeyPermissions = errors.New("sign: private key file permissions too open")
	// ErrNotCanonical: the message holds a value that would not survive
	// the JSON encoding unchanged, so its signature could never verify.
	ErrNotCanonical = errors.New("sign: message not in transmittable form")
)

// Domain strings that open each canonical form.
const (
	domainBatch  = "kinline/sign/v1/batch"
	domainBatch2 = "kinline/sign/v2/batch"
	domainPolicy = "kinline/sign/v3/policy"
)

// SignBatch signs b with the appliance's event key and stores the
// signature in b.Signature (replacing any previous one).
func SignBatch(priv ed25519.PrivateKey, b *wire.Batch) error {
	if err := checkPrivate(priv); err != nil {
		return err
	}
	msg, err := encodeBatch(b, true)
	if err != nil {
		return err
	}
	b.Signature = ed25519.Sign(priv, msg)
	return nil
}

// VerifyBatch checks b.Signature against the appliance's event public key.
// It returns nil, or an error wrapping ErrUnsigned, ErrBadSignature or
// ErrKey. It does not modify b.
func VerifyBatch(pub ed25519.PublicKey, b *wire.Batch) error {
	if err := checkPublic(pub); err != nil {
		return err
	}
	if len(b.Signature) == 0 {
		return fmt.Errorf("%w: batch from %q", ErrUnsigned, b.ApplianceID)
	}
	msg, err := encodeBatch(b, false)
	if err != nil || len(b.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, b.Signature) {
		return fmt.Errorf("%w: batch from %q", ErrBadSignature, b.ApplianceID)
	}
	return nil
}

// SignPolicy signs p with central's policy key and stores the signature in
// p.Signature (replacing any previous one).
func SignPolicy(priv ed25519.PrivateKey, p *wire.Policy) error {
	if err := checkPrivate(priv); err != nil {
		return err
	}
	msg, err := encodePolicy(p, true)
	if err != nil {
		return err
	}
	p.Signature = ed25519.Sign(priv, msg)
	return nil
}

// VerifyPolicy checks p.Signature against central's policy public key.
// It returns nil, or an error wrapping ErrUnsigned, ErrBadSignature or
// ErrKey. It does not modify p.
func VerifyPolicy(pub ed25519.PublicKey, p *wire.Policy) error {
	if err := checkPublic(pub); err != nil {
		return err
	}
	if len(p.Signature) == 0 {
		return fmt.Errorf("%w: policy %d for %q", ErrUnsigned, p.Version, p.ApplianceID)
	}
	msg, _ := encodePolicy(p, false)
	if len(p.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, p.Signature) {
		return fmt.Errorf("%w: policy %d for %q", ErrBadSignature, p.Version, p.ApplianceID)
	}
	return nil
}

// BatchBytes returns the canonical form of b that its signature covers.
func BatchBytes(b *wire.Batch) []byte {
	msg, _ := encodeBatch(b, false)
	return msg
}

// PolicyBytes returns the canonical form of p that its signature covers.
func PolicyBytes(p *wire.Policy) []byte {
	msg, _ := encodePolicy(p, false)
	return msg
}

func checkPrivate(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: ed25519 private key has %d bytes, want %d", ErrKey, len(priv), ed25519.PrivateKeySize)
	}
	return nil
}

func checkPublic(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: ed25519 public key has %d bytes, want %d", ErrKey, len(pub), ed25519.PublicKeySize)
	}
	return nil
}

// encoder builds a canonical form. With strict set it records the first
// value that JSON would not carry unchanged.
type encoder struct {
	buf    []byte
	strict bool
	err    error
}

func (e *encoder) u64(x uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, x) }
func (e *encoder) i64(x int64)  { e.u64(uint64(x)) }

func (e *encoder) str(field, s string) {
	if e.strict && e.err == nil && !utf8.ValidString(s) {
		e.err = fmt.Errorf("%w: %s is not valid UTF-8", ErrNotCanonical, field)
	}
	e.u64(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// payload appends an event's payload; seq names it in errors.
func (e *encoder) payload(seq uint64, p []byte) {
	if e.strict && e.err == nil {
		want, err := json.Marshal(json.RawMessage(p))
		switch {
		case err != nil:
			e.err = fmt.Errorf("%w: payload of event seq %d is not valid JSON: %v", ErrNotCanonical, seq, err)
		case !bytes.Equal(want, p):
			e.err = fmt.Errorf("%w: payload of event seq %d is not in the form encoding/json sends (marshal it with json.Marshal)", ErrNotCanonical, seq)
		}
	}
	e.u64(uint64(len(p)))
	e.buf = append(e.buf, p...)
}

func (e *encoder) boolean(b bool) {
	if b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) time(t time.Time) {
	e.i64(t.Unix())
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(t.Nanosecond()))
}

func encodeBatch(b *wire.Batch, strict bool) ([]byte, error) {
	e := &encoder{strict: strict, buf: make([]byte, 0, 64+len(b.ApplianceID)+eventSize(b.Events))}
	v2 := b.V >= 2
	if v2 {
		e.str("domain", domainBatch2)
		e.i64(int64(b.V))
		e.str("appliance_id", b.ApplianceID)
		e.u64(b.Acked)
	} else {
		if b.Acked != 0 {
			return nil, fmt.Errorf("%w: acked in a batch of version %d", ErrNotCanonical, b.V)
		}
		e.str("domain", domainBatch)
		e.i64(int64(b.V))
		e.str("appliance_id", b.ApplianceID)
	}
	e.u64(uint64(len(b.Events)))
	for i := range b.Events {
		ev := &b.Events[i]
		e.str("event appliance_id", ev.ApplianceID)
		if v2 {
			e.str("event epoch", ev.Epoch)
		} else if ev.Epoch != "" {
			return nil, fmt.Errorf("%w: epoch in a batch of version %d", ErrNotCanonical, b.V)
		}
		e.u64(ev.Seq)
		e.time(ev.Time)
		e.str("event type", string(ev.Type))
		e.payload(ev.Seq, ev.Payload)
		e.str("event prev_hash", ev.PrevHash)
		e.str("event hash", ev.Hash)
	}
	return e.buf, e.err
}

// eventSize is the exact size of the events' canonical form.
func eventSize(evs []wire.Event) int {
	n := 8
	for i := range evs {
		ev := &evs[i]
		n += 5*8 + 8 + 12 + len(ev.ApplianceID) + len(ev.Type) + len(ev.Payload) + len(ev.PrevHash) + len(ev.Hash)
	}
	return n
}

func encodePolicy(p *wire.Policy, strict bool) ([]byte, error) {
	e := &encoder{strict: strict, buf: make([]byte, 0, 256+256*len(p.People))}
	e.str("domain", domainPolicy)
	e.i64(int64(p.V))
	e.str("appliance_id", p.ApplianceID)
	e.str("block", p.Block)
	e.u64(p.Version)
	e.time(p.IssuedAt)
	e.u64(uint64(len(p.People)))
	for i := range p.People {
		pe := &p.People[i]
		e.str("person id", pe.ID)
		e.str("person prison_number", pe.PrisonNumber)
		e.str("person name", pe.Name)
		e.str("person status", pe.Status)
		e.str("person language", pe.Language)
		e.u64(uint64(len(pe.Cards)))
		for _, c := range pe.Cards {
			e.str("person card", c)
		}
		e.str("person pin_hash", pe.PINHash)
		e.u64(uint64(len(pe.Numbers)))
		for j := range pe.Numbers {
			n := &pe.Numbers[j]
			e.str("number", n.Number)
			e.str("number name", n.Name)
			e.str("number relationship", n.Relationship)
			e.boolean(n.Privileged)
			e.boolean(n.Free)
			e.boolean(n.Hidden)
		}
		e.boolean(pe.Officer)
		e.str("person supervision_level", pe.SupervisionLevel)
		e.str("person confirm", pe.Confirm)
		e.i64(int64(pe.ConfirmWindowSeconds))
		e.windows(pe.Windows)
		e.i64(int64(pe.MaxDurationSeconds))
		e.i64(int64(pe.CallsPerDay))
		e.i64(int64(pe.CallsPerWeek))
		e.i64(int64(pe.CallsPerMonth))
	}
	e.u64(uint64(len(p.Rules)))
	for i := range p.Rules {
		r := &p.Rules[i]
		e.str("rule level", r.Level)
		e.str("rule confirm", r.Confirm)
		e.i64(int64(r.ConfirmWindowSeconds))
		e.boolean(r.OfficerTapEndsCall)
		e.i64(int64(r.MaxDurationSeconds))
		e.i64(int64(r.CallsPerDay))
		e.i64(int64(r.CallsPerWeek))
		e.i64(int64(r.CallsPerMonth))
		e.windows(r.Windows)
	}
	e.str("prison", p.Prison)
	e.str("time_zone", p.TimeZone)
	e.windows(p.Windows)
	e.u64(uint64(len(p.Numbers)))
	for i := range p.Numbers {
		n := &p.Numbers[i]
		e.str("global number", n.Number)
		e.str("global number kind", n.Kind)
		e.str("global number note", n.Note)
	}
	e.money(p.Money)
	return e.buf, e.err
}

func (e *encoder) windows(ws []wire.Window) {
	e.u64(uint64(len(ws)))
	for i := range ws {
		w := &ws[i]
		e.u64(uint64(len(w.Days)))
		for _, d := range w.Days {
			e.i64(int64(d))
		}
		e.str("window start", w.Start)
		e.str("window end", w.End)
	}
}

func (e *encoder) money(m *wire.MoneyPolicy) {
	if m == nil {
		e.boolean(false)
		return
	}
	e.boolean(true)
	e.str("money currency", m.Currency)
	e.i64(int64(m.Digits))
	e.str("money time_zone", m.TimeZone)
	e.u64(uint64(len(m.Rates)))
	for i := range m.Rates {
		r := &m.Rates[i]
		e.str("rate prefix", r.Prefix)
		e.str("rate destination_type", r.DestinationType)
		e.str("rate name", r.Name)
		e.i64(r.PerMinute)
		e.i64(int64(r.BillingUnitSeconds))
		e.i64(r.ConnectionFee)
		e.str("rate rounding", r.Rounding)
	}
	e.u64(uint64(len(m.Accounts)))
	for i := range m.Accounts {
		a := &m.Accounts[i]
		e.str("account", a.Account)
		e.i64(a.Balance)
		e.i64(int64(a.CallsPerDay))
		e.i64(int64(a.CallsPerWeek))
		e.i64(int64(a.CallsPerMonth))
		e.u64(uint64(len(a.RecentCalls)))
		for j := range a.RecentCalls {
			e.str("recent call", a.RecentCalls[j].CallID)
			e.time(a.RecentCalls[j].At)
		}
	}
	e.u64(m.IncludedSeq)
}
