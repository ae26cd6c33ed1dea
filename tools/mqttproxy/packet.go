package mqttproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MQTT 3.1.1 control packet types (the high nibble of the first byte).
const (
	TypeConnect     byte = 1
	TypeConnack     byte = 2
	TypePublish     byte = 3
	TypePuback      byte = 4
	TypePubrec      byte = 5
	TypePubrel      byte = 6
	TypePubcomp     byte = 7
	TypeSubscribe   byte = 8
	TypeSuback      byte = 9
	TypeUnsubscribe byte = 10
	TypeUnsuback    byte = 11
	TypePingreq     byte = 12
	TypePingresp    byte = 13
	TypeDisconnect  byte = 14
	// TypeAuth is MQTT 5's AUTH; the proxy passes it through untouched.
	TypeAuth byte = 15
)

// MaxRemainingLength is the largest remaining length the four-byte varint of
// MQTT can express (268,435,455 bytes, "256 MB").
const MaxRemainingLength = 268_435_455

// maxHeaderLen is the longest fixed header: one type byte and four length
// bytes.
const maxHeaderLen = 5

// Header is a parsed MQTT fixed header.
type Header struct {
	Type  byte // packet type, 1..15
	Flags byte // the low nibble of the first byte
	// Remaining is the remaining length: the bytes after the fixed header.
	Remaining int
	// Len is the fixed header's own length (2 to 5 bytes).
	Len int
}

// Size is the whole packet's length in bytes.
func (h Header) Size() int { return h.Len + h.Remaining }

// QoS is a PUBLISH packet's QoS (bits 2-1 of the flags).
func (h Header) QoS() byte { return h.Flags >> 1 & 3 }

// ParseHeader parses the fixed header at the start of b. It returns
// ErrShort when b ends before the header does, ErrMalformed for a reserved
// packet type 0, a PUBLISH with QoS 3, or a remaining length longer than
// four bytes, and ErrTooLarge when the packet would exceed max bytes in
// all (max <= 0 means no limit beyond MQTT's own).
func ParseHeader(b []byte, max int) (Header, error) {
	if len(b) == 0 {
		return Header{}, ErrShort
	}
	h := Header{Type: b[0] >> 4, Flags: b[0] & 0x0f}
	if h.Type == 0 {
		return Header{}, fmt.Errorf("%w: reserved packet type 0", ErrMalformed)
	}
	if h.Type == TypePublish && h.QoS() == 3 {
		return Header{}, fmt.Errorf("%w: PUBLISH with QoS 3", ErrMalformed)
	}
	mult := 1
	for i := 1; ; i++ {
		if i == maxHeaderLen {
			return Header{}, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
		}
		if i >= len(b) {
			return Header{}, ErrShort
		}
		h.Remaining += int(b[i]&0x7f) * mult
		mult <<= 7
		if b[i]&0x80 == 0 {
			h.Len = i + 1
			break
		}
	}
	if max > 0 && h.Size() > max {
		return Header{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, h.Size(), max)
	}
	return h, nil
}

// Split returns the first whole packet of b and the bytes after it. When b
// does not hold a whole packet yet it returns nil, b and ErrShort. pkt
// aliases b.
func Split(b []byte, max int) (pkt, rest []byte, err error) {
	h, err := ParseHeader(b, max)
	if err != nil {
		return nil, b, err
	}
	if len(b) < h.Size() {
		return nil, b, ErrShort
	}
	return b[:h.Size():h.Size()], b[h.Size():], nil
}

// Reader reads whole MQTT packets from a byte stream.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader of r refusing packets over max bytes (0: no
// limit beyond MQTT's own).
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next whole packet in a new slice. At a clean end of the
// stream (between packets) it returns io.EOF; a stream that ends inside a
// packet gives io.ErrUnexpectedEOF.
func (r *Reader) Next() ([]byte, error) {
	var hdr [maxHeaderLen]byte
	n := 0
	var h Header
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && n > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		hdr[n] = c
		n++
		h, err = ParseHeader(hdr[:n], r.max)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrShort) {
			return nil, err
		}
	}
	pkt := make([]byte, h.Size())
	copy(pkt, hdr[:n])
	if _, err := io.ReadFull(r.r, pkt[n:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return pkt, nil
}

// duplicate returns a copy of a PUBLISH packet as a resend would look: for
// QoS 1 and 2 with the DUP flag set, for QoS 0 unchanged (DUP must be 0
// there).
func duplicate(pkt []byte) []byte {
	cp := append([]byte(nil), pkt...)
	if len(cp) > 0 && cp[0]>>4 == TypePublish && cp[0]>>1&3 > 0 {
		cp[0] |= 0x08
	}
	return cp
}
