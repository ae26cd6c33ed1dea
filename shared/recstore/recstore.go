// Package recstore is the encrypted-at-rest file format of the
// appliance's recordings: an AES-256-GCM streaming construction (STREAM,
// Hoang-Reyhanitabar-Rogaway-Vizár) over fixed-size plaintext segments.
//
// Layout of a file:
//
//	header (28 bytes): magic "KLREC\x00\x00\x01" (8) | version (1) |
//	                   key id (8) | segment size, big endian (4) |
//	                   nonce prefix (7, random per file)
//	segment 0 .. n-1:  GCM(plaintext[i*S:(i+1)*S]) with its 16-byte tag
//
// Segment i is sealed with nonce = prefix || uint32(i) big endian ||
// last-flag (1 on the final segment, 0 otherwise) and the whole header as
// additional data. Every segment but the last holds exactly S plaintext
// bytes; the last holds 0..S (0 only when the file is empty). Reordered,
// dropped, duplicated or truncated segments, a changed header, and a file
// cut at a segment boundary all fail authentication.
//
// Writers may rewrite the first segment until Close (it is kept in memory
// and sealed last), which is what a WAV writer needs to patch its header.
//
// So that a file whose writer died (a process killed mid-call) can still
// be read up to its last complete segment (Recover), the writer seals a
// provisional copy of segment 0 into its slot as soon as the segment is
// full, with last-flag 2 in its nonce: a value no final segment uses, so
// no nonce is ever reused, and Open (which only accepts final segments)
// never takes it for a finished file. Close overwrites it with the final
// segment 0. See docs/decisions/0015-calls-closed-on-restart.md.
package recstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Format constants.
const (
	// SegmentSize is the plaintext size of every segment but the last
	// (what a Writer holds per buffer: two per recording being written).
	SegmentSize = 16 << 10
	// HeaderSize is the size of the file header.
	HeaderSize = 28
	// Overhead is the GCM tag added to each segment.
	Overhead = 16
	// Version is the format version written.
	Version = 1
	// KeySize is the size of a key in bytes (AES-256).
	KeySize = 32

	prefixSize = 7
	// maxSegment bounds the segment size a reader accepts from a header.
	maxSegment = 16 << 20
)

var magic = [8]byte{'K', 'L', 'R', 'E', 'C', 0, 0, 1}

// Errors of the package.
var (
	ErrFormat   = errors.New("recstore: not a recording file")
	ErrVersion  = errors.New("recstore: unsupported version")
	ErrWrongKey = errors.New("recstore: file was sealed with another key")
	ErrAuth     = errors.New("recstore: authentication failed (tampered or truncated)")
	ErrKeyFile  = errors.New("recstore: unusable key file")
	ErrClosed   = errors.New("recstore: closed")
	ErrSeek     = errors.New("recstore: invalid seek")
)

// Key is an AES-256 key with its identifier (the first 8 bytes of the
// SHA-256 of "kinline-recstore-key-id" and the key), which the header
// carries so a wrong key is told apart from tampering.
type Key struct {
	k  [KeySize]byte
	id [8]byte
}

// NewKey makes a Key from 32 raw bytes.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("%w: key is %d bytes, want %d", ErrKeyFile, len(raw), KeySize)
	}
	var k Key
	copy(k.k[:], raw)
	h := sha256.New()
	h.Write([]byte("kinline-recstore-key-id"))
	h.Write(raw)
	copy(k.id[:], h.Sum(nil))
	return k, nil
}

// ID returns the key identifier written in headers.
func (k Key) ID() [8]byte { return k.id }

// IsZero reports whether k is the zero Key (no key configured).
func (k Key) IsZero() bool { return k.id == [8]byte{} }

// LoadKey reads a key file holding exactly 32 raw bytes. It refuses a file
// that its group or others may read or write, and anything not a regular
// file.
func LoadKey(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("%w: %s has mode %v; group and others must have no access (chmod 600)", ErrKeyFile, path, st.Mode().Perm())
	}
	buf := make([]byte, KeySize+1)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return Key{}, fmt.Errorf("%w: %s: %w", ErrKeyFile, path, err)
	}
	if n != KeySize {
		return Key{}, fmt.Errorf("%w: %s holds %d+ bytes, want exactly %d", ErrKeyFile, path, n, KeySize)
	}
	if m, _ := f.Read(buf[:1]); m != 0 {
		return Key{}, fmt.Errorf("%w: %s is longer than %d bytes", ErrKeyFile, path, KeySize)
	}
	return NewKey(buf[:KeySize])
}

// header is the parsed file header.
type header struct {
	keyID  [8]byte
	seg    int
	prefix [prefixSize]byte
	raw    [HeaderSize]byte
}

func (h *header) marshal() {
	copy(h.raw[0:8], magic[:])
	h.raw[8] = Version
	copy(h.raw[9:17], h.keyID[:])
	binary.BigEndian.PutUint32(h.raw[17:21], uint32(h.seg))
	copy(h.raw[21:28], h.prefix[:])
}

// parseHeader validates a header's bytes.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < HeaderSize || [8]byte(b[0:8]) != magic {
		return h, ErrFormat
	}
	if b[8] != Version {
		return h, fmt.Errorf("%w: %d", ErrVersion, b[8])
	}
	copy(h.keyID[:], b[9:17])
	seg := binary.BigEndian.Uint32(b[17:21])
	if seg == 0 || seg > maxSegment {
		return h, fmt.Errorf("%w: segment size %d", ErrFormat, seg)
	}
	h.seg = int(seg)
	copy(h.prefix[:], b[21:28])
	copy(h.raw[:], b[:HeaderSize])
	return h, nil
}

func newAEAD(k Key) cipher.AEAD {
	block, err := aes.NewCipher(k.k[:])
	if err != nil {
		panic(err) // unreachable: the key is always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable: standard nonce and tag sizes
	}
	return aead
}

// Nonce flags: the last byte of a segment's nonce.
const (
	flagMore        = 0 // a final segment that is not the last
	flagLast        = 1 // the last segment
	flagProvisional = 2 // segment 0's provisional copy in a file being written
)

func nonce(dst *[12]byte, prefix [prefixSize]byte, i uint32, last bool) []byte {
	flag := byte(flagMore)
	if last {
		flag = flagLast
	}
	return nonceFlag(dst, prefix, i, flag)
}

func nonceFlag(dst *[12]byte, prefix [prefixSize]byte, i uint32, flag byte) []byte {
	copy(dst[:prefixSize], prefix[:])
	binary.BigEndian.PutUint32(dst[prefixSize:], i)
	dst[11] = flag
	return dst[:]
}
