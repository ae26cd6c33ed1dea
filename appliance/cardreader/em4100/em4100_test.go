package em4100

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

type result struct {
	cards []string
	drops []error
}

func feed(chunks ...[]byte) result {
	var p Parser
	var r result
	for _, c := range chunks {
		p.Feed(c, func(id [5]byte) { r.cards = append(r.cards, fmt.Sprintf("%X", id[:])) }, func(err error) { r.drops = append(r.drops, err) })
	}
	return r
}

func TestEncode(t *testing.T) {
	got := Encode([5]byte{0x0A, 0x1B, 0x2C, 0x3D, 0x4E})
	// XOR: 0A^1B^2C^3D^4E = 0x4E
	if want := []byte("\x020A1B2C3D4E4E\x03"); !bytes.Equal(got, want) {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
}

func TestParse(t *testing.T) {
	good := Encode([5]byte{0x0A, 0x1B, 0x2C, 0x3D, 0x4E})
	for _, tc := range []struct {
		name  string
		in    [][]byte
		cards int
		drop  error
	}{
		{"one frame", [][]byte{good}, 1, nil},
		{"split byte by byte", splitAll(good), 1, nil},
		{"repeated with CRLF", [][]byte{good, []byte("\r\n"), good}, 2, nil},
		{"lower-case hex", [][]byte{[]byte("\x020a1b2c3d4e4e\x03")}, 1, nil},
		{"bad checksum", [][]byte{[]byte("\x020A1B2C3D4E4F\x03")}, 0, ErrChecksum},
		{"bad hex", [][]byte{[]byte("\x020A1B2C3D4G4E\x03")}, 0, ErrHex},
		{"cut short by STX", [][]byte{[]byte("\x020A1B2C"), good}, 1, ErrTruncated},
		{"no ETX", [][]byte{[]byte("\x020A1B2C3D4E4EX"), good}, 1, ErrNoETX},
		{"noise", [][]byte{[]byte("hello"), good}, 1, ErrNoise},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := feed(tc.in...)
			if len(r.cards) != tc.cards {
				t.Fatalf("cards %v, want %d", r.cards, tc.cards)
			}
			for _, c := range r.cards {
				if c != "0A1B2C3D4E" {
					t.Fatalf("card %s", c)
				}
			}
			if tc.drop == nil && len(r.drops) > 0 || tc.drop != nil && (len(r.drops) != 1 || !errors.Is(r.drops[0], tc.drop)) {
				t.Fatalf("drops %v, want %v", r.drops, tc.drop)
			}
		})
	}
}

func splitAll(b []byte) [][]byte {
	var out [][]byte
	for i := range b {
		out = append(out, b[i:i+1])
	}
	return out
}

func BenchmarkParse(b *testing.B) {
	frame := Encode([5]byte{1, 2, 3, 4, 5})
	b.SetBytes(int64(len(frame)))
	var p Parser
	n := 0
	for b.Loop() {
		p.Feed(frame, func([5]byte) { n++ }, nil)
	}
	if n == 0 {
		b.Fatal("no card")
	}
}
