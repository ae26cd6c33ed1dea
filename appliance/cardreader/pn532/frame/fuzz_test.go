package frame

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics, consumes a sane number of
// bytes, returns only documented errors, and that every information frame
// it accepts re-encodes to bytes that decode to the same frame.
func FuzzDecode(f *testing.F) {
	f.Add(ACK)
	f.Add(NACK)
	f.Add(ErrorFrame)
	f.Add([]byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Decode(b)
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		switch {
		case err == nil:
			if n == 0 {
				t.Fatal("frame without consuming bytes")
			}
		case errors.Is(err, ErrIncomplete), errors.Is(err, ErrLengthChecksum), errors.Is(err, ErrLength), errors.Is(err, ErrDataChecksum):
			if !errors.Is(err, ErrIncomplete) && n == 0 {
				t.Fatalf("%v without progress", err)
			}
			return
		default:
			t.Fatalf("undocumented error %v", err)
		}
		if fr.Kind != KindInfo {
			return
		}
		enc, err := Encode(fr.TFI, fr.Data)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := Decode(enc)
		if err != nil || back.TFI != fr.TFI || !bytes.Equal(back.Data, fr.Data) {
			t.Fatalf("round trip: %+v -> % X -> %+v, %v", fr, enc, back, err)
		}
		// The stream decoder always makes progress on the same bytes.
		var d Decoder
		d.Write(b)
		for range len(b) + 1 {
			if _, err := d.Next(); errors.Is(err, ErrIncomplete) {
				return
			}
		}
		t.Fatal("stream decoder did not drain its input")
	})
}
