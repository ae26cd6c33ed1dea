package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kinline/kinline/shared/audio/g711"
)

// Header is what a Reader learned from a file's chunks before its data.
type Header struct {
	Format
	BitsPerSample int
	BlockAlign    int
	// DataOffset is the byte offset of the first sample in the file.
	DataOffset int64
	// DataSize is the declared size of the data chunk in bytes. Writers
	// that stream may leave it 0 or 0xFFFFFFFF; the Reader then reads to
	// the end of the input.
	DataSize int64
	// Frames is the sample-frame count: from the fact chunk when present,
	// else DataSize / BlockAlign.
	Frames int64
}

// Reader parses a WAV header and then reads its sample data.
type Reader struct {
	Header
	r      io.Reader
	remain int64 // data bytes left to read; -1 if unbounded
	buf    []byte
}

// maxFmtChunk bounds how much of a fmt chunk is kept; the rest is skipped.
const maxFmtChunk = 64

// NewReader reads chunks from r up to the start of the data chunk and
// returns a Reader positioned at the first sample. It rejects anything but
// PCM 16-bit, A-law and µ-law (also inside WAVE_FORMAT_EXTENSIBLE).
func NewReader(r io.Reader) (*Reader, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, ErrNotWAV
	}
	rd := &Reader{r: r}
	off := int64(12)
	var (
		haveFmt  bool
		factSeen bool
		fact     uint32
	)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("%w: no data chunk: %w", ErrMalformed, err)
		}
		off += 8
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, fmt.Errorf("%w: two fmt chunks", ErrMalformed)
			}
			if size < 16 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrMalformed, size)
			}
			keep := min(size, maxFmtChunk)
			body := make([]byte, keep)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, fmt.Errorf("%w: fmt chunk: %w", ErrMalformed, err)
			}
			if err := skip(r, size-keep+size%2); err != nil {
				return nil, err
			}
			if err := rd.parseFmt(body); err != nil {
				return nil, err
			}
			haveFmt = true
		case "fact":
			if size >= 4 {
				var b [4]byte
				if _, err := io.ReadFull(r, b[:]); err != nil {
					return nil, fmt.Errorf("%w: fact chunk: %w", ErrMalformed, err)
				}
				fact, factSeen = binary.LittleEndian.Uint32(b[:]), true
				if err := skip(r, size-4+size%2); err != nil {
					return nil, err
				}
			} else if err := skip(r, size+size%2); err != nil {
				return nil, err
			}
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", ErrMalformed)
			}
			rd.DataOffset = off
			rd.DataSize = size
			rd.remain = size
			if size == 0 || size == 0xFFFFFFFF {
				rd.remain = -1
			}
			rd.Frames = size / int64(rd.BlockAlign)
			if factSeen {
				rd.Frames = int64(fact)
			}
			return rd, nil
		default:
			if err := skip(r, size+size%2); err != nil {
				return nil, err
			}
		}
		off += size + size%2
	}
}

func skip(r io.Reader, n int64) error {
	if n <= 0 {
		return nil
	}
	if s, ok := r.(io.Seeker); ok {
		if _, err := s.Seek(n, io.SeekCurrent); err == nil {
			return nil
		}
	}
	if m, err := io.CopyN(io.Discard, r, n); err != nil {
		return fmt.Errorf("%w: chunk truncated after %d of %d bytes: %w", ErrMalformed, m, n, err)
	}
	return nil
}

func (rd *Reader) parseFmt(b []byte) error {
	le := binary.LittleEndian
	enc := Encoding(le.Uint16(b[0:]))
	channels := int(le.Uint16(b[2:]))
	rate := int64(le.Uint32(b[4:]))
	block := int(le.Uint16(b[12:]))
	bits := int(le.Uint16(b[14:]))
	if enc == extensible {
		// cbSize(2) validBits(2) channelMask(4) subFormat GUID(16)
		if len(b) < 40 || int(le.Uint16(b[16:])) < 22 {
			return fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE", ErrMalformed)
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksdataformatTail[:]) {
			return fmt.Errorf("%w: extensible subformat %x", ErrUnsupported, guid)
		}
		enc = Encoding(le.Uint16(guid[0:2]))
	}
	if rate > MaxSampleRate {
		return fmt.Errorf("%w: sample rate %d", ErrUnsupported, rate)
	}
	f := Format{Encoding: enc, Channels: channels, SampleRate: int(rate)}
	if err := f.validate(MaxChannels); err != nil {
		return err
	}
	if bits != enc.BitsPerSample() {
		return fmt.Errorf("%w: %v with %d bits per sample", ErrUnsupported, enc, bits)
	}
	if block != f.FrameSize() {
		return fmt.Errorf("%w: block align %d, want %d", ErrMalformed, block, f.FrameSize())
	}
	rd.Format, rd.BitsPerSample, rd.BlockAlign = f, bits, block
	return nil
}

// ksdataformatTail is the common tail of the KSDATAFORMAT_SUBTYPE_* GUIDs,
// whose first two bytes are the format tag.
var ksdataformatTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Read reads raw sample data (interleaved; little-endian int16s for PCM).
// It returns io.EOF at the end of the data chunk, and io.ErrUnexpectedEOF
// if the input ends before the declared data size.
func (rd *Reader) Read(p []byte) (int, error) {
	if rd.remain == 0 {
		return 0, io.EOF
	}
	if rd.remain > 0 && int64(len(p)) > rd.remain {
		p = p[:rd.remain]
	}
	n, err := rd.r.Read(p)
	if rd.remain > 0 {
		rd.remain -= int64(n)
		if errors.Is(err, io.EOF) && rd.remain > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

// ReadPCM reads whole frames and decodes them to 16-bit linear samples
// (interleaved) in dst; len(dst) should be a multiple of Channels. It
// returns the number of samples stored and io.EOF at the end of the data.
// A trailing partial frame is dropped.
func (rd *Reader) ReadPCM(dst []int16) (int, error) {
	bps := rd.BitsPerSample / 8
	want := (len(dst) / rd.Channels) * rd.Channels * bps
	if want == 0 {
		return 0, nil
	}
	if cap(rd.buf) < want {
		rd.buf = make([]byte, want)
	}
	buf := rd.buf[:want]
	n, err := io.ReadAtLeast(rd, buf, rd.BlockAlign)
	if err == nil && n%rd.BlockAlign != 0 {
		// Complete the partial frame so the next call stays aligned.
		var m int
		m, err = io.ReadFull(rd, buf[n:n+rd.BlockAlign-n%rd.BlockAlign])
		n += m
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && n > 0 && rd.remain < 0 {
		err = nil // unbounded data ending in a partial frame: drop it
	}
	n -= n % rd.BlockAlign
	buf = buf[:n]
	switch rd.Encoding {
	case PCM:
		for i := range n / 2 {
			dst[i] = int16(binary.LittleEndian.Uint16(buf[2*i:]))
		}
		return n / 2, err
	case Mulaw:
		return g711.DecodeUlawSlice(dst, buf), err
	default:
		return g711.DecodeAlawSlice(dst, buf), err
	}
}

// ReadAllPCM decodes the rest of the data into per-channel sample slices.
// It is meant for tests and tools working on bounded files: it reads at
// most maxFrames frames and returns ErrTooLarge beyond that.
func (rd *Reader) ReadAllPCM(maxFrames int) ([][]int16, error) {
	ch := make([][]int16, rd.Channels)
	buf := make([]int16, 1024*rd.Channels)
	frames := 0
	for {
		n, err := rd.ReadPCM(buf)
		for i := range n {
			ch[i%rd.Channels] = append(ch[i%rd.Channels], buf[i])
		}
		frames += n / rd.Channels
		if frames > maxFrames {
			return nil, ErrTooLarge
		}
		if errors.Is(err, io.EOF) {
			return ch, nil
		}
		if err != nil {
			return ch, err
		}
	}
}
