// Package frame is the pure codec of the NXP PN532 host link frames (PN532
// User Manual, section 6.2): normal information frames
//
//	00 00 FF LEN LCS TFI PD0..PDn DCS 00
//
// extended information frames
//
//	00 00 FF FF FF LENM LENL LCS TFI PD0..PDn DCS 00
//
// the ACK frame (00 00 FF 00 FF 00), the NACK frame (00 00 FF FF 00 00) and
// the application-level error frame (00 00 FF 01 FF 7F 81 00).
//
// LEN counts TFI and the data bytes; LEN + LCS = 0 (mod 256) and
// TFI + PD0 + ... + PDn + DCS = 0 (mod 256). The codec does no I/O: Decode
// works on a byte slice and Decoder on a byte stream that may hold garbage,
// partial frames and frames with bad checksums, resynchronising on the
// 00 FF start code.
package frame

import (
	"bytes"
	"errors"
	"fmt"
)

// Frame identifiers (TFI).
const (
	TFIHost  = 0xD4 // host controller to PN532
	TFIPN532 = 0xD5 // PN532 to host controller
	TFIError = 0x7F // application-level error frame
)

// MaxLen is the largest LEN (TFI plus data) accepted: the PN532 buffers at
// most 264 data bytes behind the TFI.
const MaxLen = 265

// Fixed frames.
var (
	ACK        = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	NACK       = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	ErrorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

// Errors of the codec layer.
var (
	// ErrIncomplete means more bytes are needed to decode a frame.
	ErrIncomplete = errors.New("pn532 frame: incomplete")
	// ErrLengthChecksum means LEN + LCS is not 0: the start code was not
	// the start of a frame (or the length bytes were corrupted).
	ErrLengthChecksum = errors.New("pn532 frame: bad length checksum (LCS)")
	// ErrDataChecksum means TFI + data + DCS is not 0: a whole frame was
	// received but its content is corrupted.
	ErrDataChecksum = errors.New("pn532 frame: bad data checksum (DCS)")
	// ErrLength means LEN is 0 for an information frame or above MaxLen.
	ErrLength = errors.New("pn532 frame: bad length")
	// ErrTooLong is returned by Encode for data that does not fit a frame.
	ErrTooLong = errors.New("pn532 frame: data too long")
)

// Kind tells the frames apart.
type Kind uint8

// Frame kinds.
const (
	KindInfo  Kind = iota + 1 // normal or extended information frame
	KindACK                   // ACK
	KindNACK                  // NACK
	KindError                 // application-level error frame
)

func (k Kind) String() string {
	switch k {
	case KindInfo:
		return "info"
	case KindACK:
		return "ack"
	case KindNACK:
		return "nack"
	case KindError:
		return "error"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Frame is one decoded frame. TFI and Data are set for KindInfo frames only;
// Data is a copy, never an alias of the input.
type Frame struct {
	Kind     Kind
	TFI      byte
	Data     []byte
	Extended bool
}

// Encode returns the information frame carrying tfi and data, as a normal
// frame when LEN fits a byte and as an extended frame otherwise.
func Encode(tfi byte, data []byte) ([]byte, error) {
	return encode(tfi, data, false)
}

// EncodeExtended returns the information frame carrying tfi and data
// always in the extended layout (00 00 FF FF FF LENM LENL LCS ...), which
// the chip uses for long payloads and a receiver must accept at any length.
func EncodeExtended(tfi byte, data []byte) ([]byte, error) {
	return encode(tfi, data, true)
}

func encode(tfi byte, data []byte, extended bool) ([]byte, error) {
	n := len(data) + 1
	if n > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLong, len(data))
	}
	var out []byte
	if n <= 0xFF && !extended {
		out = make([]byte, 0, n+7)
		out = append(out, 0x00, 0x00, 0xFF, byte(n), byte(-n))
	} else {
		out = make([]byte, 0, n+10)
		m, l := byte(n>>8), byte(n)
		out = append(out, 0x00, 0x00, 0xFF, 0xFF, 0xFF, m, l, -(m + l))
	}
	sum := tfi
	out = append(out, tfi)
	for _, b := range data {
		sum += b
	}
	out = append(out, data...)
	return append(out, -sum, 0x00), nil
}

// Command returns the host-to-PN532 frame of command code cmd with params.
func Command(cmd byte, params ...byte) ([]byte, error) {
	return Encode(TFIHost, append([]byte{cmd}, params...))
}

var startCode = []byte{0x00, 0xFF}

// Decode decodes the first frame in b. It skips any bytes before the first
// 00 FF start code. n is how many bytes of b the caller should drop:
//
//   - err == nil: the frame and everything before it;
//   - ErrIncomplete: only the garbage before a possible frame (n may be 0);
//     wait for more bytes;
//   - ErrLengthChecksum, ErrLength: up to and including the false start
//     code, so that decoding resynchronises on the next one;
//   - ErrDataChecksum: the whole corrupted frame (f holds what was read,
//     f.Kind is KindInfo) so that the receiver can ask for it again (NACK).
//
// The postamble is not required and is skipped as garbage before the next
// frame.
func Decode(b []byte) (f Frame, n int, err error) {
	i := bytes.Index(b, startCode)
	if i < 0 {
		// Keep a trailing 00: it may be the first half of a start code.
		if len(b) > 0 && b[len(b)-1] == 0x00 {
			return Frame{}, len(b) - 1, ErrIncomplete
		}
		return Frame{}, len(b), ErrIncomplete
	}
	p := b[i+2:]
	if len(p) < 2 {
		return Frame{}, i, ErrIncomplete
	}
	skip := i + 2 // drop a false start code
	length, lcs := p[0], p[1]
	switch {
	case length == 0x00 && lcs == 0xFF:
		return Frame{Kind: KindACK}, i + 4, nil
	case length == 0xFF && lcs == 0x00:
		return Frame{Kind: KindNACK}, i + 4, nil
	}
	var l, hdr int
	extended := false
	if length == 0xFF && lcs == 0xFF {
		if len(p) < 5 {
			return Frame{}, i, ErrIncomplete
		}
		if p[2]+p[3]+p[4] != 0 {
			return Frame{}, skip, fmt.Errorf("%w: extended LENM %02X LENL %02X LCS %02X", ErrLengthChecksum, p[2], p[3], p[4])
		}
		l, hdr, extended = int(p[2])<<8|int(p[3]), 5, true
	} else {
		if length+lcs != 0 {
			return Frame{}, skip, fmt.Errorf("%w: LEN %02X LCS %02X", ErrLengthChecksum, length, lcs)
		}
		l, hdr = int(length), 2
	}
	if l == 0 || l > MaxLen {
		return Frame{}, skip, fmt.Errorf("%w: %d", ErrLength, l)
	}
	if len(p) < hdr+l+1 {
		return Frame{}, i, ErrIncomplete
	}
	body := p[hdr : hdr+l]
	dcs := p[hdr+l]
	sum := dcs
	for _, c := range body {
		sum += c
	}
	n = i + 2 + hdr + l + 1
	f = Frame{Kind: KindInfo, TFI: body[0], Data: bytes.Clone(body[1:]), Extended: extended}
	if f.Data == nil {
		f.Data = []byte{}
	}
	if sum != 0 {
		return f, n, fmt.Errorf("%w: TFI %02X, %d data bytes", ErrDataChecksum, body[0], l-1)
	}
	if !extended && l == 1 && body[0] == TFIError {
		return Frame{Kind: KindError}, n, nil
	}
	return f, n, nil
}

// Decoder decodes frames from a byte stream written to it piecewise.
// The zero value is ready to use.
type Decoder struct {
	buf []byte
	// Skipped counts bytes outside frames: preambles, postambles, line
	// garbage and false start codes.
	Skipped int
}

// Write appends stream bytes. It never fails.
func (d *Decoder) Write(p []byte) (int, error) {
	d.buf = append(d.buf, p...)
	return len(p), nil
}

// Buffered reports how many undecoded bytes are held.
func (d *Decoder) Buffered() int { return len(d.buf) }

// Reset drops every buffered byte.
func (d *Decoder) Reset() { d.buf = d.buf[:0] }

// Next returns the next frame of the stream. It returns ErrIncomplete when
// it needs more bytes; ErrLengthChecksum and ErrLength when it skipped a
// false start code (call Next again); ErrDataChecksum with the dropped
// corrupted frame.
func (d *Decoder) Next() (Frame, error) {
	f, n, err := Decode(d.buf)
	if err == nil || errors.Is(err, ErrDataChecksum) {
		d.Skipped += n - frameLen(f)
	} else {
		d.Skipped += n
	}
	d.buf = d.buf[:copy(d.buf, d.buf[n:])]
	return f, err
}

// frameLen is the encoded size of f without preamble and postamble, used
// to count garbage before it.
func frameLen(f Frame) int {
	switch f.Kind {
	case KindACK, KindNACK:
		return 4
	case KindError:
		return 6
	case KindInfo:
		if f.Extended {
			return 2 + 5 + 1 + len(f.Data) + 1
		}
		return 2 + 2 + 1 + len(f.Data) + 1
	}
	return 0
}
