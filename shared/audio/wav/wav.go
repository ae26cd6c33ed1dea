// Package wav writes and reads RIFF/WAVE files holding telephone audio:
// G.711 µ-law (WAVE_FORMAT_MULAW, 7) and A-law (WAVE_FORMAT_ALAW, 6), both
// with the fact chunk non-PCM formats require, and 16-bit linear PCM
// (WAVE_FORMAT_PCM, 1), mono or stereo.
//
// A Writer streams sample data after a provisional header and fixes the
// RIFF, fact and data sizes when it is closed, so a file being recorded can
// be finalised without holding audio in memory. A Reader parses the header
// of a file from untrusted bytes (it never allocates by a declared size)
// and hands out the sample data, raw or decoded to linear PCM.
package wav

import (
	"errors"
	"fmt"
)

// Encoding is a WAVE format tag.
type Encoding uint16

// Format tags Kinline reads and writes.
const (
	PCM        Encoding = 1      // 16-bit signed little-endian linear PCM
	Alaw       Encoding = 6      // G.711 A-law, 8 bits per sample
	Mulaw      Encoding = 7      // G.711 µ-law, 8 bits per sample
	extensible Encoding = 0xFFFE // WAVE_FORMAT_EXTENSIBLE (read only)
)

// String names the encoding.
func (e Encoding) String() string {
	switch e {
	case PCM:
		return "pcm16"
	case Alaw:
		return "pcma"
	case Mulaw:
		return "pcmu"
	}
	return fmt.Sprintf("format-%#04x", uint16(e))
}

// BitsPerSample is 16 for PCM and 8 for the G.711 laws (0 if unknown).
func (e Encoding) BitsPerSample() int {
	switch e {
	case PCM:
		return 16
	case Alaw, Mulaw:
		return 8
	}
	return 0
}

// Format describes the audio in a file.
type Format struct {
	Encoding   Encoding
	Channels   int // 1 or 2 (the reader accepts up to MaxChannels)
	SampleRate int // samples per second per channel, e.g. 8000
}

// FrameSize is the number of bytes of one sample for every channel.
func (f Format) FrameSize() int { return f.Channels * f.Encoding.BitsPerSample() / 8 }

// Limits the reader enforces.
const (
	MaxChannels   = 8
	MaxSampleRate = 384000
)

// Errors of the wav layer.
var (
	ErrNotWAV      = errors.New("wav: not a RIFF/WAVE file")
	ErrUnsupported = errors.New("wav: unsupported format")
	ErrMalformed   = errors.New("wav: malformed file")
	ErrTooLarge    = errors.New("wav: data exceeds the 4 GiB RIFF limit")
	ErrClosed      = errors.New("wav: writer closed")
)

func (f Format) validate(maxChannels int) error {
	if f.Encoding.BitsPerSample() == 0 {
		return fmt.Errorf("%w: encoding %v", ErrUnsupported, f.Encoding)
	}
	if f.Channels < 1 || f.Channels > maxChannels {
		return fmt.Errorf("%w: %d channels", ErrUnsupported, f.Channels)
	}
	if f.SampleRate < 1 || f.SampleRate > MaxSampleRate {
		return fmt.Errorf("%w: sample rate %d", ErrUnsupported, f.SampleRate)
	}
	return nil
}
