package ogg

import (
	"fmt"
	"io"
)

// Limits the reader enforces on untrusted input.
const (
	MaxStreams    = 16
	MaxPacketSize = 1 << 20
)

// Stream is one logical stream read back.
type Stream struct {
	Serial   uint32
	Packets  [][]byte
	Granules []int64 // per packet: the granule of the page it ended on, or -1 when another packet ends after it on the same page
	EOS      bool
	LastGran int64 // granule of the stream's last page
}

// Read parses a whole physical bitstream (concatenated pages, grouped or
// chained) and returns its logical streams in order of their BOS pages.
// Every page must pass its CRC, follow its stream's sequence without
// gaps, and packets must not span pages of another stream's sequence. A
// partial packet at the end of a stream is an error.
func Read(b []byte) ([]*Stream, error) {
	var (
		out     []*Stream
		byID    = map[uint32]*Stream{}
		seq     = map[uint32]uint32{}
		partial = map[uint32][]byte{}
		ended   = map[uint32]bool{}
	)
	for off := 0; off < len(b); {
		p, n, err := ParsePage(b[off:])
		if err != nil {
			return nil, fmt.Errorf("page at %d: %w", off, err)
		}
		off += n
		st := byID[p.Serial]
		switch {
		case st == nil && p.Flags&FlagBOS == 0:
			return nil, fmt.Errorf("%w: stream %08x starts without BOS", ErrStream, p.Serial)
		case st != nil && p.Flags&FlagBOS != 0:
			return nil, fmt.Errorf("%w: second BOS for stream %08x", ErrStream, p.Serial)
		case st != nil && ended[p.Serial]:
			return nil, fmt.Errorf("%w: page after EOS on stream %08x", ErrStream, p.Serial)
		}
		if st == nil {
			if len(out) == MaxStreams {
				return nil, fmt.Errorf("%w: more than %d streams", ErrLimit, MaxStreams)
			}
			st = &Stream{Serial: p.Serial}
			byID[p.Serial] = st
			out = append(out, st)
		} else if p.Sequence != seq[p.Serial]+1 {
			return nil, fmt.Errorf("%w: stream %08x page %d after %d", ErrSequence, p.Serial, p.Sequence, seq[p.Serial])
		}
		seq[p.Serial] = p.Sequence
		cur := partial[p.Serial]
		if (p.Flags&FlagContinued != 0) != (cur != nil) {
			return nil, fmt.Errorf("%w: continuation flag mismatch on stream %08x page %d", ErrStream, p.Serial, p.Sequence)
		}
		data := p.Data
		first := len(st.Packets)
		for _, l := range p.Segments {
			if cur == nil {
				cur = []byte{}
			}
			if len(cur)+int(l) > MaxPacketSize {
				return nil, fmt.Errorf("%w: packet over %d bytes", ErrLimit, MaxPacketSize)
			}
			cur = append(cur, data[:l]...)
			data = data[l:]
			if l < 255 {
				st.Packets = append(st.Packets, cur)
				st.Granules = append(st.Granules, -1)
				cur = nil
			}
		}
		if len(st.Packets) > first {
			st.Granules[len(st.Packets)-1] = p.Granule
		}
		partial[p.Serial] = cur
		st.LastGran = p.Granule
		if p.Flags&FlagEOS != 0 {
			if cur != nil {
				return nil, fmt.Errorf("%w: stream %08x ends inside a packet", ErrStream, p.Serial)
			}
			st.EOS, ended[p.Serial] = true, true
		}
	}
	for _, st := range out {
		if partial[st.Serial] != nil {
			return nil, fmt.Errorf("%w: stream %08x: %w", ErrShort, st.Serial, io.ErrUnexpectedEOF)
		}
	}
	return out, nil
}
