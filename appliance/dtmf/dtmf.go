// Package dtmf recognises the keys a caller presses, from the three forms
// they reach the appliance in:
//
//   - RFC 4733 telephone-events in RTP (Decoder): the preferred form. The
//     decoder turns the stream of event packets — updates, the three
//     redundant end packets, retransmits, long-event segments — into one
//     key per press.
//   - In-band tones in the audio (Detector): a fallback for gateways that
//     send no events. Goertzel filters on the eight DTMF frequencies over
//     8 kHz linear PCM, with level, twist, peak and signal-to-total checks
//     so speech and music do not trigger, reporting a press once it has
//     lasted 40 ms.
//   - SIP INFO requests (ParseINFO): application/dtmf-relay and
//     application/dtmf bodies.
//
// Keys are the runes '0'-'9', '*', '#' and 'A'-'D'.
package dtmf

import "errors"

// Errors of the dtmf layer.
var (
	// ErrMalformed: the bytes are not a telephone-event or INFO body.
	ErrMalformed = errors.New("dtmf: malformed")
	// ErrUnsupported: a well-formed event or signal that is not one of
	// the 16 DTMF keys (for example flash-hook, event 16).
	ErrUnsupported = errors.New("dtmf: not a DTMF key")
	// ErrContentType: an INFO body of a type that carries no DTMF.
	ErrContentType = errors.New("dtmf: content type carries no DTMF")
)

// Source says how a key reached the appliance.
type Source uint8

// Sources of a key.
const (
	SourceRFC4733 Source = iota + 1 // RTP telephone-event
	SourceInBand                    // tones detected in the audio
	SourceINFO                      // SIP INFO request
)

// String names the source.
func (s Source) String() string {
	switch s {
	case SourceRFC4733:
		return "rfc4733"
	case SourceInBand:
		return "inband"
	case SourceINFO:
		return "info"
	}
	return "unknown"
}

const keys = "0123456789*#ABCD"

// Keys lists the 16 DTMF keys in RFC 4733 event-code order (0-15).
const Keys = keys

// KeyOf returns the key of an RFC 4733 event code (0-9, 10 '*', 11 '#',
// 12-15 'A'-'D').
func KeyOf(code uint8) (rune, bool) {
	if code >= 16 {
		return 0, false
	}
	return rune(keys[code]), true
}

// CodeOf returns the RFC 4733 event code of a key ('a'-'d' accepted).
func CodeOf(key rune) (uint8, bool) {
	if key >= 'a' && key <= 'd' {
		key -= 'a' - 'A'
	}
	for i := range len(keys) {
		if rune(keys[i]) == key {
			return uint8(i), true
		}
	}
	return 0, false
}
