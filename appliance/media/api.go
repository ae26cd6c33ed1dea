// Package media anchors a call's audio on the appliance: for each call it
// opens one RTP socket per leg (A: the IAD port, B: the trunk), relays RTP
// both ways, and records both directions to a stereo WAV file (left: leg A,
// what the person in prison says; right: leg B, the called party) unless the
// call is privileged, in which case no audio byte is written anywhere.
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

// Result describes a finished session's recording. Path is empty when the
// session was not recorded.
type Result struct {
	Path    string // the WAV file
	SHA256  string // hex SHA-256 of the file's bytes
	Bytes   int64
	Format  string    // "wav/pcmu-stereo" or "wav/pcma-stereo"
	Packets [2]uint64 // RTP packets received per leg
}

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
	ErrNotReady    = errors.New("media: both legs need a remote before Start")
	ErrStarted     = errors.New("media: session already started")
	ErrRecording   = errors.New("media: recording failed")
)
