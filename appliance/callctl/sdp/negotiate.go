package sdp

import (
	"errors"
	"fmt"
)

// ErrIncompatible means the two legs share no codec the appliance can
// relay between: answer 488 Not Acceptable Here. The relay converts
// between PCMU and PCMA but does not transcode Opus.
var ErrIncompatible = errors.New("sdp: no codec usable on both legs (Opus is relayed only to Opus)")

// Kind classifies a format the appliance can carry.
type Kind int

// Codec kinds.
const (
	KindNone Kind = iota // not an audio codec Kinline uses
	KindPCMU
	KindPCMA
	KindOpus
)

// Kind returns the codec kind of f: PCMU/8000, PCMA/8000, or opus/48000
// (with channel count 2 as RFC 7587 requires, or absent).
func (f Format) Kind() Kind {
	switch {
	case f.Is("PCMU") && f.Rate == 8000:
		return KindPCMU
	case f.Is("PCMA") && f.Rate == 8000:
		return KindPCMA
	case f.Is("opus") && f.Rate == 48000 && (f.Channels == 2 || f.Channels == 0):
		return KindOpus
	}
	return KindNone
}

// IsG711 reports whether f is PCMU or PCMA.
func (f Format) IsG711() bool { k := f.Kind(); return k == KindPCMU || k == KindPCMA }

// Choice is what one leg negotiated: its audio codec and, when the peer
// supports it, telephone-event at the codec's clock rate.
type Choice struct {
	Codec    Format
	Event    Format
	HasEvent bool
}

// Formats lists the choice as it goes in an answer (or an updated offer).
func (c Choice) Formats() []Format {
	if c.HasEvent {
		return []Format{c.Codec, c.Event}
	}
	return []Format{c.Codec}
}

// event finds telephone-event at rate among formats.
func event(formats []Format, rate int) (Format, bool) {
	for _, f := range formats {
		if f.Is("telephone-event") && f.Rate == rate {
			return f, true
		}
	}
	return Format{}, false
}

// choose returns the first format (in the peer's order) accepted by ok,
// with its telephone-event.
func choose(formats []Format, ok func(Format) bool) (Choice, bool) {
	for _, f := range formats {
		if f.Kind() != KindNone && ok(f) {
			ev, has := event(formats, f.Rate)
			return Choice{Codec: f, Event: ev, HasEvent: has}, true
		}
	}
	return Choice{}, false
}

// has reports whether formats include a codec of kind k.
func has(formats []Format, k Kind) bool {
	for _, f := range formats {
		if f.Kind() == k {
			return true
		}
	}
	return false
}

// CheckOffer validates a port's offer early: it must name at least one
// codec Kinline carries. (Whether it fits the trunk is known only when
// the trunk answers; see Bridge.)
func CheckOffer(port *Session) error {
	if _, ok := choose(port.Formats, func(Format) bool { return true }); !ok {
		return fmt.Errorf("%w: the offer names none of PCMU, PCMA, opus/48000/2", ErrIncompatible)
	}
	return nil
}

// TrunkOffer is what the appliance offers the trunk for a port that
// offered port: both G.711 laws whenever the port can do G.711 (the relay
// converts between them), Opus when the port offered it (relayed as is),
// the port's preference first, and telephone-event at each of those
// clock rates at which the port offered it (events are relayed, so the
// trunk gets them only if the port can take them). PTs are the appliance's own (PCMU 0, PCMA 8, opus 111,
// telephone-event 101 and 110).
func TrunkOffer(port *Session) []Format {
	var out []Format
	var g711, opus bool
	for _, f := range port.Formats {
		switch f.Kind() {
		case KindPCMU, KindPCMA:
			if !g711 {
				g711 = true
				if f.Kind() == KindPCMA {
					out = append(out, PCMA, PCMU)
				} else {
					out = append(out, PCMU, PCMA)
				}
			}
		case KindOpus:
			if !opus {
				opus = true
				out = append(out, Opus)
			}
		}
	}
	if _, ok := event(port.Formats, 8000); ok && g711 {
		out = append(out, TelephoneEvent)
	}
	if _, ok := event(port.Formats, 48000); ok && opus {
		out = append(out, TelephoneEvent48k)
	}
	return out
}

// Bridge picks both legs' codecs once the trunk has answered the offer
// made from TrunkOffer: leg B takes the first codec of the trunk's answer
// (its answer to our offer, so its PTs are ours or its own as it wrote
// them); leg A takes, from the port's offer, the same codec when the
// trunk chose Opus, else the port's first G.711 law (converted to the
// trunk's by the relay). When the trunk chose Opus and the port cannot do
// Opus, or the trunk chose G.711 and the port offered only Opus, both
// fall back to G.711 if both listed it; otherwise ErrIncompatible (488).
func Bridge(port, trunk *Session) (a, b Choice, err error) {
	b, ok := choose(trunk.Formats, func(Format) bool { return true })
	if !ok {
		return a, b, fmt.Errorf("%w: the trunk answered no usable codec", ErrIncompatible)
	}
	if b.Codec.Kind() == KindOpus {
		if a, ok = choose(port.Formats, func(f Format) bool { return f.Kind() == KindOpus }); ok {
			return a, b, nil
		}
		// The port cannot do Opus: G.711 on both if the trunk listed it.
		if b, ok = choose(trunk.Formats, Format.IsG711); !ok {
			return a, b, fmt.Errorf("%w: the trunk answered only Opus and the port offered no Opus", ErrIncompatible)
		}
	}
	if a, ok = choose(port.Formats, Format.IsG711); !ok {
		return a, b, fmt.Errorf("%w: the trunk answered %s and the port offered no G.711", ErrIncompatible, b.Codec.Name)
	}
	return a, b, nil
}

// Answer picks, from an offer, the first codec Kinline carries for which
// allow returns true (nil: any), with telephone-event at the codec's
// clock rate when offered. Use it where one leg is negotiated alone (the
// hotline and refusal prompts, which play G.711 only: allow IsG711).
func Answer(offer *Session, allow func(Format) bool) (Choice, error) {
	if allow == nil {
		allow = func(Format) bool { return true }
	}
	c, ok := choose(offer.Formats, allow)
	if !ok {
		return c, fmt.Errorf("%w: no acceptable codec offered", ErrIncompatible)
	}
	return c, nil
}
