package g711

import (
	"math"
	"testing"
)

// Known values from the ITU-T G.711 tables (and the G.191 reference
// implementation's expansion of them to 16 bits).
func TestKnownValues(t *testing.T) {
	ulawDec := map[byte]int16{
		0x00: -32124, 0x01: -31100, 0x0F: -16764, 0x10: -15996, 0x7E: -8, 0x7F: 0,
		0x80: 32124, 0x8F: 16764, 0xEF: 132, 0xF0: 120, 0xFE: 8, 0xFF: 0,
	}
	for c, want := range ulawDec {
		if got := DecodeUlaw(c); got != want {
			t.Errorf("DecodeUlaw(%#x) = %d, want %d", c, got, want)
		}
	}
	alawDec := map[byte]int16{
		0x00: -5504, 0x80: 5504, 0x2A: -32256, 0xAA: 32256, 0x55: -8, 0xD5: 8,
		0x54: -24, 0xD4: 24, 0x45: -264, 0xC5: 264, 0x7A: -1008, 0xFA: 1008,
	}
	for c, want := range alawDec {
		if got := DecodeAlaw(c); got != want {
			t.Errorf("DecodeAlaw(%#x) = %d, want %d", c, got, want)
		}
	}
	ulawEnc := map[int16]byte{0: 0xFF, -1: 0x7F, 32767: 0x80, -32768: 0x00, 32124: 0x80, 120: 0xF0, 8: 0xFE, 1000: 0xCE, -1000: 0x4E}
	for s, want := range ulawEnc {
		if got := EncodeUlaw(s); got != want {
			t.Errorf("EncodeUlaw(%d) = %#x, want %#x", s, got, want)
		}
	}
	alawEnc := map[int16]byte{0: 0xD5, -1: 0x55, 32767: 0xAA, -32768: 0x2A, 15: 0xD5, 16: 0xD4, 1000: 0xFA, -1000: 0x7A}
	for s, want := range alawEnc {
		if got := EncodeAlaw(s); got != want {
			t.Errorf("EncodeAlaw(%d) = %#x, want %#x", s, got, want)
		}
	}
	if Ulaw.Silence() != 0xFF || Alaw.Silence() != 0xD5 || Law(0).Silence() != 0 {
		t.Error("silence code words")
	}
	if Ulaw.String() != "pcmu" || Alaw.String() != "pcma" || Law(9).String() != "unknown" {
		t.Error("law names")
	}
	// µ-law silence maps to A-law silence; A-law has no zero level, and its
	// smallest positive level (0xD5, +8) maps to µ-law +8 (0xFE), as in
	// G.711 Table 4.
	if UlawToAlaw(0xFF) != 0xD5 || AlawToUlaw(0xD5) != 0xFE || AlawToUlaw(0x55) != 0x7E {
		t.Errorf("silence transcoding: %#x %#x", UlawToAlaw(0xFF), AlawToUlaw(0xD5))
	}
}

// Every code word survives decode then encode (µ-law's negative zero 0x7F
// decodes to 0 and so re-encodes as the positive zero 0xFF).
func TestCodeRoundTrip(t *testing.T) {
	for i := range 256 {
		c := byte(i)
		if got := EncodeAlaw(DecodeAlaw(c)); got != c {
			t.Errorf("A-law %#x -> %d -> %#x", c, DecodeAlaw(c), got)
		}
		want := c
		if c == 0x7F {
			want = 0xFF
		}
		if got := EncodeUlaw(DecodeUlaw(c)); got != want {
			t.Errorf("µ-law %#x -> %d -> %#x", c, DecodeUlaw(c), got)
		}
		if Ulaw.Decode(c) != DecodeUlaw(c) || Alaw.Decode(c) != DecodeAlaw(c) {
			t.Fatal("Law.Decode disagrees")
		}
	}
}

// Over the whole 16-bit range: the table matches the reference algorithm,
// quantisation is monotonic, keeps the sign, and its error stays within half
// a step of the segment (plus clipping at full scale).
func TestQuantisationProperties(t *testing.T) {
	for _, law := range []Law{Ulaw, Alaw} {
		prev := int16(math.MinInt16)
		for s := math.MinInt16; s <= math.MaxInt16; s++ {
			x := int16(s)
			c := law.Encode(x)
			ref := ulawEncodeRef(x)
			if law == Alaw {
				ref = alawEncodeRef(x)
			}
			if c != ref {
				t.Fatalf("%v: table %#x != reference %#x for %d", law, c, ref, x)
			}
			y := law.Decode(c)
			if y < prev {
				t.Fatalf("%v: not monotonic at %d: %d < %d", law, x, y, prev)
			}
			prev = y
			if (x > 64 && y <= 0) || (x < -64 && y >= 0) {
				t.Fatalf("%v: sign lost: %d -> %d", law, x, y)
			}
			mag := math.Abs(float64(x))
			limit := mag/32 + 16 // half a step: steps are ~1/16 of the value
			if mag > 32124 {
				limit = 700 // beyond the top decision level: clipping
			}
			if err := math.Abs(float64(y) - float64(x)); err > limit {
				t.Fatalf("%v: %d -> %d, error %v > %v", law, x, y, err, limit)
			}
		}
	}
}

func TestTranscoding(t *testing.T) {
	for i := range 256 {
		u := byte(i)
		a := UlawToAlaw(u)
		lu, la := float64(DecodeUlaw(u)), float64(DecodeAlaw(a))
		if math.Abs(lu-la) > math.Abs(lu)/16+16 {
			t.Errorf("µ %#x (%v) -> A %#x (%v): too far", u, lu, a, la)
		}
		a2 := byte(i)
		u2 := AlawToUlaw(a2)
		if d := math.Abs(float64(DecodeAlaw(a2)) - float64(DecodeUlaw(u2))); d > math.Abs(float64(DecodeAlaw(a2)))/16+16 {
			t.Errorf("A %#x -> µ %#x: too far (%v)", a2, u2, d)
		}
		// µ -> A -> µ keeps the value within one A-law step.
		back := DecodeUlaw(AlawToUlaw(a))
		if d := math.Abs(float64(back) - lu); d > math.Abs(lu)/8+32 {
			t.Errorf("µ %#x round trip via A-law drifted by %v", u, d)
		}
	}
	src := []byte{0xFF, 0x80, 0x00, 0x7F}
	dst := make([]byte, 4)
	if n := TranscodeUlawToAlaw(dst, src); n != 4 || dst[0] != 0xD5 || dst[1] != 0xAA || dst[2] != 0x2A {
		t.Fatalf("TranscodeUlawToAlaw = %d %x", n, dst)
	}
	if n := TranscodeAlawToUlaw(dst, dst); n != 4 || dst[0] != 0xFE || dst[1] != 0x80 || dst[2] != 0x00 {
		t.Fatalf("TranscodeAlawToUlaw in place = %d %x", n, dst)
	}
}

func TestSlices(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32767, -32768}
	u := make([]byte, 3)
	if n := EncodeUlawSlice(u, pcm); n != 3 || u[0] != 0xFF || u[1] != 0xCE || u[2] != 0x4E {
		t.Fatalf("EncodeUlawSlice = %d %x", n, u)
	}
	a := make([]byte, 8)
	if n := EncodeAlawSlice(a, pcm); n != 5 || a[0] != 0xD5 || a[3] != 0xAA || a[4] != 0x2A {
		t.Fatalf("EncodeAlawSlice = %d %x", n, a)
	}
	out := make([]int16, 5)
	if n := DecodeAlawSlice(out, a[:5]); n != 5 || out[3] != 32256 || out[0] != 8 {
		t.Fatalf("DecodeAlawSlice = %d %v", n, out)
	}
	if n := DecodeUlawSlice(out, u); n != 3 || out[0] != 0 || out[1] != DecodeUlaw(0xCE) {
		t.Fatalf("DecodeUlawSlice = %d %v", n, out)
	}
}

func TestNoAllocations(t *testing.T) {
	pcm := make([]int16, 160)
	buf := make([]byte, 160)
	if n := testing.AllocsPerRun(100, func() {
		EncodeUlawSlice(buf, pcm)
		DecodeAlawSlice(pcm, buf)
		TranscodeUlawToAlaw(buf, buf)
	}); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

func BenchmarkEncodeUlaw160(b *testing.B) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	buf := make([]byte, 160)
	b.SetBytes(160)
	for b.Loop() {
		EncodeUlawSlice(buf, pcm)
	}
}

func BenchmarkDecodeAlaw160(b *testing.B) {
	buf := make([]byte, 160)
	for i := range buf {
		buf[i] = byte(i)
	}
	pcm := make([]int16, 160)
	b.SetBytes(160)
	for b.Loop() {
		DecodeAlawSlice(pcm, buf)
	}
}
