// Package ogg writes and reads the Ogg container (RFC 3533) as Kinline
// uses it: Ogg Opus recordings (RFC 7845) holding several logical streams
// grouped in one physical bitstream (one per call leg), with the Opus
// packets stored as received. The writer computes the Ogg CRC-32 and lays
// packets into pages with lacing; the reader checks every page (capture
// pattern, version, CRC, page sequence per stream) and reassembles
// packets. The reader takes untrusted bytes, bounds its work, and has a
// fuzz target.
package ogg

import (
	"encoding/binary"
	"errors"
)

// Page header flags.
const (
	FlagContinued = 0x01 // the page starts with the rest of a packet
	FlagBOS       = 0x02 // first page of a logical stream
	FlagEOS       = 0x04 // last page of a logical stream
)

// headerSize is the fixed part of a page header.
const headerSize = 27

// MaxPageSize is the largest possible page (27 + 255 + 255*255).
const MaxPageSize = headerSize + 255 + 255*255

// Errors of the package.
var (
	ErrCapture  = errors.New("ogg: missing capture pattern")
	ErrVersion  = errors.New("ogg: unsupported stream structure version")
	ErrCRC      = errors.New("ogg: page checksum mismatch")
	ErrShort    = errors.New("ogg: truncated page")
	ErrSequence = errors.New("ogg: page sequence gap")
	ErrStream   = errors.New("ogg: invalid logical stream structure")
	ErrLimit    = errors.New("ogg: input exceeds limits")
)

// crcTable is the CRC-32 of Ogg: polynomial 0x04c11db7, MSB first, zero
// initial value, no final XOR (RFC 3533 section 6; not the zlib CRC).
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// CRC returns the Ogg CRC-32 of b (computed with the checksum field zero).
func CRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// Page is one parsed Ogg page.
type Page struct {
	Flags    byte
	Granule  int64 // -1: no packet ends on this page
	Serial   uint32
	Sequence uint32
	Segments []byte // lacing values
	Data     []byte
}

// appendPage serialises a page with its CRC.
func appendPage(dst []byte, p *Page) []byte {
	start := len(dst)
	dst = append(dst, 'O', 'g', 'g', 'S', 0, p.Flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(p.Granule))
	dst = binary.LittleEndian.AppendUint32(dst, p.Serial)
	dst = binary.LittleEndian.AppendUint32(dst, p.Sequence)
	dst = append(dst, 0, 0, 0, 0, byte(len(p.Segments)))
	dst = append(dst, p.Segments...)
	dst = append(dst, p.Data...)
	binary.LittleEndian.PutUint32(dst[start+22:], CRC(dst[start:]))
	return dst
}

// ParsePage parses the page at the start of b and returns it and its
// length. Data and Segments alias b.
func ParsePage(b []byte) (Page, int, error) {
	var p Page
	if len(b) < headerSize {
		return p, 0, ErrShort
	}
	if string(b[:4]) != "OggS" {
		return p, 0, ErrCapture
	}
	if b[4] != 0 {
		return p, 0, ErrVersion
	}
	nseg := int(b[26])
	if len(b) < headerSize+nseg {
		return p, 0, ErrShort
	}
	size := 0
	for _, l := range b[headerSize : headerSize+nseg] {
		size += int(l)
	}
	total := headerSize + nseg + size
	if len(b) < total {
		return p, 0, ErrShort
	}
	var hdr [headerSize]byte
	copy(hdr[:], b[:headerSize])
	want := binary.LittleEndian.Uint32(hdr[22:])
	hdr[22], hdr[23], hdr[24], hdr[25] = 0, 0, 0, 0
	c := uint32(0)
	for _, x := range hdr {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	for _, x := range b[headerSize:total] {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	if c != want {
		return p, 0, ErrCRC
	}
	p.Flags = b[5]
	p.Granule = int64(binary.LittleEndian.Uint64(b[6:]))
	p.Serial = binary.LittleEndian.Uint32(b[14:])
	p.Sequence = binary.LittleEndian.Uint32(b[18:])
	p.Segments = b[headerSize : headerSize+nseg]
	p.Data = b[headerSize+nseg : total]
	return p, total, nil
}
