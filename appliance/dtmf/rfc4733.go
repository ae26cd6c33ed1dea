package dtmf

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Event is one RFC 4733 telephone-event block (§2.3):
//
//	 0                   1                   2                   3
//	|     event     |E|R| volume    |          duration             |
type Event struct {
	Code     uint8  // event code; 0-15 are the DTMF keys
	End      bool   // E bit: the event has ended
	Volume   uint8  // power level, 0 to 63 (-dBm0)
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// EventSize is the size of one event block.
const EventSize = 4

// ParseEvent parses the first event block of a telephone-event payload.
// A payload is one block or several packed ones (RFC 4733 §2.5.1.5; its
// length is then a multiple of 4); packed earlier blocks are not
// returned.
func ParseEvent(payload []byte) (Event, error) {
	if len(payload) < EventSize || len(payload)%EventSize != 0 {
		return Event{}, fmt.Errorf("%w: telephone-event payload of %d bytes", ErrMalformed, len(payload))
	}
	return Event{
		Code:     payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(payload[2:4]),
	}, nil
}

// Marshal returns the 4-byte block of e (the R bit clear).
func (e Event) Marshal() []byte {
	b := make([]byte, EventSize)
	b[0] = e.Code
	b[1] = e.Volume & 0x3f
	if e.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.Duration)
	return b
}

// Update is what one telephone-event packet meant to a Decoder.
type Update struct {
	Key rune
	// Begin is true for the first packet seen of a key press: report the
	// key now. It is true exactly once per press.
	Begin bool
	// End is true for the first end packet of a press (the E bit); the
	// redundant copies that follow do not repeat it.
	End bool
	// Duration is the press's duration so far (at End: its length).
	Duration time.Duration
}

// recentEvents is how many past presses a Decoder remembers to drop late
// retransmits of.
const recentEvents = 8

// Decoder turns one RTP stream's telephone-event packets into key
// presses. Packets of one press share an RTP timestamp (RFC 4733 §2.5.1);
// the decoder reports a press once, whichever of its packets arrives
// first (a lost start packet does not lose the key), drops the redundant
// end packets and retransmits, and joins the segments of a long event.
// A new SSRC starts afresh. The zero value is ready to use; it is not
// safe for concurrent use.
type Decoder struct {
	// ClockRate is the telephone-event clock (default 8000 Hz).
	ClockRate int

	ssrc   uint32
	have   bool   // cur is valid
	cur    uint32 // timestamp of the current press (latest segment)
	code   uint8
	ended  bool
	dur    uint16
	total  uint32 // duration of earlier segments of the current press
	recent [recentEvents]uint32
	nrec   int
}

// Reset forgets all state.
func (d *Decoder) Reset() { *d = Decoder{ClockRate: d.ClockRate} }

func (d *Decoder) seen(ts uint32) bool {
	for i := range min(d.nrec, recentEvents) {
		if d.recent[i] == ts {
			return true
		}
	}
	return false
}

func (d *Decoder) remember(ts uint32) {
	d.recent[d.nrec%recentEvents] = ts
	d.nrec++
}

func (d *Decoder) duration(units uint32) time.Duration {
	rate := d.ClockRate
	if rate <= 0 {
		rate = 8000
	}
	return time.Duration(units) * time.Second / time.Duration(rate)
}

// Feed decodes one telephone-event packet of the stream ssrc with RTP
// timestamp ts. It returns the zero Update for packets that add nothing
// (updates, redundant end packets, retransmits, stale packets). Events
// that are not DTMF keys return ErrUnsupported; malformed payloads
// ErrMalformed.
func (d *Decoder) Feed(ssrc, ts uint32, payload []byte) (Update, error) {
	ev, err := ParseEvent(payload)
	if err != nil {
		return Update{}, err
	}
	key, ok := KeyOf(ev.Code)
	if !ok {
		return Update{}, fmt.Errorf("%w: event %d", ErrUnsupported, ev.Code)
	}
	if !d.have || ssrc != d.ssrc {
		d.Reset()
		d.ssrc = ssrc
	}
	switch {
	case d.have && ts == d.cur:
		if ev.Code != d.code {
			return Update{}, nil // a different event reusing the timestamp: not legal, ignore
		}
		if ev.Duration > d.dur {
			d.dur = ev.Duration
		}
		if ev.End && !d.ended {
			d.ended = true
			return Update{Key: key, End: true, Duration: d.duration(d.total + uint32(d.dur))}, nil
		}
		return Update{}, nil
	case d.seen(ts):
		return Update{}, nil // a late copy of an earlier press
	case d.have && int32(ts-d.cur) < 0:
		return Update{}, nil // older than the current press: out of order, too late to report
	case d.have && !d.ended && ev.Code == d.code && d.dur > 0 && ts-d.cur == uint32(d.dur):
		// The next segment of a long event (§2.5.2.1): same press.
		d.total += uint32(d.dur)
		d.cur, d.dur = ts, ev.Duration
		d.remember(ts)
		if ev.End {
			d.ended = true
			return Update{Key: key, End: true, Duration: d.duration(d.total + uint32(d.dur))}, nil
		}
		return Update{}, nil
	}
	d.have, d.cur, d.code, d.ended, d.dur, d.total = true, ts, ev.Code, ev.End, ev.Duration, 0
	d.remember(ts)
	return Update{Key: key, Begin: true, End: ev.End, Duration: d.duration(uint32(ev.Duration))}, nil
}
