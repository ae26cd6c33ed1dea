package em4100

import (
	"bytes"
	"testing"
)

// FuzzParser checks that the parser never panics, that every card it
// reports is one whose frame appears in the input, and that splitting the
// input differently does not change the cards found.
func FuzzParser(f *testing.F) {
	f.Add([]byte("\x020A1B2C3D4E4E\x03"), uint8(3))
	f.Add([]byte("\x020A1B2C\x020A1B2C3D4E4E\x03\r\n"), uint8(1))
	f.Add([]byte("noise\x02ZZZZZZZZZZZZ\x03"), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		var whole, split []([5]byte)
		var p1, p2 Parser
		p1.Feed(b, func(id [5]byte) { whole = append(whole, id) }, func(error) {})
		k := int(cut) % (len(b) + 1)
		p2.Feed(b[:k], func(id [5]byte) { split = append(split, id) }, nil)
		p2.Feed(b[k:], func(id [5]byte) { split = append(split, id) }, nil)
		if len(whole) != len(split) {
			t.Fatalf("whole %v, split at %d %v", whole, k, split)
		}
		for i, id := range whole {
			if id != split[i] {
				t.Fatalf("whole %v, split %v", whole, split)
			}
			if !bytes.Contains(bytes.ToUpper(b), Encode(id)[1:11]) {
				t.Fatalf("card %X not in input %q", id, b)
			}
		}
	})
}
