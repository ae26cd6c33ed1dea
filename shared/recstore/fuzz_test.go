package recstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// fuzzKey is the key of the seed files under testdata/fuzz/FuzzReader.
func fuzzKey() Key {
	k, _ := NewKey(bytes.Repeat([]byte{0x42}, KeySize))
	return k
}

// FuzzReader feeds arbitrary bytes to the header and segment reader: it
// must never panic, and whatever it accepts must authenticate (only files
// this package sealed with the key can be read).
func FuzzReader(f *testing.F) {
	f.Add([]byte("KLREC\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), fuzzKey())
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrAuth) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		data, err := io.ReadAll(r)
		if err != nil {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("read error class: %v", err)
			}
			return
		}
		if int64(len(data)) != r.Size() {
			t.Fatalf("read %d bytes, Size %d", len(data), r.Size())
		}
		_ = sha256.Sum256(data)
	})
}

// FuzzRecover feeds arbitrary bytes to the recovery of a killed writer's
// file: it must never panic, and whatever it returns must have
// authenticated, so it is a whole number of segments of plaintext.
func FuzzRecover(f *testing.F) {
	f.Add([]byte("KLREC\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewRecovered(bytes.NewReader(b), int64(len(b)), fuzzKey())
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrNothingRecovered) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if r.Segments == 0 || len(data) > r.Segments*r.h.seg {
			t.Fatalf("%d bytes from %d segments of %d", len(data), r.Segments, r.h.seg)
		}
	})
}
