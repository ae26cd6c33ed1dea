// Package g711 implements ITU-T G.711 companding: µ-law (PCMU, RTP payload
// type 0) and A-law (PCMA, payload type 8), to and from 16-bit linear PCM,
// and transcoding between the two laws.
//
// Encoding follows the ITU-T G.191 reference (ulaw_compress, alaw_compress):
// µ-law uses the 14 most significant bits of a sample, A-law the 13 most
// significant; decoding returns the segment midpoints scaled to 16 bits
// (µ-law ±32124 full scale, A-law ±32256). All conversions are lookups in
// tables built once at package initialisation, so they are safe for
// concurrent use and allocate nothing.
package g711

// Law names a G.711 companding law.
type Law uint8

// The two G.711 laws.
const (
	Ulaw Law = iota + 1 // µ-law (PCMU), North America and Japan
	Alaw                // A-law (PCMA), Europe and most of the world
)

// String returns "pcmu" or "pcma".
func (l Law) String() string {
	switch l {
	case Ulaw:
		return "pcmu"
	case Alaw:
		return "pcma"
	}
	return "unknown"
}

// Silence returns the code word for a zero sample in the law (0xFF for
// µ-law, 0xD5 for A-law), or 0 for an unknown law.
func (l Law) Silence() byte {
	switch l {
	case Ulaw:
		return SilenceUlaw
	case Alaw:
		return SilenceAlaw
	}
	return 0
}

// Decode returns the linear value of code word b in the law.
func (l Law) Decode(b byte) int16 {
	if l == Alaw {
		return alawToLinear[b]
	}
	return ulawToLinear[b]
}

// Encode returns the code word for sample s in the law.
func (l Law) Encode(s int16) byte {
	if l == Alaw {
		return EncodeAlaw(s)
	}
	return EncodeUlaw(s)
}

// Code words of a zero (silent) sample.
const (
	SilenceUlaw byte = 0xFF
	SilenceAlaw byte = 0xD5
)

var (
	ulawToLinear [256]int16
	alawToLinear [256]int16
	linearToUlaw [1 << 14]byte // indexed by the sample's top 14 bits
	linearToAlaw [1 << 12]byte // indexed by the sample's top 12 bits
	ulawToAlaw   [256]byte
	alawToUlaw   [256]byte
)

func init() {
	for i := range 256 {
		ulawToLinear[i] = ulawDecodeRef(byte(i))
		alawToLinear[i] = alawDecodeRef(byte(i))
	}
	for i := range linearToUlaw {
		linearToUlaw[i] = ulawEncodeRef(int16(uint16(i) << 2))
	}
	for i := range linearToAlaw {
		linearToAlaw[i] = alawEncodeRef(int16(uint16(i) << 4))
	}
	for i := range 256 {
		ulawToAlaw[i] = EncodeAlaw(ulawToLinear[i])
		alawToUlaw[i] = EncodeUlaw(alawToLinear[i])
	}
}

// EncodeUlaw compresses a 16-bit linear sample to a µ-law code word.
func EncodeUlaw(s int16) byte { return linearToUlaw[uint16(s)>>2] }

// DecodeUlaw expands a µ-law code word to a 16-bit linear sample.
func DecodeUlaw(u byte) int16 { return ulawToLinear[u] }

// EncodeAlaw compresses a 16-bit linear sample to an A-law code word.
func EncodeAlaw(s int16) byte { return linearToAlaw[uint16(s)>>4] }

// DecodeAlaw expands an A-law code word to a 16-bit linear sample.
func DecodeAlaw(a byte) int16 { return alawToLinear[a] }

// UlawToAlaw transcodes a µ-law code word to the A-law code word nearest
// to the same linear value.
func UlawToAlaw(u byte) byte { return ulawToAlaw[u] }

// AlawToUlaw transcodes an A-law code word to the µ-law code word nearest
// to the same linear value.
func AlawToUlaw(a byte) byte { return alawToUlaw[a] }

// EncodeUlawSlice encodes src into dst and returns the number of samples
// encoded, min(len(dst), len(src)).
func EncodeUlawSlice(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = linearToUlaw[uint16(src[i])>>2]
	}
	return n
}

// EncodeAlawSlice encodes src into dst and returns the number of samples
// encoded, min(len(dst), len(src)).
func EncodeAlawSlice(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = linearToAlaw[uint16(src[i])>>4]
	}
	return n
}

// DecodeUlawSlice decodes src into dst and returns the number of samples
// decoded, min(len(dst), len(src)).
func DecodeUlawSlice(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = ulawToLinear[src[i]]
	}
	return n
}

// DecodeAlawSlice decodes src into dst and returns the number of samples
// decoded, min(len(dst), len(src)).
func DecodeAlawSlice(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = alawToLinear[src[i]]
	}
	return n
}

// TranscodeUlawToAlaw transcodes src into dst in place-compatible fashion
// (dst may be src) and returns the number of bytes written.
func TranscodeUlawToAlaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = ulawToAlaw[src[i]]
	}
	return n
}

// TranscodeAlawToUlaw transcodes src into dst (dst may be src) and returns
// the number of bytes written.
func TranscodeAlawToUlaw(dst, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = alawToUlaw[src[i]]
	}
	return n
}

// ulawEncodeRef is the ITU-T G.191 ulaw_compress algorithm on one sample.
func ulawEncodeRef(x int16) byte {
	var absno int32
	if x < 0 {
		absno = int32(^x)>>2 + 33
	} else {
		absno = int32(x)>>2 + 33
	}
	if absno > 0x1FFF {
		absno = 0x1FFF
	}
	segno := int32(1)
	for i := absno >> 6; i != 0; i >>= 1 {
		segno++
	}
	high := 8 - segno
	low := 0xF - (absno>>segno)&0xF
	out := byte(high<<4 | low)
	if x >= 0 {
		out |= 0x80
	}
	return out
}

// ulawDecodeRef expands a µ-law code word (G.191 ulaw_expand).
func ulawDecodeRef(u byte) int16 {
	u = ^u
	t := (int32(u&0x0F) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// alawEncodeRef is the ITU-T G.191 alaw_compress algorithm on one sample.
func alawEncodeRef(x int16) byte {
	var ix int32
	if x < 0 {
		ix = int32(^x) >> 4
	} else {
		ix = int32(x) >> 4
	}
	if ix > 15 {
		iexp := int32(1)
		for ix > 16+15 {
			ix >>= 1
			iexp++
		}
		ix -= 16
		ix += iexp << 4
	}
	if x >= 0 {
		ix |= 0x80
	}
	return byte(ix) ^ 0x55
}

// alawDecodeRef expands an A-law code word (G.191 alaw_expand).
func alawDecodeRef(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
