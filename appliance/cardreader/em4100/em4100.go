// Package em4100 reads 125 kHz EM4100-style serial card readers (RDM6300
// and the like). While a card is in the field such a reader sends, over
// and over, at 9600 baud 8N1:
//
//	STX (0x02), ten ASCII hex digits (the card's 5 bytes: version/customer
//	byte and 32-bit id), two ASCII hex digits of checksum (XOR of the 5
//	bytes), ETX (0x03)
//
// Parser is the pure, fuzzed stream parser; Serve runs it on a port.
// Malformed frames are dropped and reported with their reason. CR, LF and
// spaces between frames (some readers send them) are ignored silently.
//
// These readers speak only when a card is presented, so a dead reader on a
// present port cannot be told from an idle one: only the port vanishing or
// failing is detected.
package em4100

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Frame bytes.
const (
	STX = 0x02
	ETX = 0x03
)

// DefaultBaud is the readers' line speed.
const DefaultBaud = 9600

// frameLen is the number of characters between STX and ETX.
const frameLen = 12

// Reasons a frame is dropped.
var (
	ErrChecksum  = errors.New("em4100: checksum mismatch")
	ErrHex       = errors.New("em4100: non-hex character in frame")
	ErrTruncated = errors.New("em4100: frame cut short by a new STX")
	ErrNoETX     = errors.New("em4100: frame not terminated by ETX")
	ErrNoise     = errors.New("em4100: bytes outside a frame")
	ErrPort      = errors.New("em4100: port failed")
)

// Encode returns the frame a reader sends for the 5-byte card id.
func Encode(card [5]byte) []byte {
	var sum byte
	for _, b := range card {
		sum ^= b
	}
	out := make([]byte, 0, frameLen+2)
	out = append(out, STX)
	out = fmt.Appendf(out, "%02X%02X", card[:], sum)
	return append(out, ETX)
}

// Parser parses a byte stream into card ids. The zero value is ready.
type Parser struct {
	in    bool // inside a frame (after STX)
	buf   [frameLen]byte
	n     int
	noisy bool // already reported the current run of noise
}

// Feed parses b, calling card for every valid frame and drop (if not nil)
// for every malformed frame or run of noise. Frames may be split across
// calls.
func (p *Parser) Feed(b []byte, card func([5]byte), drop func(error)) {
	report := func(err error) {
		if drop != nil {
			drop(err)
		}
	}
	for _, c := range b {
		if c == STX {
			if p.in {
				report(fmt.Errorf("%w after %d characters", ErrTruncated, p.n))
			}
			p.in, p.n, p.noisy = true, 0, false
			continue
		}
		if !p.in {
			switch c {
			case '\r', '\n', ' ', ETX:
			default:
				if !p.noisy {
					p.noisy = true
					report(fmt.Errorf("%w: %02X", ErrNoise, c))
				}
			}
			continue
		}
		if p.n < frameLen {
			p.buf[p.n] = c
			p.n++
			continue
		}
		p.in = false
		if c != ETX {
			report(fmt.Errorf("%w: got %02X", ErrNoETX, c))
			continue
		}
		id, err := decode(p.buf)
		if err != nil {
			report(err)
			continue
		}
		card(id)
	}
}

func decode(buf [frameLen]byte) ([5]byte, error) {
	var raw [6]byte
	if _, err := hex.Decode(raw[:], buf[:]); err != nil {
		return [5]byte{}, fmt.Errorf("%w: %q", ErrHex, buf[:])
	}
	var sum byte
	for _, b := range raw[:5] {
		sum ^= b
	}
	if sum != raw[5] {
		return [5]byte{}, fmt.Errorf("%w: frame %q, computed %02X", ErrChecksum, buf[:], sum)
	}
	return [5]byte(raw[:5]), nil
}

// Serve reads port until a read fails, calling onCard for every valid
// frame (a held card repeats: deduplication is the caller's job) and
// logging every dropped frame with its reason. Reads cannot be interrupted
// through ctx: the caller closes the port when ctx is done, and Serve then
// returns ctx.Err().
func Serve(ctx context.Context, port io.Reader, log *slog.Logger, onCard func([5]byte)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var p Parser
	drop := func(err error) { log.Warn("em4100: dropped frame", "reason", err) }
	buf := make([]byte, 256)
	zero := 0
	for {
		n, err := port.Read(buf)
		if n > 0 {
			zero = 0
			p.Feed(buf[:n], onCard, drop)
		} else if err == nil {
			if zero++; zero > 100 {
				err = io.ErrNoProgress
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %w", ErrPort, err)
		}
	}
}
