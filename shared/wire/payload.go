package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/kinline/kinline/shared/policy/number"
)

// Event payloads: one table from event type to payload type, a Validate
// method per payload type, and DecodePayload, which turns an untrusted
// event's payload into a typed value that has been validated and put in
// its canonical form.
//
// Validate checks a payload's shape as it crossed the wire: the fields a
// payload cannot do without, and the sizes of its text. What a receiver
// does with a well-formed payload (whether a person belongs to the
// appliance's block, whether an appliance may write a ledger entry of that
// kind, what text a database can store) is the receiver's business, not
// this package's.

// Bounds of payload fields, in bytes.
const (
	// MaxIDLen bounds the ids in payloads (call, person, officer,
	// terminal, ledger entry and account ids, ledger origins).
	MaxIDLen = 128
	// MaxNumberLen bounds a phone number as sent (before normalization)
	// and a prison number.
	MaxNumberLen = 64
	// MaxCurrencyLen bounds a currency code.
	MaxCurrencyLen = 8
	// MaxCodeLen bounds short codes: CallRecord.LimitedBy,
	// OfficerAction.Action, LedgerEntry.Kind and CommandRecord.Kind.
	MaxCodeLen = 32
	// MaxTrunkLen bounds CallRecord.Trunk.
	MaxTrunkLen = 64
	// MaxLedgerReasonLen bounds LedgerEntry.Reason, MaxLedgerReceiptLen
	// LedgerEntry.Receipt.
	MaxLedgerReasonLen  = 500
	MaxLedgerReceiptLen = 128
)

// ErrUnknownEventType is returned by DecodePayload for an event type that
// has no payload type here (a newer peer's event: receivers keep such
// events without looking into them).
var ErrUnknownEventType = errors.New("wire: unknown event type")

// Payload is the payload of an event: a pointer to one of the payload
// types of the table (see NewPayload).
type Payload interface {
	// Validate checks the payload's shape (see above). Its errors wrap
	// ErrMalformed.
	Validate() error
}

// canonicalizer is a Payload with a canonical form, which DecodePayload
// puts it in after validating it.
type canonicalizer interface {
	canonical()
}

// eventPayloads is the table from event type to payload type.
var eventPayloads = map[EventType]func() Payload{
	EventCall:          func() Payload { return new(CallRecord) },
	EventCardTap:       func() Payload { return new(CardTap) },
	EventAlarm:         func() Payload { return new(Alarm) },
	EventStatus:        func() Payload { return new(Status) },
	EventOfficer:       func() Payload { return new(OfficerAction) },
	EventLedger:        func() Payload { return new(LedgerEntry) },
	EventNumberBlocked: func() Payload { return new(NumberBlocked) },
	EventCallStarted:   func() Payload { return new(CallStarted) },
	EventCallsCleared:  func() Payload { return new(CallsCleared) },
	EventCommand:       func() Payload { return new(CommandRecord) },
}

// NewPayload returns a new zero payload of event type t (a pointer, ready
// to decode into), or false when t has no payload type here.
func NewPayload(t EventType) (Payload, bool) {
	f, ok := eventPayloads[t]
	if !ok {
		return nil, false
	}
	return f(), true
}

// EventTypes returns every event type that has a payload type, sorted.
func EventTypes() []EventType {
	ts := make([]EventType, 0, len(eventPayloads))
	for t := range eventPayloads {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// DecodePayload decodes an untrusted event's payload into its type (see
// NewPayload), validates it and puts it in its canonical form: phone
// numbers normalized (number.Normalize; a number that does not normalize
// is kept as sent where the type allows it), card UIDs upper-case and
// SHA-256 sums lower-case hex. It returns a pointer to the payload type
// (*CallRecord for EventCall, ...). An event type without a payload type
// returns ErrUnknownEventType; every other failure wraps ErrMalformed.
func DecodePayload(ev *Event) (Payload, error) {
	p, ok := NewPayload(ev.Type)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, ev.Type)
	}
	if err := json.Unmarshal(ev.Payload, p); err != nil {
		return nil, fmt.Errorf("%w: %s payload: %v", ErrMalformed, ev.Type, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s payload: %w", ev.Type, err)
	}
	if c, ok := p.(canonicalizer); ok {
		c.canonical()
	}
	return p, nil
}

// normalizeUID upper-cases a card UID given as hex (policy.NormalizeUID).
func normalizeUID(uid string) string { return strings.ToUpper(strings.TrimSpace(uid)) }

// Validate checks a call record: a call id of 1 to MaxIDLen bytes, a
// disposition, a recording's SHA-256 (64 hex digits), no negative cost or
// limit, and the sizes of the currency, limit and trunk names.
func (c *CallRecord) Validate() error {
	if c.CallID == "" || len(c.CallID) > MaxIDLen {
		return fmt.Errorf("%w: call without a usable call_id", ErrMalformed)
	}
	if c.Disposition == "" {
		return fmt.Errorf("%w: call %s without disposition", ErrMalformed, c.CallID)
	}
	if c.Recording != nil && !validSHA256(c.Recording.SHA256) {
		return fmt.Errorf("%w: call %s recording sha256 %q", ErrMalformed, c.CallID, c.Recording.SHA256)
	}
	if c.Cost < 0 || c.MaxDurationSeconds < 0 || len(c.Currency) > MaxCurrencyLen || len(c.LimitedBy) > MaxCodeLen {
		return fmt.Errorf("%w: call %s: negative cost or limit, or oversized currency or limited_by", ErrMalformed, c.CallID)
	}
	if len(c.Trunk) > MaxTrunkLen {
		return fmt.Errorf("%w: call %s: trunk name of %d bytes", ErrMalformed, c.CallID, len(c.Trunk))
	}
	return nil
}

func (c *CallRecord) canonical() {
	if n := number.Normalize(c.Number); n != "" {
		c.Number = n
	}
	c.CardUID = normalizeUID(c.CardUID)
	if c.Recording != nil {
		c.Recording.SHA256 = strings.ToLower(c.Recording.SHA256)
	}
}

// Validate accepts every card tap: an unknown or unreadable card is worth
// reporting as it was read.
func (t *CardTap) Validate() error { return nil }

func (t *CardTap) canonical() { t.UID = normalizeUID(t.UID) }

// Validate checks that an alarm has a code.
func (a *Alarm) Validate() error {
	if a.Code == "" {
		return fmt.Errorf("%w: alarm without code", ErrMalformed)
	}
	return nil
}

// Validate checks a status: a Software of at most MaxIDLen bytes without
// control characters, and a Capability that is not negative (one above
// this build's is a newer appliance, accepted: see docs/COMPATIBILITY.md).
func (s *Status) Validate() error {
	if len(s.Software) > MaxIDLen || strings.ContainsFunc(s.Software, unicode.IsControl) {
		return fmt.Errorf("%w: status software oversized or with control characters", ErrMalformed)
	}
	if s.Capability < 0 {
		return fmt.Errorf("%w: status capability %d", ErrMalformed, s.Capability)
	}
	return nil
}

// Validate checks an officer action: an action of 1 to MaxCodeLen bytes,
// and ids of at most MaxIDLen.
func (a *OfficerAction) Validate() error {
	if a.Action == "" || len(a.Action) > MaxCodeLen || len(a.OfficerID) > MaxIDLen || len(a.CallID) > MaxIDLen || len(a.Terminal) > MaxIDLen {
		return fmt.Errorf("%w: officer action without action or with oversized fields", ErrMalformed)
	}
	return nil
}

// Validate checks a ledger entry's shape: an id and an account of 1 to
// MaxIDLen bytes and the sizes of its other text. Its kind, amount,
// currency and origin are the receiver's to judge (shared/ledger's
// EntryFromWire, and who may write what).
func (l *LedgerEntry) Validate() error {
	if l.ID == "" || len(l.ID) > MaxIDLen || l.Account == "" || len(l.Account) > MaxIDLen || len(l.Kind) > MaxCodeLen ||
		len(l.Currency) > MaxCurrencyLen || len(l.Ref) > MaxIDLen || len(l.Reason) > MaxLedgerReasonLen ||
		len(l.Receipt) > MaxLedgerReceiptLen || len(l.Origin) > MaxIDLen {
		return fmt.Errorf("%w: ledger entry without id or account, or with oversized fields", ErrMalformed)
	}
	return nil
}

// Validate checks a number block: a person of 1 to MaxIDLen bytes, a call
// id of at most MaxIDLen, and a number of at most MaxNumberLen that
// normalizes (number.Normalize).
func (nb *NumberBlocked) Validate() error {
	if nb.PersonID == "" || len(nb.PersonID) > MaxIDLen || len(nb.CallID) > MaxIDLen || len(nb.Number) > MaxNumberLen {
		return fmt.Errorf("%w: number_blocked without person or with oversized fields", ErrMalformed)
	}
	if number.Normalize(nb.Number) == "" {
		return fmt.Errorf("%w: number_blocked without a usable number", ErrMalformed)
	}
	return nil
}

func (nb *NumberBlocked) canonical() { nb.Number = number.Normalize(nb.Number) }

// Validate checks a call being placed: a call id of 1 to MaxIDLen bytes, a
// start time, and the sizes of its ids and numbers.
func (c *CallStarted) Validate() error {
	if c.CallID == "" || len(c.CallID) > MaxIDLen || len(c.Terminal) > MaxIDLen || len(c.PersonID) > MaxIDLen ||
		len(c.PrisonNumber) > MaxNumberLen || len(c.Number) > MaxNumberLen || c.Start.IsZero() {
		return fmt.Errorf("%w: call_started without call_id or start, or with oversized fields", ErrMalformed)
	}
	return nil
}

func (c *CallStarted) canonical() {
	if n := number.Normalize(c.Number); n != "" {
		c.Number = n
	}
}

// Validate checks that a calls_cleared has a time.
func (c *CallsCleared) Validate() error {
	if c.At.IsZero() {
		return fmt.Errorf("%w: calls_cleared without a time", ErrMalformed)
	}
	return nil
}

// Validate checks a command record: a valid command id (ValidCommandID),
// a kind of 1 to MaxCodeLen bytes (a newer central's kinds included), a
// call id of at most MaxIDLen and an expiry.
func (r *CommandRecord) Validate() error {
	if err := ValidCommandID(r.ID); err != nil {
		return fmt.Errorf("%w: command record: %w", ErrMalformed, err)
	}
	if r.Kind == "" || len(r.Kind) > MaxCodeLen || len(r.CallID) > MaxIDLen || r.Expires.IsZero() {
		return fmt.Errorf("%w: command record %s without kind or expiry, or with oversized fields", ErrMalformed, r.ID)
	}
	return nil
}
