package wav

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Header layout written by Writer.
//
//	PCM:   RIFF(12) fmt(8+16)           data(8) = 44 bytes
//	G.711: RIFF(12) fmt(8+18) fact(8+4) data(8) = 58 bytes
const (
	pcmHeaderSize  = 44
	g711HeaderSize = 58
)

// Writer streams interleaved sample data into a WAV file. Sizes in the
// header are provisional until Close, which patches them; a file whose
// writer was never closed still parses (as an empty file, with the data
// beyond the header ignored by strict readers).
type Writer struct {
	ws      io.WriteSeeker
	bw      *bufio.Writer // nil: unbuffered (NewWriterSize with 0)
	f       Format
	hdrSize int64
	data    int64 // bytes of sample data written
	closed  bool
	err     error
}

// NewWriter writes a provisional header for f to ws, which must be
// positioned at the start of an empty file, and returns a Writer. Only mono
// and stereo are written.
func NewWriter(ws io.WriteSeeker, f Format) (*Writer, error) {
	return NewWriterSize(ws, f, 32<<10)
}

// NewWriterSize is NewWriter with a write buffer of size bytes; with size
// 0 every Write goes straight to ws, for a ws that buffers itself (an
// encrypting writer that seals whole segments, for instance).
func NewWriterSize(ws io.WriteSeeker, f Format, size int) (*Writer, error) {
	if err := f.validate(2); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("wav: buffer size %d", size)
	}
	w := &Writer{ws: ws, f: f}
	if size > 0 {
		w.bw = bufio.NewWriterSize(ws, size)
	}
	hdr := w.header(0)
	w.hdrSize = int64(len(hdr))
	if _, err := w.out().Write(hdr); err != nil {
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	return w, nil
}

// out is where data goes: the buffer, or ws itself.
func (w *Writer) out() io.Writer {
	if w.bw != nil {
		return w.bw
	}
	return w.ws
}

// Format is the format being written.
func (w *Writer) Format() Format { return w.f }

// DataBytes is the number of sample-data bytes written so far.
func (w *Writer) DataBytes() int64 { return w.data }

// Write appends interleaved sample data (for PCM, little-endian int16s).
// Callers should write whole frames; Close pads an odd data length.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.hdrSize+w.data+int64(len(p))+1 > math.MaxUint32 {
		w.err = ErrTooLarge
		return 0, w.err
	}
	n, err := w.out().Write(p)
	w.data += int64(n)
	if err != nil {
		w.err = fmt.Errorf("wav: write data: %w", err)
		return n, w.err
	}
	return n, nil
}

// WriteSamples appends 16-bit linear samples (interleaved when stereo) to
// a PCM file.
func (w *Writer) WriteSamples(s []int16) error {
	if w.f.Encoding != PCM {
		return fmt.Errorf("%w: WriteSamples on a %v file", ErrUnsupported, w.f.Encoding)
	}
	var b [256]byte
	for len(s) > 0 {
		n := min(len(s), len(b)/2)
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(s[i]))
		}
		if _, err := w.Write(b[:2*n]); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}

// Close flushes buffered data, pads the data chunk to an even length,
// writes the final sizes into the header and leaves ws positioned at the
// end of the file. It does not close ws. Close is idempotent; it returns
// the first error the writer met.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if w.data%2 == 1 {
		if _, err := w.out().Write([]byte{0}); err != nil {
			w.err = fmt.Errorf("wav: pad: %w", err)
			return w.err
		}
	}
	if w.bw != nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("wav: flush: %w", err)
			return w.err
		}
	}
	if _, err := w.ws.Seek(0, io.SeekStart); err != nil {
		w.err = fmt.Errorf("wav: seek: %w", err)
		return w.err
	}
	if _, err := w.ws.Write(w.header(w.data)); err != nil {
		w.err = fmt.Errorf("wav: rewrite header: %w", err)
		return w.err
	}
	if _, err := w.ws.Seek(0, io.SeekEnd); err != nil {
		w.err = fmt.Errorf("wav: seek: %w", err)
		return w.err
	}
	return nil
}

// header builds the header for dataBytes bytes of sample data.
func (w *Writer) header(dataBytes int64) []byte {
	f := w.f
	bits := f.Encoding.BitsPerSample()
	block := f.FrameSize()
	pad := dataBytes % 2
	g711 := f.Encoding != PCM
	size := pcmHeaderSize
	if g711 {
		size = g711HeaderSize
	}
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(int64(size)-8+dataBytes+pad))
	b = append(b, "WAVE"...)
	b = append(b, "fmt "...)
	if g711 {
		b = le.AppendUint32(b, 18)
	} else {
		b = le.AppendUint32(b, 16)
	}
	b = le.AppendUint16(b, uint16(f.Encoding))
	b = le.AppendUint16(b, uint16(f.Channels))
	b = le.AppendUint32(b, uint32(f.SampleRate))
	b = le.AppendUint32(b, uint32(f.SampleRate*block))
	b = le.AppendUint16(b, uint16(block))
	b = le.AppendUint16(b, uint16(bits))
	if g711 {
		b = le.AppendUint16(b, 0) // cbSize
		b = append(b, "fact"...)
		b = le.AppendUint32(b, 4)
		b = le.AppendUint32(b, uint32(dataBytes/int64(block))) // sample frames
	}
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(dataBytes))
	return b
}
