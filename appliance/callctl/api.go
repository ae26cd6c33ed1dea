package callctl

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the call-control layer.
var (
	ErrConfig      = errors.New("callctl: invalid config")
	ErrNoSuchCall  = errors.New("callctl: no such call")
	ErrAuth        = errors.New("callctl: authentication failed")
	ErrStaleNonce  = errors.New("callctl: stale nonce")
	ErrNoAuth      = errors.New("callctl: no credentials")
	ErrTrunk       = errors.New("callctl: trunk leg failed")
	ErrMediaFailed = errors.New("callctl: media session failed")
)

// AuthRequest asks whether a terminal may call a number now.
type AuthRequest struct {
	CallID   string
	Terminal string
	Number   string
	Time     time.Time
	// Waiting lets the authorizer say that its decision will take a while
	// (an officer must confirm the call): call control answers the port
	// with 180 Ringing, so the IAD plays ringback while the person waits.
	// It may be called any number of times, only before Authorize returns.
	Waiting func()
}

// AuthResult is the authorizer's decision.
type AuthResult struct {
	Allowed bool
	// Reason is the refusal text, sent as the 403 reason phrase.
	Reason       string
	PersonID     string
	PrisonNumber string
	CardUID      string
	// Record is false for privileged numbers: no audio byte is written.
	Record bool
	// OfficerID and ConfirmMethod name the officer who confirmed the call
	// and how, when it needed dual authorization; they go into the record.
	OfficerID     string
	ConfirmMethod string
	// Language is the person's language for spoken prompts ("" for the
	// default language).
	Language string
	// RefusalErr is the policy error behind a refusal (a policy.Err*
	// sentinel, possibly wrapped); it picks the spoken refusal prompt
	// (prompts.ForReason). Nil or unknown: a generic refusal is spoken.
	RefusalErr error
	// MaxDuration, when positive and shorter than Config.MaxDuration,
	// limits this call (from the person's rule, balance or window);
	// LimitedBy says which (wire.LimitRule, LimitBalance, LimitWindow).
	MaxDuration time.Duration
	LimitedBy   string
	// Hidden and Free are copied into the call record.
	Hidden bool
	Free   bool
	// WindowEnd is when the person's calling window ends (zero: no
	// window). The limit is recomputed against it when the call is
	// bridged, so the time spent ringing and accepting cannot run the
	// call past the window; without it a MaxDuration with LimitedBy
	// wire.LimitWindow is taken to end that long after the decision.
	WindowEnd time.Time
	// DestinationType is the destination type of the rate the call is
	// priced at (wire.DestLocal, DestNational, DestMobile,
	// DestInternational, DestCustom; "" when calls are not rated): trunk
	// routes may choose by it (Config.Routes).
	DestinationType string
}

// Authorizer decides calls. It must answer quickly; ctx is cancelled if the
// port gives up (CANCEL) or the server stops.
type Authorizer interface {
	Authorize(ctx context.Context, r AuthRequest) AuthResult
}

// Hotline is what the hotline IVR needs from the authorizer besides
// Authorize. An IAD port that hotlines to the appliance on pick-up sends an
// INVITE to Config.HotlineNumber; call control answers it and runs the IVR:
// wait for a card tap (if none is valid), the PIN, a menu (1: make a call,
// 2: balance and calls left), the number, then Authorize and the trunk
// call. With a nil Deps.Hotline such INVITEs are refused as before.
//
// callID is the call asking: a tap serves one call, so the first call to
// use a tap holds it (wrong PINs are retried within that call) and
// another call on the terminal does not see it.
type Hotline interface {
	// Caller returns who holds the valid card tap on terminal, if any,
	// for call callID.
	Caller(terminal, callID string) (Caller, bool)
	// VerifyPIN checks pin for the person whose card is tapped on
	// terminal, for call callID. Errors wrap policy.ErrBadPIN,
	// policy.ErrPINLocked or policy.ErrNoTap. A person with no PIN set
	// needs none (nil error).
	VerifyPIN(terminal, callID, pin string) error
	// Account returns what the balance menu says for a person now.
	Account(personID string) (Account, error)
}

// Caller is the person behind a card tap, as the IVR needs them.
type Caller struct {
	PersonID string
	Name     string
	Language string
	// NeedsPIN is true when the person has a PIN set.
	NeedsPIN bool
}

// Account is what the balance menu tells the person.
type Account struct {
	// Rated is false when calls are not charged (no money in the policy):
	// the balance is not spoken, only the calls left.
	Rated bool
	// Balance is the usable balance in minor units of Currency with
	// Digits digits ("12.50" EUR is 1250, 2).
	Balance  int64
	Currency string
	Digits   int
	// CallsLeft today, this week and this month; -1 means no limit.
	CallsLeftDay, CallsLeftWeek, CallsLeftMonth int
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, r AuthRequest) AuthResult

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, r AuthRequest) AuthResult { return f(ctx, r) }

// MediaSession is one call's anchored media (implemented by
// *media.Session; callctltest.Relay is a relay-only fake): everything the
// call flow asks of it. Features says which of the optional abilities
// (prompts and keys, Opus, capture) the session has; the call flow asks
// before relying on one, and behaves as without it when it is missing
// (logged): no acceptance, spoken refusal, time warning or hotline
// without prompts, no Opus offered without Opus, no name recording
// without capture.
type MediaSession interface {
	// Features is what the session can do beyond relaying G.711.
	Features() media.Features

	// LocalAddr is where this leg's RTP must be sent.
	LocalAddr(leg media.Leg) netip.AddrPort
	// SetRemote sets where the leg's RTP goes and its payload type.
	SetRemote(leg media.Leg, addr netip.AddrPort, payloadType uint8) error
	// Start begins relaying (called once both remotes are known).
	Start() error
	// Close stops the session and finalizes the recording.
	Close() (media.Result, error)
	// SetRecord turns recording on or off before Start: the hotline
	// opens its session unrecorded (nobody knows yet whether the number
	// will be privileged) and turns recording on once the call is
	// authorized with AuthResult.Record. A hotline call that must be
	// recorded on a session that fails it is not placed (fail closed:
	// no unrecorded ordinary call) and ends as "failed".
	SetRecord(record bool) error
	// SetHold honours hold: while leg l's party holds the call (its
	// re-INVITE offered sendonly or inactive), nothing is relayed to it.
	SetHold(l media.Leg, on bool)

	// Talking to one party alone (media.FeaturePrompts): family
	// acceptance, spoken refusals, time warnings and the hotline.

	// Listen receives leg l before Start (keys, latching), relaying nothing.
	Listen(l media.Leg) error
	// SetEventPayloadType sets leg l's RFC 4733 payload type.
	SetEventPayloadType(l media.Leg, pt uint8)
	// Play sends µ-law or A-law audio to leg l and returns once played.
	Play(ctx context.Context, l media.Leg, law g711.Law, audio []byte) error
	// Announce plays audio to every leg with a remote at once.
	Announce(ctx context.Context, law g711.Law, audio []byte) error
	// Digits delivers the keys pressed on leg l.
	Digits(l media.Leg) <-chan media.Digit
	// StopDigits ends key detection on leg l (off the per-packet path).
	StopDigits(l media.Leg)
	// ReportDigit takes a key that arrived by signalling (SIP INFO) on
	// leg l into the same digit stream.
	ReportDigit(l media.Leg, key rune) error

	// Opus (media.FeatureOpus): without it only G.711 is negotiated.

	// SetRemoteCodec is SetRemote for any codec.
	SetRemoteCodec(l media.Leg, addr netip.AddrPort, c media.Codec, payloadType uint8) error
	// SetPromptPayloadType names the G.711 format negotiated beside Opus
	// on leg l, in which prompts to it are sent.
	SetPromptPayloadType(l media.Leg, pt uint8) error

	// Capture (media.FeatureCapture) returns what leg l says, before the
	// bridge, for up to d: the hotline's name recording.
	Capture(ctx context.Context, l media.Leg, d time.Duration) ([]byte, error)
}

// MediaFactory opens a media session for a call.
type MediaFactory func(callID string, record bool) (MediaSession, error)

// Deps are the Server's collaborators. Authorizer and Media are required.
type Deps struct {
	Logger     *slog.Logger // default: discard
	Clock      clock.Clock  // default: clock.Real{}
	Authorizer Authorizer
	Media      MediaFactory
	// OnCallEnd is called exactly once per call attempt that reached
	// authorization (refused, failed, cancelled or completed). It must not
	// block for long.
	OnCallEnd func(wire.CallRecord)
	// OnCallAnswered is called once per bridged call, when both legs are
	// confirmed (the called party answered and accepted, the port
	// acknowledged its answer), with the answer time the call is billed
	// from and the legs' dialogs. A call whose port never confirms the
	// answer ends without it. It must not block for long. Optional.
	OnCallAnswered func(AnsweredCall)
	// OnNumberBlocked is called when a called party presses 9 at the
	// acceptance prompt (before OnCallEnd for that call). It must not
	// block for long. Optional.
	OnNumberBlocked func(wire.NumberBlocked)
	// Hotline enables the hotline IVR (see Hotline). Optional.
	Hotline Hotline
	// Names tells the called party who is calling: the name the person
	// recorded at the hotline (menu option 3, offered only with Names),
	// or their name from the policy spoken by Speaker, and the prison's
	// name. Optional: without it the called party hears the generic
	// announcement.
	Names Names
	// Speaker speaks names at run time (prompts.Espeak). Optional: without
	// it, or when it reports prompts.ErrNoSpeech (logged once), names
	// and the prison are not spoken.
	Speaker Speaker
}

// Names keeps the names the called party hears.
type Names interface {
	// RecordedName returns the name personID recorded at the hotline, as
	// 8 kHz µ-law samples; ok is false when there is none.
	RecordedName(personID string) (audio []byte, ok bool, err error)
	// SaveName keeps audio (8 kHz µ-law) as personID's recorded name,
	// replacing any earlier one.
	SaveName(personID string, audio []byte) error
	// Identity returns personID's name and the prison's name from the
	// policy ("" for what is unknown).
	Identity(personID string) (name, prison string)
}

// Speaker is run-time text-to-speech (implemented by *prompts.Espeak).
type Speaker interface {
	// Speak returns text said in lang as 8 kHz µ-law samples shaped like
	// the prompts; prompts.ErrNoSpeech when there is no synthesiser.
	Speak(ctx context.Context, lang, text string) ([]byte, error)
}

// ActiveCall describes a call in progress.
type ActiveCall struct {
	CallID   string
	Terminal string
	Number   string
	PersonID string
	Start    time.Time
	Answer   *time.Time // nil while ringing
}

// Binding is a registered port contact.
type Binding struct {
	Terminal string
	User     string
	Contact  string // the Contact URI the port registered
	Source   string // host:port the REGISTER came from
	Expires  time.Time
}
