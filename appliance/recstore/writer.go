package recstore

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// Writer encrypts a recording as it is written. Bytes are appended with
// Write; the first segment (the first SegmentSize bytes) stays in memory
// until Close, so Seek and Write may rewrite it (a WAV header patched at
// the end). Writing elsewhere than the end or the first segment fails
// with ErrSeek. A Writer is not safe for concurrent use.
type Writer struct {
	f      *os.File
	path   string
	key    Key
	aead   cipher.AEAD
	h      header
	seg0   []byte // plaintext of segment 0, sealed at Close (cap: a sealed segment)
	buf    []byte // plaintext of segment cur >= 1, sealed in place; nil until needed
	cur    uint32
	size   int64 // plaintext bytes written
	pos    int64 // where the next Write goes
	nonce  [12]byte
	err    error
	closed bool
}

// Create creates the file at path (it must not exist) and writes its
// header. The file is created with mode 0640.
func Create(path string, key Key) (*Writer, error) {
	if key.IsZero() {
		return nil, fmt.Errorf("%w: zero key", ErrKeyFile)
	}
	w := &Writer{
		path: path,
		key:  key,
		aead: newAEAD(key),
		seg0: make([]byte, 0, SegmentSize+Overhead),
		cur:  1,
	}
	w.h.keyID, w.h.seg = key.id, SegmentSize
	if _, err := rand.Read(w.h.prefix[:]); err != nil {
		return nil, fmt.Errorf("recstore: nonce prefix: %w", err)
	}
	w.h.marshal()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("recstore: create: %w", err)
	}
	if _, err := f.Write(w.h.raw[:]); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("recstore: write header: %w", err)
	}
	w.f = f
	return w, nil
}

// Write writes p at the current position: the end of the plaintext, or
// inside the first segment after a Seek.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.pos < w.size {
		if w.pos+int64(len(p)) > int64(len(w.seg0)) {
			return 0, fmt.Errorf("%w: rewrite of [%d,%d) beyond the first segment", ErrSeek, w.pos, w.pos+int64(len(p)))
		}
		copy(w.seg0[w.pos:], p)
		w.pos += int64(len(p))
		return len(p), nil
	}
	n := len(p)
	for len(p) > 0 {
		if len(w.seg0) < SegmentSize {
			k := min(len(p), SegmentSize-len(w.seg0))
			w.seg0 = append(w.seg0, p[:k]...)
			p = p[k:]
			continue
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, SegmentSize+Overhead)
		}
		if len(w.buf) == SegmentSize { // more data follows: the segment is not the last
			if err := w.seal(w.buf, w.cur, false); err != nil {
				w.err = err
				return n - len(p), err
			}
			w.buf = w.buf[:0]
			w.cur++
		}
		k := min(len(p), SegmentSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
	}
	w.size += int64(n)
	w.pos = w.size
	return n, nil
}

// Seek sets the position of the next Write. Only positions up to the
// plaintext size are accepted.
func (w *Writer) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = w.pos + offset
	case io.SeekEnd:
		abs = w.size + offset
	default:
		return w.pos, fmt.Errorf("%w: whence %d", ErrSeek, whence)
	}
	if abs < 0 || abs > w.size {
		return w.pos, fmt.Errorf("%w: offset %d outside [0,%d]", ErrSeek, abs, w.size)
	}
	w.pos = abs
	return abs, nil
}

// Size is the number of plaintext bytes written so far.
func (w *Writer) Size() int64 { return w.size }

func (w *Writer) seal(pt []byte, i uint32, last bool) error {
	if i == ^uint32(0) {
		return fmt.Errorf("recstore: file too large")
	}
	// Sealed in place: pt's buffer has room for the tag.
	ct := w.aead.Seal(pt[:0], nonce(&w.nonce, w.h.prefix, i, last), pt, w.h.raw[:])
	off := int64(HeaderSize) + int64(i)*int64(SegmentSize+Overhead)
	if _, err := w.f.WriteAt(ct, off); err != nil {
		return fmt.Errorf("recstore: write segment %d: %w", i, err)
	}
	return nil
}

// Close seals the remaining segments, syncs and closes the file, then
// reads it back through Open to return the plaintext size and SHA-256
// (which also proves the file decrypts). After an error the file is left
// in place, incomplete; the caller decides whether to remove it.
func (w *Writer) Close() (size int64, sum [32]byte, err error) {
	if w.closed {
		return 0, sum, ErrClosed
	}
	w.closed = true
	err = w.err
	if err == nil {
		if w.size <= SegmentSize {
			err = w.seal(w.seg0, 0, true)
		} else if err = w.seal(w.buf, w.cur, true); err == nil {
			err = w.seal(w.seg0, 0, false)
		}
	}
	if err == nil {
		if serr := w.f.Sync(); serr != nil {
			err = fmt.Errorf("recstore: sync: %w", serr)
		}
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("recstore: close: %w", cerr)
	}
	if err != nil {
		return 0, sum, err
	}
	r, err := Open(w.path, w.key)
	if err != nil {
		return 0, sum, fmt.Errorf("recstore: verify: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return 0, sum, fmt.Errorf("recstore: verify: %w", err)
	}
	if n != w.size {
		return 0, sum, fmt.Errorf("recstore: verify: read %d bytes, wrote %d", n, w.size)
	}
	copy(sum[:], h.Sum(nil))
	return n, sum, nil
}
