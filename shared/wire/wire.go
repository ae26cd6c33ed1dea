// Package wire defines the messages that cross the network between a block
// appliance and central, over MQTT: the appliance's append-only event stream
// (up), central's acknowledgements and the block's policy (down), and
// recording uploads.
//
// Every message carries the protocol version V (batches BatchVersion).
// What changed, and when, is the history of CapabilityVersion (capver.go):
// one dated line per change, additive or not, so that either side can
// tell what a peer understands (after tailscale's
// tailcfg.CapabilityVersion).
//
// Validation belongs here too: every event payload type has a Validate
// method, one table maps each event type to its payload type, and
// DecodePayload decodes, validates and canonicalizes an event's payload in
// one step (payload.go).
package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ProtocolVersion is the version this code speaks.
const ProtocolVersion = 1

// BatchVersion is the version of the batches this code publishes (see
// CapabilityVersion 14); MinBatchVersion the oldest central accepts.
const (
	BatchVersion    = 2
	MinBatchVersion = 1
)

// MaxEpochLen bounds Event.Epoch.
const MaxEpochLen = 64

// Errors returned by the validators in this package.
var (
	ErrVersion   = errors.New("wire: unsupported protocol version")
	ErrMalformed = errors.New("wire: malformed message")
	ErrHash      = errors.New("wire: event hash does not match its content")
	// ErrOtherAppliance: a message (or an event in it) names another
	// appliance than the one whose topic it came on. It comes wrapped
	// together with ErrMalformed.
	ErrOtherAppliance = errors.New("wire: message names another appliance")
)

// EventType names what an event's payload holds (the table of payload
// types is in payload.go: NewPayload, DecodePayload).
type EventType string

// Event types.
const (
	EventCall    EventType = "call"     // payload: CallRecord
	EventCardTap EventType = "card_tap" // payload: CardTap
	EventAlarm   EventType = "alarm"    // payload: Alarm
	EventStatus  EventType = "status"   // payload: Status
	EventOfficer EventType = "officer"  // payload: OfficerAction
)

// Event is one entry of an appliance's append-only stream. (ApplianceID,
// Seq) identifies it; Seq starts at 1 and has no gaps. PrevHash is the Hash of
// event Seq-1 ("" for Seq 1), so central can detect gaps and broken chains.
//
// Epoch names the chain: "" for appliances from before BatchVersion 2 (and
// their data directories, until they start a chain again), else a random
// id chosen when the appliance's store is created or starts a new chain.
// The first event of a chain has no PrevHash; its Seq is 1 for a new
// store and continues the appliance's numbering for a chain started again
// over an existing outbox.
type Event struct {
	ApplianceID string          `json:"appliance_id"`
	Epoch       string          `json:"epoch,omitempty"`
	Seq         uint64          `json:"seq"`
	Time        time.Time       `json:"time"`
	Type        EventType       `json:"type"`
	Payload     json.RawMessage `json:"payload"`
	PrevHash    string          `json:"prev_hash"`
	Hash        string          `json:"hash"`
}

// ComputeHash returns the hex SHA-256 over the event's identity, time, type,
// payload and PrevHash (everything but Hash itself), in a fixed binary layout.
func (e *Event) ComputeHash() string {
	h := sha256.New()
	var b [8]byte
	writeStr := func(s string) {
		binary.BigEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	writeStr(e.ApplianceID)
	binary.BigEndian.PutUint64(b[:], e.Seq)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(e.Time.UnixNano()))
	h.Write(b[:])
	writeStr(string(e.Type))
	writeStr(string(e.Payload))
	writeStr(e.PrevHash)
	if e.Epoch != "" {
		writeStr(e.Epoch)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Seal sets Hash from the event's content.
func (e *Event) Seal() { e.Hash = e.ComputeHash() }

// Verify checks the event's own hash (not its link to the previous event).
func (e *Event) Verify() error {
	if e.ApplianceID == "" || e.Seq == 0 || e.Type == "" {
		return fmt.Errorf("%w: event without appliance, seq or type", ErrMalformed)
	}
	if err := ValidEpoch(e.Epoch); err != nil {
		return err
	}
	if e.Hash != e.ComputeHash() {
		return fmt.Errorf("%w: seq %d", ErrHash, e.Seq)
	}
	return nil
}

// ValidEpoch checks an event chain's epoch: "" or up to MaxEpochLen
// letters, digits, '-' and '_'.
func ValidEpoch(epoch string) error {
	if len(epoch) > MaxEpochLen {
		return fmt.Errorf("%w: epoch of %d bytes", ErrMalformed, len(epoch))
	}
	for i := 0; i < len(epoch); i++ {
		c := epoch[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: epoch %q", ErrMalformed, epoch)
		}
	}
	return nil
}

// Batch is what an appliance publishes on TopicEvents: consecutive events.
type Batch struct {
	V           int     `json:"v"`
	ApplianceID string  `json:"appliance_id"`
	Events      []Event `json:"events"`
	// Acked (V 2) is the highest seq of the events' chain for which the
	// appliance had applied central's Ack when it built the batch: a batch
	// whose events are all at or below an Acked central has already seen
	// is a replay, not a resend.
	Acked uint64 `json:"acked,omitempty"`
	// Signature is the appliance's ed25519 signature over the batch's
	// canonical form (shared/sign.SignBatch); central configured with the
	// appliance's key refuses a batch without a valid one.
	Signature []byte `json:"sig,omitempty"`
}

// Epoch returns the chain of the batch's events ("" when empty).
func (b *Batch) Epoch() string {
	if len(b.Events) == 0 {
		return ""
	}
	return b.Events[0].Epoch
}

// Ack is central's application-level acknowledgement on TopicAck: every
// event of the appliance up to and including UpTo is durably stored. The
// appliance may delete those events from its outbox.
//
// Resend says that central's ingest has just (re)subscribed and may have
// missed batches published before: the appliance sends everything it has
// not seen acknowledged again, now. UpTo may then be 0 (nothing claimed).
//
// Epoch, Hash and Conflict (additive) let the appliance check that the
// chain central acknowledges is its own: Epoch is the chain, Hash central's
// hash of event UpTo of it ("" from older centrals), and Conflict, when
// not 0, the lowest seq of the chain at which central holds other events
// than the appliance sent (its data directory was put back from a backup,
// or a second box uses its identity). An appliance whose own event UpTo
// has another hash, that never appended UpTo, or that holds event
// Conflict, starts a new chain with its unacknowledged events.
type Ack struct {
	V           int    `json:"v"`
	ApplianceID string `json:"appliance_id"`
	UpTo        uint64 `json:"up_to"`
	Resend      bool   `json:"resend,omitempty"`
	Epoch       string `json:"epoch,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Conflict    uint64 `json:"conflict,omitempty"`
}

// Call dispositions.
const (
	DispCompleted = "completed" // answered and bridged, then hung up
	DispRefused   = "refused"   // refused by the appliance's authorization
	DispBusy      = "busy"
	DispNoAnswer  = "no_answer"
	DispRejected  = "rejected" // the called party declined
	DispFailed    = "failed"   // trunk or network failure
	DispCancelled = "cancelled"
	DispLimited   = "limited" // ended at the time limit
	DispEnded     = "ended"   // ended by an officer or central
	// DispRestarted closes a call the appliance died with (kill -9, power
	// loss): written at its next start from the call's last checkpoint,
	// billed up to that checkpoint.
	DispRestarted = "appliance_restarted"
)

// CallRecord is the payload of an EventCall: one call attempt, allowed or not.
type CallRecord struct {
	CallID       string        `json:"call_id"`
	PersonID     string        `json:"person_id,omitempty"`
	PrisonNumber string        `json:"prison_number,omitempty"`
	CardUID      string        `json:"card_uid,omitempty"`
	Terminal     string        `json:"terminal"`
	Number       string        `json:"number"`
	Start        time.Time     `json:"start"`
	Answer       *time.Time    `json:"answer,omitempty"`
	End          time.Time     `json:"end"`
	Disposition  string        `json:"disposition"`
	Reason       string        `json:"reason,omitempty"`
	Recording    *RecordingRef `json:"recording,omitempty"`
	// OfficerID is the officer who confirmed the call (dual authorization),
	// empty when no officer card was used or none was needed.
	OfficerID string `json:"officer_id,omitempty"`
	// ConfirmMethod says how the call was confirmed: "button", "card" or
	// "button+card"; empty when it needed no confirmation.
	ConfirmMethod string `json:"confirm_method,omitempty"`
	// EndedBy is the officer whose card tap ended the call (disposition
	// "ended").
	EndedBy string `json:"ended_by,omitempty"`
	// Privileged calls have no recording and are never monitorable; Hidden
	// calls' records are shown only to investigators and system admins;
	// Free calls are not charged.
	Privileged bool `json:"privileged,omitempty"`
	Hidden     bool `json:"hidden,omitempty"`
	Free       bool `json:"free,omitempty"`
	// Cost is what the call was charged, in the minor unit of Currency
	// (0 for free and unanswered calls); its debit is a separate
	// EventLedger entry with Ref = CallID.
	Cost     int64  `json:"cost,omitempty"`
	Currency string `json:"currency,omitempty"`
	// MaxDurationSeconds is the limit the call ran under and LimitedBy
	// what set it (LimitRule, LimitBalance or LimitWindow).
	MaxDurationSeconds int    `json:"max_duration_seconds,omitempty"`
	LimitedBy          string `json:"limited_by,omitempty"`
	// Rate is the rate the call was priced with, as the appliance's
	// policy had it (nil for calls no rate applied to, and in records of
	// appliances from before the field): reports group a call by the
	// rate it was charged at, not by whatever rate matches today.
	Rate *PricedRate `json:"rate,omitempty"`
	// Trunk names the appliance's SIP trunk that carried the call, or the
	// last one tried when none answered (empty when no trunk was tried,
	// and in records of appliances from before the field).
	Trunk string `json:"trunk,omitempty"`
}

// PricedRate names the Rate a call was priced with.
type PricedRate struct {
	Prefix          string `json:"prefix"`
	DestinationType string `json:"destination_type"`
	Name            string `json:"name,omitempty"`
}

// RecordingRef names a call's recording and how to verify it.
type RecordingRef struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"` // hex, of the file's bytes
	Bytes  int64  `json:"bytes"`
	Format string `json:"format"` // e.g. "wav/pcmu-stereo"
	// Levels is each leg's measured audio, leg A (the person in prison)
	// first, when the appliance measured it; absent from older records.
	Levels []LegLevel `json:"levels,omitempty"`
}

// LegLevel is one leg's audio level metadata in a RecordingRef, measured
// per received packet (typically 20 ms).
type LegLevel struct {
	Leg string `json:"leg"` // "A" or "B"
	// LevelDBFS is the RMS level of the leg's non-silent frames, in dBFS
	// (-120 when none).
	LevelDBFS float64 `json:"level_dbfs"`
	// SilenceRatio is the share of frames under -45 dBFS (1 when none
	// was measured).
	SilenceRatio float64 `json:"silence_ratio"`
	Frames       uint64  `json:"frames"`
	// Undecodable counts Opus packets that could not be decoded to
	// measure (not in Frames).
	Undecodable uint64 `json:"undecodable,omitempty"`
}

// CardTap is the payload of an EventCardTap.
type CardTap struct {
	Reader   string `json:"reader"`
	Terminal string `json:"terminal"`
	UID      string `json:"uid"`
	Known    bool   `json:"known"`
}

// Alarm is the payload of an EventAlarm. Cleared alarms repeat the Code with
// Cleared set.
type Alarm struct {
	Code    string `json:"code"` // e.g. "reader_down"
	Source  string `json:"source"`
	Message string `json:"message"`
	Cleared bool   `json:"cleared,omitempty"`
}

// Status is the payload of an EventStatus: what the appliance runs.
// Software is its release (shared/version), Capability the
// CapabilityVersion it was built with (from capability 19; absent from
// older appliances).
type Status struct {
	PolicyVersion uint64            `json:"policy_version"`
	Software      string            `json:"software"`
	Capability    CapabilityVersion `json:"capability,omitempty"`
}

// OfficerAction is the payload of an EventOfficer.
type OfficerAction struct {
	Action    string `json:"action"` // "confirm", "cancel", "unknown_card", "timeout", "tap", "end_call"
	OfficerID string `json:"officer_id,omitempty"`
	CallID    string `json:"call_id,omitempty"`
	Terminal  string `json:"terminal,omitempty"`
}

// Policy is a block's policy as central publishes it to one appliance
// (retained, on TopicPolicy). Version grows with every change; an appliance
// never replaces its policy with an older Version.
type Policy struct {
	V           int       `json:"v"`
	ApplianceID string    `json:"appliance_id"`
	Block       string    `json:"block"`
	Version     uint64    `json:"version"`
	IssuedAt    time.Time `json:"issued_at"`
	People      []Person  `json:"people"`
	// Rules say, per supervision level, whether calls need an officer's
	// confirmation (see CallRule).
	Rules []CallRule `json:"rules,omitempty"`
	// Prison is the prison's name as told to the called party ("... is
	// calling from <Prison>"); empty: not said.
	Prison string `json:"prison,omitempty"`
	// TimeZone is the IANA zone that schedule windows and quota periods
	// count in; "" is UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Windows are the block's calling windows: outside all of them every
	// call is refused (policy.ErrOutsideSchedule). Empty: no block schedule.
	Windows []Window `json:"windows,omitempty"`
	// Numbers is the prison-wide list of blocked, privileged, free and
	// hidden numbers (see NumberAttr).
	Numbers []NumberAttr `json:"numbers,omitempty"`
	// Money holds rates, balances and quotas; nil means calls are not
	// rated (no balance is needed, no debit is written): central sends
	// none while the prison's charging setting is off (MoneyPolicy.Charging).
	Money *MoneyPolicy `json:"money,omitempty"`
	// Signature is central's ed25519 signature over the policy's canonical
	// form (shared/sign.SignPolicy); an appliance configured with central's
	// policy key refuses a policy without a valid one.
	Signature []byte `json:"sig,omitempty"`
}

// Person statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusReleased  = "released"
)

// Person is someone housed in the block (or an officer, with Officer set).
type Person struct {
	ID           string           `json:"id"`
	PrisonNumber string           `json:"prison_number"`
	Name         string           `json:"name"`
	Status       string           `json:"status"`
	Language     string           `json:"language,omitempty"`
	Cards        []string         `json:"cards"`              // card UIDs, upper-case hex
	PINHash      string           `json:"pin_hash,omitempty"` // see shared/pin
	Numbers      []ApprovedNumber `json:"numbers"`
	Officer      bool             `json:"officer,omitempty"`
	// SupervisionLevel selects the CallRule of the same Level ("" = the
	// block's default rule).
	SupervisionLevel string `json:"supervision_level,omitempty"`
	// Confirm overrides the rule's confirmation for this person: "" keeps
	// the rule's, ConfirmNone needs none, else ConfirmButton, ConfirmCard or
	// ConfirmBoth.
	Confirm string `json:"confirm,omitempty"`
	// ConfirmWindowSeconds overrides the rule's window when above 0.
	ConfirmWindowSeconds int `json:"confirm_window_seconds,omitempty"`
	// Windows, when not empty, replace the rule's windows for this person
	// (the block's windows still apply).
	Windows []Window `json:"windows,omitempty"`
	// MaxDurationSeconds overrides the rule's maximum call duration when
	// above 0.
	MaxDurationSeconds int `json:"max_duration_seconds,omitempty"`
	// CallsPerDay, CallsPerWeek and CallsPerMonth replace the rule's call
	// quota of that period for this person when above 0 (0: the rule's).
	CallsPerDay   int `json:"calls_per_day,omitempty"`
	CallsPerWeek  int `json:"calls_per_week,omitempty"`
	CallsPerMonth int `json:"calls_per_month,omitempty"`
}

// Confirmation modes of CallRule.Confirm and Person.Confirm.
const (
	ConfirmInherit = ""       // Person.Confirm: use the rule's; CallRule.Confirm: none needed
	ConfirmNone    = "none"   // no officer confirmation
	ConfirmButton  = "button" // the panel's confirm button (an officer card also confirms)
	ConfirmCard    = "card"   // an officer's card on the panel's reader
	ConfirmBoth    = "both"   // the button and an officer's card
)

// CallRule is a block's calling rule for one supervision level.
type CallRule struct {
	// Level is the supervision level it applies to; "" is the default rule
	// for people whose level has no rule of its own.
	Level string `json:"level"`
	// Confirm is how an officer must confirm each call: "" or ConfirmNone
	// (not at all), ConfirmButton, ConfirmCard or ConfirmBoth.
	Confirm string `json:"confirm,omitempty"`
	// ConfirmWindowSeconds is how long the officer has (0: 60 s).
	ConfirmWindowSeconds int `json:"confirm_window_seconds,omitempty"`
	// OfficerTapEndsCall: an officer's card tapped on the panel while
	// nothing waits for confirmation ends this level's calls in progress.
	OfficerTapEndsCall bool `json:"officer_tap_ends_call,omitempty"`
	// MaxDurationSeconds limits each call (0: the appliance's default).
	MaxDurationSeconds int `json:"max_duration_seconds,omitempty"`
	// Calls per period (0: no limit). Days, ISO weeks and months count in
	// Policy.TimeZone; answered calls count, from every appliance.
	CallsPerDay   int `json:"calls_per_day,omitempty"`
	CallsPerWeek  int `json:"calls_per_week,omitempty"`
	CallsPerMonth int `json:"calls_per_month,omitempty"`
	// Windows are this level's calling windows (empty: any time the
	// block's windows allow).
	Windows []Window `json:"windows,omitempty"`
}

// ApprovedNumber is a number a person may call.
type ApprovedNumber struct {
	Number       string `json:"number"` // normalized, see policy.NormalizeNumber
	Name         string `json:"name,omitempty"`
	Relationship string `json:"relationship,omitempty"`
	Privileged   bool   `json:"privileged,omitempty"` // never recorded, never monitored
	Free         bool   `json:"free,omitempty"`       // no charge
	Hidden       bool   `json:"hidden,omitempty"`     // record hidden from ordinary roles
}

// RecordingUpload carries one recording on TopicRecordings.
type RecordingUpload struct {
	V           int          `json:"v"`
	ApplianceID string       `json:"appliance_id"`
	CallID      string       `json:"call_id"`
	Ref         RecordingRef `json:"ref"`
	Data        []byte       `json:"data"`
}

// RecordingAck answers a RecordingUpload on TopicRecordingAck. OK means
// central stored the bytes and their SHA-256 matched Ref; only then may the
// appliance drop its copy.
type RecordingAck struct {
	V           int    `json:"v"`
	ApplianceID string `json:"appliance_id"`
	CallID      string `json:"call_id"`
	SHA256      string `json:"sha256"`
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
}

// Decode unmarshals an untrusted message and validates it (the message's
// Validate), checking too that it names the expected appliance (when want
// is not empty). The version, and a batch's consistency (its events name
// its appliance and one chain), are checked before the appliance, the
// rest (a batch's events, a recording's call id) after it, so that a
// message on another appliance's topic is refused with ErrOtherAppliance
// whatever else is wrong with it.
func Decode[T Batch | Ack | Policy | RecordingUpload | RecordingAck](data []byte, wantAppliance string) (*T, error) {
	var m T
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var app string
	var head, body func() error
	switch x := any(&m).(type) {
	case *Batch:
		app, head, body = x.ApplianceID, x.validateHead, x.validateEvents
	case *Ack:
		app, head = x.ApplianceID, x.Validate
	case *Policy:
		app, head = x.ApplianceID, x.Validate
	case *RecordingUpload:
		app, head, body = x.ApplianceID, func() error { return checkVersion(x.V) }, x.validateCallID
	case *RecordingAck:
		app, head = x.ApplianceID, x.Validate
	}
	if err := head(); err != nil {
		return nil, err
	}
	if wantAppliance != "" && app != wantAppliance {
		return nil, fmt.Errorf("%w: %w: message for appliance %q on %q's topic", ErrMalformed, ErrOtherAppliance, app, wantAppliance)
	}
	if body != nil {
		if err := body(); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// checkVersion checks a message's V against ProtocolVersion.
func checkVersion(v int) error {
	if v != ProtocolVersion {
		return fmt.Errorf("%w: %d", ErrVersion, v)
	}
	return nil
}

// Validate checks a batch: a version central accepts (MinBatchVersion to
// BatchVersion), every event of the batch's appliance and of one chain
// (an epoch only from version 2), at least one event, and each event's
// own hash (Event.Verify; not the links between events).
func (b *Batch) Validate() error {
	if err := b.validateHead(); err != nil {
		return err
	}
	return b.validateEvents()
}

func (b *Batch) validateHead() error {
	for i := range b.Events {
		if b.Events[i].ApplianceID != b.ApplianceID {
			return fmt.Errorf("%w: %w: event for %q in batch of %q", ErrMalformed, ErrOtherAppliance, b.Events[i].ApplianceID, b.ApplianceID)
		}
		if b.Events[i].Epoch != b.Events[0].Epoch {
			return fmt.Errorf("%w: events of epochs %q and %q in one batch", ErrMalformed, b.Events[0].Epoch, b.Events[i].Epoch)
		}
		if b.V < 2 && b.Events[i].Epoch != "" {
			return fmt.Errorf("%w: epoch in a batch of version %d", ErrMalformed, b.V)
		}
	}
	if b.V < MinBatchVersion || b.V > BatchVersion {
		return fmt.Errorf("%w: %d", ErrVersion, b.V)
	}
	return nil
}

func (b *Batch) validateEvents() error {
	if len(b.Events) == 0 {
		return fmt.Errorf("%w: empty batch", ErrMalformed)
	}
	for i := range b.Events {
		if err := b.Events[i].Verify(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks an ack's version.
func (a *Ack) Validate() error { return checkVersion(a.V) }

// Validate checks a policy's version and its money part's Charging. What
// a policy may hold is otherwise the appliance's to judge (shared/policy),
// after its signature.
func (p *Policy) Validate() error {
	if err := checkVersion(p.V); err != nil {
		return err
	}
	if p.Money != nil {
		return p.Money.Validate()
	}
	return nil
}

// Validate checks a recording upload: its version and a call id of 1 to
// MaxCallIDLen bytes without a path separator or a NUL. (The data's
// SHA-256 is the receiver's to check against Ref.)
func (u *RecordingUpload) Validate() error {
	if err := checkVersion(u.V); err != nil {
		return err
	}
	return u.validateCallID()
}

func (u *RecordingUpload) validateCallID() error {
	if u.CallID == "" || strings.ContainsAny(u.CallID, "/\\\x00") || len(u.CallID) > MaxCallIDLen {
		return fmt.Errorf("%w: %w: %q", ErrMalformed, ErrBadCallID, u.CallID)
	}
	return nil
}

// Validate checks a recording ack's version.
func (a *RecordingAck) Validate() error { return checkVersion(a.V) }
