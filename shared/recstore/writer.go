package recstore

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Writer encrypts a recording as it is written. Bytes are appended with
// Write; the first segment (the first SegmentSize bytes) stays in memory
// until Close, so Seek and Write may rewrite it (a WAV header patched at
// the end). Writing elsewhere than the end or the first segment fails
// with ErrSeek. A Writer is not safe for concurrent use.
//
// Sealed segments reach the file on a goroutine of the Writer's own, so a
// disk that stalls (writeback throttling, a journal commit) holds up that
// goroutine and not the caller, the RTP relay, until queueDepth segments
// (queueDepth x 16 KiB of audio, about 8 s of a G.711 stereo call) wait.
// A failed write is reported by the next Write or by Close. Close must be
// called: it also ends that goroutine.
type Writer struct {
	f      segFile
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
	// provisional is set once segment 0's provisional copy is queued.
	provisional bool

	queue chan segWrite         // to the flusher; closed by Close
	spare chan []byte           // segment buffers the flusher is done with
	done  chan struct{}         // closed when the flusher has exited
	ferr  atomic.Pointer[error] // the flusher's first error; read on every Write
}

// segFile is where a Writer's sealed segments go: the *os.File it
// created, or in tests a file that stalls or fails.
type segFile interface {
	io.WriterAt
	Sync() error
	Close() error
}

// queueDepth is how many sealed segments may wait for the disk before
// Write blocks.
const queueDepth = 8

type segWrite struct {
	b   []byte
	off int64
	i   uint32
}

// flush writes queued segments until the queue is closed. After an error
// it keeps taking segments (so Write never blocks on a dead disk) but
// writes no more.
func (w *Writer) flush() {
	defer close(w.done)
	for s := range w.queue {
		if w.ferr.Load() == nil {
			if _, err := w.f.WriteAt(s.b, s.off); err != nil {
				err = fmt.Errorf("recstore: write segment %d: %w", s.i, err)
				w.ferr.Store(&err)
			}
		}
		select {
		case w.spare <- s.b[:0]:
		default:
		}
	}
}

// flushErr is the flusher's first error, if any.
func (w *Writer) flushErr() error {
	if p := w.ferr.Load(); p != nil {
		return *p
	}
	return nil
}

// Create creates the file at path (it must not exist) and writes its
// header. The file is created with mode 0640.
func Create(path string, key Key) (*Writer, error) { return create(path, key, nil) }

// create is Create with the file wrapped by wrap (tests: a disk that
// stalls or fails), unless wrap is nil.
func create(path string, key Key, wrap func(*os.File) segFile) (*Writer, error) {
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
	if wrap != nil {
		w.start(wrap(f))
	} else {
		w.start(f)
	}
	return w, nil
}

// start makes f the Writer's file and starts its flusher.
func (w *Writer) start(f segFile) {
	w.f = f
	w.queue = make(chan segWrite, queueDepth)
	w.spare = make(chan []byte, 1)
	w.done = make(chan struct{})
	go w.flush()
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
	if err := w.flushErr(); err != nil {
		w.err = err
		return 0, err
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
			if len(w.seg0) == SegmentSize && !w.provisional {
				w.sealProvisional()
			}
			continue
		}
		if w.buf == nil {
			w.buf = w.newBuf()
		}
		if len(w.buf) == SegmentSize { // more data follows: the segment is not the last
			if err := w.seal(w.buf, w.cur, false); err != nil {
				w.err = err
				return n - len(p), err
			}
			w.buf = w.newBuf() // the sealed one is the flusher's now
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

// newBuf is an empty segment buffer: one the flusher has finished with,
// or a new one.
func (w *Writer) newBuf() []byte {
	select {
	case b := <-w.spare:
		return b
	default:
		return make([]byte, 0, SegmentSize+Overhead)
	}
}

// seal encrypts pt in place (its buffer has room for the tag) as segment
// i and queues it for the file; pt's buffer then belongs to the flusher.
func (w *Writer) seal(pt []byte, i uint32, last bool) error {
	if i == ^uint32(0) {
		return fmt.Errorf("recstore: file too large")
	}
	ct := w.aead.Seal(pt[:0], nonce(&w.nonce, w.h.prefix, i, last), pt, w.h.raw[:])
	off := int64(HeaderSize) + int64(i)*int64(SegmentSize+Overhead)
	w.queue <- segWrite{b: ct, off: off, i: i}
	return nil
}

// sealProvisional queues a copy of the full segment 0, sealed with the
// provisional flag, so that Recover can read a file whose writer never
// reached Close from its first byte. It runs once per file.
func (w *Writer) sealProvisional() {
	w.provisional = true
	var n [12]byte
	ct := w.aead.Seal(make([]byte, 0, SegmentSize+Overhead), nonceFlag(&n, w.h.prefix, 0, flagProvisional), w.seg0, w.h.raw[:])
	w.queue <- segWrite{b: ct, off: HeaderSize, i: 0}
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
	close(w.queue)
	<-w.done // every queued segment written (or refused after an error)
	if err == nil {
		err = w.flushErr()
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
