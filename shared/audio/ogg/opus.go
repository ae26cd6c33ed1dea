package ogg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// OpusRate is the granule rate of Ogg Opus streams (RFC 7845 section 4).
const OpusRate = 48000

// ErrOpus reports an Opus packet or header that does not parse.
var ErrOpus = errors.New("ogg: invalid opus data")

// OpusHead is the identification header of an Ogg Opus stream (channel
// mapping family 0: mono or stereo).
type OpusHead struct {
	Channels   uint8
	PreSkip    uint16
	InputRate  uint32 // informational: the original sample rate
	OutputGain int16  // Q7.8 dB
}

// Marshal returns the 19-byte header packet.
func (h OpusHead) Marshal() []byte {
	b := append([]byte("OpusHead"), 1, h.Channels)
	b = binary.LittleEndian.AppendUint16(b, h.PreSkip)
	b = binary.LittleEndian.AppendUint32(b, h.InputRate)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.OutputGain))
	return append(b, 0) // mapping family 0
}

// ParseOpusHead parses an OpusHead packet.
func ParseOpusHead(b []byte) (OpusHead, error) {
	if len(b) < 19 || string(b[:8]) != "OpusHead" {
		return OpusHead{}, fmt.Errorf("%w: not an OpusHead", ErrOpus)
	}
	if b[8]>>4 != 0 {
		return OpusHead{}, fmt.Errorf("%w: OpusHead version %d", ErrOpus, b[8])
	}
	h := OpusHead{
		Channels:   b[9],
		PreSkip:    binary.LittleEndian.Uint16(b[10:]),
		InputRate:  binary.LittleEndian.Uint32(b[12:]),
		OutputGain: int16(binary.LittleEndian.Uint16(b[16:])),
	}
	if h.Channels == 0 || (b[18] == 0 && h.Channels > 2) {
		return OpusHead{}, fmt.Errorf("%w: %d channels with mapping family %d", ErrOpus, h.Channels, b[18])
	}
	return h, nil
}

// OpusTags returns the comment header packet with the vendor string and
// "KEY=value" comments.
func OpusTags(vendor string, comments ...string) []byte {
	b := []byte("OpusTags")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(comments)))
	for _, c := range comments {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return b
}

// ParseOpusTags returns the vendor string and comments of an OpusTags
// packet.
func ParseOpusTags(b []byte) (vendor string, comments []string, err error) {
	if len(b) < 16 || string(b[:8]) != "OpusTags" {
		return "", nil, fmt.Errorf("%w: not an OpusTags", ErrOpus)
	}
	b = b[8:]
	str := func() (string, bool) {
		if len(b) < 4 {
			return "", false
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return "", false
		}
		s := string(b[4 : 4+n])
		b = b[4+n:]
		return s, true
	}
	vendor, ok := str()
	if !ok || len(b) < 4 {
		return "", nil, fmt.Errorf("%w: OpusTags vendor", ErrOpus)
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b))/4 {
		return "", nil, fmt.Errorf("%w: OpusTags count %d", ErrOpus, n)
	}
	for range n {
		c, ok := str()
		if !ok {
			return "", nil, fmt.Errorf("%w: OpusTags comment", ErrOpus)
		}
		comments = append(comments, c)
	}
	return vendor, comments, nil
}

// frameSamples48 is the frame duration, in 48 kHz samples, of each TOC
// configuration (RFC 6716 section 3.1).
var frameSamples48 = func() (t [32]int) {
	for c := range 32 {
		switch {
		case c < 12: // SILK: 10, 20, 40, 60 ms
			t[c] = [4]int{480, 960, 1920, 2880}[c%4]
		case c < 16: // hybrid: 10, 20 ms
			t[c] = [2]int{480, 960}[c%2]
		default: // CELT: 2.5, 5, 10, 20 ms
			t[c] = [4]int{120, 240, 480, 960}[c%4]
		}
	}
	return t
}()

// OpusSamples returns the duration of an Opus packet in 48 kHz samples,
// from its TOC byte and frame count (RFC 6716 section 3.2). It fails on
// an empty packet, a code 3 packet without its count byte, a zero frame
// count, or more than 120 ms.
func OpusSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrOpus)
	}
	per := frameSamples48[packet[0]>>3]
	frames := 1
	switch packet[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without frame count", ErrOpus)
		}
		frames = int(packet[1] & 0x3f)
	}
	n := per * frames
	if frames == 0 || n > 5760 {
		return 0, fmt.Errorf("%w: %d frames of %d samples", ErrOpus, frames, per)
	}
	return n, nil
}
