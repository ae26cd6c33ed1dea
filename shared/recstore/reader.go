package recstore

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Reader decrypts a recording with random access: ReadAt (safe for
// concurrent use), and Read/Seek for sequential use. Every byte it returns
// has been authenticated, and Open has checked the final segment, so a
// truncated file is refused up front.
type Reader struct {
	f    io.ReaderAt
	file *os.File // nil when made by NewReader
	aead cipher.AEAD
	h    header
	nseg int64
	size int64

	mu     sync.Mutex
	cached int64 // index of the segment in plain, -1 if none
	plain  []byte
	ct     []byte
	nonce  [12]byte
	pos    int64 // for Read and Seek
}

// Open opens the recording at path for reading with key.
func Open(path string, key Key) (*Reader, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, fmt.Errorf("recstore: open: %w", err)
	}
	r, err := NewReader(f, size, key)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// openSized opens path and returns it with its size.
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// readHeader reads and checks the header of a file of fileSize bytes
// sealed with key.
func readHeader(ra io.ReaderAt, fileSize int64, key Key) (header, error) {
	var hb [HeaderSize]byte
	if fileSize < HeaderSize {
		return header{}, ErrFormat
	}
	if _, err := ra.ReadAt(hb[:], 0); err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		return header{}, err
	}
	if h.keyID != key.id {
		return header{}, ErrWrongKey
	}
	return h, nil
}

// NewReader reads a recording of fileSize bytes from ra.
func NewReader(ra io.ReaderAt, fileSize int64, key Key) (*Reader, error) {
	h, err := readHeader(ra, fileSize, key)
	if err != nil {
		return nil, err
	}
	body := fileSize - HeaderSize
	full := int64(h.seg + Overhead)
	if body < Overhead {
		return nil, fmt.Errorf("%w: no final segment", ErrAuth)
	}
	nseg := (body + full - 1) / full
	lastCT := body - (nseg-1)*full
	if lastCT < Overhead || nseg > int64(^uint32(0)) || (lastCT == Overhead && nseg > 1) {
		return nil, fmt.Errorf("%w: file size %d does not end on a segment", ErrAuth, fileSize)
	}
	r := &Reader{
		f: ra, aead: newAEAD(key), h: h, nseg: nseg,
		size:   (nseg-1)*int64(h.seg) + lastCT - Overhead,
		cached: -1,
		plain:  make([]byte, 0, h.seg),
		ct:     make([]byte, full),
	}
	if err := r.load(nseg - 1); err != nil { // authenticates the end: no truncation
		return nil, err
	}
	return r, nil
}

// Size is the plaintext size.
func (r *Reader) Size() int64 { return r.size }

// load decrypts segment i into r.plain. Called with r.mu held (or before
// the Reader is shared).
func (r *Reader) load(i int64) error {
	if r.cached == i {
		return nil
	}
	last := i == r.nseg-1
	n := int64(r.h.seg + Overhead)
	if last {
		n = r.size - i*int64(r.h.seg) + Overhead
	}
	ct := r.ct[:n]
	off := int64(HeaderSize) + i*int64(r.h.seg+Overhead)
	if m, err := r.f.ReadAt(ct, off); int64(m) != n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: segment %d: %w", ErrAuth, i, err)
	}
	r.cached = -1
	pt, err := r.aead.Open(r.plain[:0], nonce(&r.nonce, r.h.prefix, uint32(i), last), ct, r.h.raw[:])
	if err != nil {
		return fmt.Errorf("%w: segment %d", ErrAuth, i)
	}
	r.plain, r.cached = pt, i
	return nil
}

// ReadAt reads plaintext at off. It returns io.EOF when fewer than
// len(p) bytes remain.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", ErrSeek)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAtLocked(p, off)
}

func (r *Reader) readAtLocked(p []byte, off int64) (int, error) {
	n := 0
	seg := int64(r.h.seg)
	for n < len(p) {
		if off >= r.size {
			return n, io.EOF
		}
		i := off / seg
		if err := r.load(i); err != nil {
			return n, err
		}
		k := copy(p[n:], r.plain[off-i*seg:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// Read reads sequentially from the current position.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if int64(len(p)) > r.size-r.pos {
		p = p[:r.size-r.pos]
	}
	n, err := r.readAtLocked(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the position of the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	abs := offset
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		abs += r.pos
	case io.SeekEnd:
		abs += r.size
	default:
		return r.pos, fmt.Errorf("%w: whence %d", ErrSeek, whence)
	}
	if abs < 0 {
		return r.pos, fmt.Errorf("%w: negative position", ErrSeek)
	}
	r.pos = abs
	return abs, nil
}

// Close closes the underlying file when Open opened it.
func (r *Reader) Close() error {
	if r.file != nil {
		return r.file.Close()
	}
	return nil
}

// Opener returns a function that opens recordings sealed with key, in the
// shape of syncclient.Config.OpenRecording: the plaintext as a
// ReadSeekCloser and its size.
func Opener(key Key) func(path string) (io.ReadSeekCloser, int64, error) {
	return func(path string) (io.ReadSeekCloser, int64, error) {
		r, err := Open(path, key)
		if err != nil {
			return nil, 0, err
		}
		return r, r.Size(), nil
	}
}

// Sealed reports whether the file of fileSize bytes at ra starts with this
// format's magic, telling a sealed recording from a plaintext one (a WAV
// file starts with "RIFF", an Ogg file with "OggS").
func Sealed(ra io.ReaderAt, fileSize int64) bool {
	var b [8]byte
	if fileSize < HeaderSize {
		return false
	}
	if _, err := ra.ReadAt(b[:], 0); err != nil {
		return false
	}
	return b == magic
}
