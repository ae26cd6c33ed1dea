// Package media anchors a call's audio on the appliance: for each call it
// opens one RTP socket per leg (A: the IAD port, B: the trunk), relays RTP
// both ways, and records both directions unless the call is privileged, in
// which case no audio byte is written anywhere.
//
// Codecs: PCMU, PCMA and Opus, with RFC 4733 telephone-events. When both
// legs use the same codec the relay passes packets through (rewriting only
// the payload type when the legs numbered it differently); between PCMU and
// PCMA it converts each packet in place with a 256-entry table. Opus is
// never transcoded: an Opus leg must be bridged to an Opus leg (callctl/sdp
// refuses other pairs with 488 before a session is started).
//
// Recordings: G.711 calls go to a stereo WAV (left: leg A, what the person
// in prison says; right: leg B, the called party); Opus calls to an Ogg
// Opus file (RFC 7845) with one logical stream per leg, the packets stored
// as received. With Config.RecordKey set, files are written through
// shared/recstore (AES-256-GCM, encrypted at rest) and Result.SHA256 and
// Bytes describe the plaintext. Each leg's speech level and silence ratio
// are measured for the recording's metadata (Opus legs are decoded with
// pion/opus; packets it cannot decode are counted).
//
// Receiving: on Linux the legs' sockets are read by a few event loops
// shared by the whole process (epoll, rxloop_linux.go; why in
// docs/decisions/0010-rtp-event-loops.md), elsewhere by a goroutine per
// leg. RTP sockets are marked DSCP EF.
package media

import "errors"

// Leg names one side of an anchored call.
type Leg int

// The two legs of a call.
const (
	LegA Leg = iota // towards the IAD port (the person in prison)
	LegB            // towards the trunk (the called party)
)

func (l Leg) String() string {
	if l == LegA {
		return "A"
	}
	return "B"
}

// Static RTP payload types Kinline negotiates (RFC 3551).
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

// Codec is a leg's negotiated audio codec.
type Codec uint8

// Codecs the relay carries.
const (
	CodecPCMU Codec = iota + 1
	CodecPCMA
	CodecOpus
)

func (c Codec) String() string {
	switch c {
	case CodecPCMU:
		return "pcmu"
	case CodecPCMA:
		return "pcma"
	case CodecOpus:
		return "opus"
	}
	return "none"
}

// Recording formats (Result.Format, wire.RecordingRef.Format).
const (
	FormatWAVPCMU = "wav/pcmu-stereo"
	FormatWAVPCMA = "wav/pcma-stereo"
	FormatOggOpus = "ogg/opus-2streams"
)

// Result describes a finished session's recording. Path is empty when the
// session was not recorded.
type Result struct {
	Path      string // the recording file (encrypted when Encrypted)
	SHA256    string // hex SHA-256 of the recording's plaintext bytes
	Bytes     int64  // plaintext size
	Format    string // FormatWAVPCMU, FormatWAVPCMA or FormatOggOpus
	Encrypted bool   // written through recstore: open with recstore.Open
	Packets   [2]uint64
	// Audio is each leg's level metadata (recorded sessions only).
	Audio [2]AudioStats
}

// AudioStats is a leg's level metadata, measured per received packet
// (typically 20 ms): the speech level and how much of the leg was silent.
type AudioStats struct {
	Frames      uint64  // packets analysed (decoded)
	Silent      uint64  // of which below SilenceDBFS
	Undecodable uint64  // Opus packets pion/opus could not decode (not in Frames)
	LevelDBFS   float64 // RMS level of the non-silent frames, dBFS; MinDBFS when none
	// SilenceRatio is Silent/Frames (1 when no frame was analysed).
	SilenceRatio float64
}

// Level thresholds.
const (
	// SilenceDBFS is the RMS level under which a frame counts as silent.
	SilenceDBFS = -45.0
	// MinDBFS is reported when there is no signal at all.
	MinDBFS = -120.0
)

// PayloadTelephoneEvent is the dynamic payload type Kinline offers for
// RFC 4733 telephone-events. The relay forwards any payload type; only the
// leg's negotiated G.711 type is recorded.
const PayloadTelephoneEvent uint8 = 101

// Errors of the media layer.
var (
	ErrNoPorts = errors.New("media: no free RTP port")
	ErrClosed  = errors.New("media: session closed")

	ErrConfig      = errors.New("media: invalid configuration")
	ErrCallID      = errors.New("media: call id unusable as a file name")
	ErrNoRecordDir = errors.New("media: recording requested but no RecordDir configured")
	ErrPayloadType = errors.New("media: payload type is not G.711 (0 or 8)")
	ErrCodec       = errors.New("media: unsupported codec")
	ErrMixedCodecs = errors.New("media: an Opus leg can only be bridged to an Opus leg")
	ErrNotReady    = errors.New("media: both legs need a remote before Start")
	ErrStarted     = errors.New("media: session already started")
	ErrRecording   = errors.New("media: recording failed")
	// ErrUnsupported is returned by a media session (a test fake) for
	// what its Features leave out.
	ErrUnsupported = errors.New("media: not supported by this session")
)

// Features is what a media session can do beyond relaying G.711 between
// its two legs. *Session has them all; a relay-only fake has none and
// answers the methods behind them with ErrUnsupported.
type Features uint8

// The features a call flow asks for before it relies on them.
const (
	// FeaturePrompts: talking to one party alone (Listen, Play,
	// Announce, Digits, StopDigits, SetEventPayloadType, ReportDigit).
	FeaturePrompts Features = 1 << iota
	// FeatureOpus: Opus legs (SetRemoteCodec with CodecOpus,
	// SetPromptPayloadType).
	FeatureOpus
	// FeatureCapture: recording what one leg says (Capture).
	FeatureCapture

	// AllFeatures is what *Session offers.
	AllFeatures = FeaturePrompts | FeatureOpus | FeatureCapture
)

// Has reports whether f includes every feature in want.
func (f Features) Has(want Features) bool { return f&want == want }
