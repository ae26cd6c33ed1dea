package frame

import (
	"bytes"
	"errors"
	"testing"
)

func mustEncode(t testing.TB, tfi byte, data []byte) []byte {
	t.Helper()
	b, err := Encode(tfi, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeKnownFrames(t *testing.T) {
	// GetFirmwareVersion and SAMConfiguration as in the PN532 User Manual.
	got, _ := Command(0x02)
	if want := []byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("GetFirmwareVersion = % X, want % X", got, want)
	}
	got, _ = Command(0x14, 0x01, 0x14, 0x01)
	if want := []byte{0x00, 0x00, 0xFF, 0x05, 0xFB, 0xD4, 0x14, 0x01, 0x14, 0x01, 0x02, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("SAMConfiguration = % X, want % X", got, want)
	}
	// Firmware response D5 03 32 01 06 07.
	got = mustEncode(t, TFIPN532, []byte{0x03, 0x32, 0x01, 0x06, 0x07})
	if want := []byte{0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, 0xE8, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("firmware response = % X, want % X", got, want)
	}
}

func TestDecodeFixedFrames(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		kind Kind
	}{{ACK, KindACK}, {NACK, KindNACK}, {ErrorFrame, KindError}} {
		f, n, err := Decode(tc.in)
		if err != nil || f.Kind != tc.kind {
			t.Errorf("Decode(% X) = %v, %v; want %v", tc.in, f.Kind, err, tc.kind)
		}
		if n > len(tc.in) || n < len(tc.in)-1 { // postamble may be left
			t.Errorf("Decode(% X) consumed %d", tc.in, n)
		}
	}
}

func TestRoundTripNormalAndExtended(t *testing.T) {
	for _, size := range []int{0, 1, 2, 100, 253, 254, 255, 256, 264} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + 3)
		}
		enc := mustEncode(t, TFIPN532, data)
		f, n, err := Decode(enc)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		wantExt := size+1 > 255
		if f.Kind != KindInfo || f.TFI != TFIPN532 || !bytes.Equal(f.Data, data) || f.Extended != wantExt || n != len(enc)-1 {
			t.Fatalf("size %d: got kind %v tfi %02X ext %v n %d len %d", size, f.Kind, f.TFI, f.Extended, n, len(f.Data))
		}
	}
	if _, err := Encode(TFIHost, make([]byte, MaxLen)); !errors.Is(err, ErrTooLong) {
		t.Errorf("Encode(too long) = %v", err)
	}
}

func TestExtendedFrameLayout(t *testing.T) {
	enc := mustEncode(t, TFIHost, make([]byte, 254)) // LEN 255 still normal
	if enc[3] != 0xFF || enc[4] != 0x01 {
		t.Fatalf("LEN 255 frame header % X", enc[:5])
	}
	enc = mustEncode(t, TFIHost, make([]byte, 255)) // LEN 256: extended
	if !bytes.Equal(enc[:8], []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0xFF}) {
		t.Fatalf("extended header % X", enc[:8])
	}
}

func TestChecksumErrors(t *testing.T) {
	good := mustEncode(t, TFIPN532, []byte{0x4B, 0x00})
	badLCS := bytes.Clone(good)
	badLCS[4]++
	if _, n, err := Decode(badLCS); !errors.Is(err, ErrLengthChecksum) || n != 3 {
		t.Errorf("bad LCS: n %d err %v", n, err)
	}
	badDCS := bytes.Clone(good)
	badDCS[len(badDCS)-2]++
	f, n, err := Decode(badDCS)
	if !errors.Is(err, ErrDataChecksum) || n != len(good)-1 || f.TFI != TFIPN532 {
		t.Errorf("bad DCS: n %d err %v f %+v", n, err, f)
	}
	ext := mustEncode(t, TFIPN532, make([]byte, 260))
	ext[7]++ // extended LCS
	if _, _, err := Decode(ext); !errors.Is(err, ErrLengthChecksum) {
		t.Errorf("bad extended LCS: %v", err)
	}
	// LEN 0 that is not an ACK, and LEN over MaxLen.
	if _, _, err := Decode([]byte{0x00, 0xFF, 0xFF, 0xFF, 0x02, 0x00, 0xFE, 0, 0}); !errors.Is(err, ErrLength) {
		t.Errorf("LEN 512: %v", err)
	}
}

func TestIncomplete(t *testing.T) {
	good := mustEncode(t, TFIPN532, []byte{0x03, 0x32, 0x01, 0x06, 0x07})
	for i := range len(good) - 1 {
		_, n, err := Decode(good[:i])
		if !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix %d: %v", i, err)
		}
		if n > i {
			t.Fatalf("prefix %d: consumed %d", i, n)
		}
	}
	// Garbage without a start code is consumed, except a trailing 00.
	if _, n, err := Decode([]byte{0x12, 0x34, 0x00}); !errors.Is(err, ErrIncomplete) || n != 2 {
		t.Errorf("garbage: n %d err %v", n, err)
	}
}

func TestDecoderResyncs(t *testing.T) {
	resp := mustEncode(t, TFIPN532, []byte{0x4B, 0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0xA1, 0xB2, 0xC3, 0xD4})
	bad := bytes.Clone(resp)
	bad[len(bad)-2] ^= 0xFF
	stream := [][]byte{
		{0x55, 0x13, 0x00, 0xFF, 0x07, 0x33}, // noise and a false start code (bad LCS)
		ACK[:3], ACK[3:],                     // ACK split across writes
		bad,                        // corrupted response
		{0xEE}, resp[:7], resp[7:], // noise, then the good one in two pieces
		ErrorFrame,
	}
	var d Decoder
	var got []string
	for _, chunk := range stream {
		d.Write(chunk)
		for {
			f, err := d.Next()
			if errors.Is(err, ErrIncomplete) {
				break
			}
			switch {
			case errors.Is(err, ErrDataChecksum):
				got = append(got, "dcs")
			case err != nil:
				got = append(got, "resync")
			default:
				got = append(got, f.Kind.String())
			}
		}
	}
	want := []string{"resync", "ack", "dcs", "info", "error"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if d.Skipped == 0 {
		t.Error("Skipped not counted")
	}
	if d.Buffered() > 1 {
		t.Errorf("%d bytes left buffered", d.Buffered())
	}
}

func BenchmarkDecode(b *testing.B) {
	resp := mustEncode(b, TFIPN532, []byte{0x4B, 0x01, 0x01, 0x00, 0x44, 0x00, 0x07, 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66})
	stream := append(append(bytes.Clone(ACK), resp...), 0x00)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var d Decoder
	for b.Loop() {
		d.Write(stream)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}

// TestEncodeExtendedShortPayload: the extended layout is valid at any
// length, and decodes to the same frame as the normal layout (n stops
// before the postamble, which Decode skips as garbage).
func TestEncodeExtendedShortPayload(t *testing.T) {
	data := []byte{0x4B, 0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0xA1, 0xB2, 0xC3, 0xD4}
	ext, err := EncodeExtended(TFIPN532, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ext[:5], []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF}) {
		t.Fatalf("not extended: % X", ext)
	}
	f, n, err := Decode(ext)
	if err != nil || n != len(ext)-1 || !f.Extended || f.TFI != TFIPN532 || !bytes.Equal(f.Data, data) {
		t.Fatalf("Decode = %+v, %d, %v", f, n, err)
	}
}
