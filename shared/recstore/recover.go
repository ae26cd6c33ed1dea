package recstore

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNothingRecovered is returned by Recover when not one segment of a
// file authenticates (the writer died before its first segment was full).
var ErrNothingRecovered = errors.New("recstore: no complete segment to recover")

// Recovered reads the plaintext a Writer that never reached Close left
// behind (see Recover). It is not safe for concurrent use.
type Recovered struct {
	f    io.ReaderAt
	file *os.File // nil when made by NewRecovered
	aead cipher.AEAD
	h    header
	size int64 // file size

	next  uint32 // next segment to open
	done  bool   // no segment after the ones read
	plain []byte // unread plaintext of the current segment
	buf   []byte
	ct    []byte
	nonce [12]byte
	// Segments counts the segments that authenticated so far.
	Segments int
}

// Recover opens the file at path, written by a Writer that never reached
// Close (a .part file of a process that was killed), for reading what it
// holds: every segment from the first that authenticates, in order, up to
// the first that does not (the segment the writer was filling when it
// died, absent or cut). Segment 0 is read from its provisional copy (or
// its final form, for a file that was closed after all). The plaintext
// ends at a segment boundary: whatever a format needs fixed at the end
// (a WAV header's sizes, an Ogg page cut in two) is the caller's.
//
// A file whose header is not this package's, or that was sealed with
// another key, is refused (ErrFormat, ErrVersion, ErrWrongKey); one
// without a single complete segment gives ErrNothingRecovered.
func Recover(path string, key Key) (*Recovered, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, fmt.Errorf("recstore: recover: %w", err)
	}
	r, err := NewRecovered(f, size, key)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// NewRecovered is Recover over fileSize bytes read from ra.
func NewRecovered(ra io.ReaderAt, fileSize int64, key Key) (*Recovered, error) {
	h, err := readHeader(ra, fileSize, key)
	if err != nil {
		return nil, err
	}
	r := &Recovered{f: ra, aead: newAEAD(key), h: h, size: fileSize,
		buf: make([]byte, 0, h.seg), ct: make([]byte, h.seg+Overhead)}
	if err := r.advance(); err != nil {
		return nil, err
	}
	if r.Segments == 0 {
		return nil, ErrNothingRecovered
	}
	return r, nil
}

// advance opens the next segment into r.plain, or sets r.done.
func (r *Recovered) advance() error {
	if r.done {
		return nil
	}
	full := int64(r.h.seg + Overhead)
	off := int64(HeaderSize) + int64(r.next)*full
	n := min(full, r.size-off)
	if n < Overhead {
		r.done = true
		return nil
	}
	ct := r.ct[:n]
	if m, err := r.f.ReadAt(ct, off); int64(m) != n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("recstore: recover: segment %d: %w", r.next, err)
	}
	flags := []byte{flagMore, flagLast}
	if r.next == 0 {
		flags = []byte{flagProvisional, flagMore, flagLast}
	}
	for _, fl := range flags {
		if fl != flagLast && n != full {
			continue // only the last segment may be short
		}
		pt, err := r.aead.Open(r.buf[:0], nonceFlag(&r.nonce, r.h.prefix, r.next, fl), ct, r.h.raw[:])
		if err != nil {
			continue
		}
		r.plain = pt
		r.Segments++
		r.next++
		if fl == flagLast || r.next == ^uint32(0) {
			r.done = true
		}
		return nil
	}
	r.done = true
	return nil
}

// Read reads the recovered plaintext.
func (r *Recovered) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// Close closes the file Recover opened.
func (r *Recovered) Close() error {
	if r.file != nil {
		return r.file.Close()
	}
	return nil
}
