package mqttproxy

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// varint encodes an MQTT remaining length.
func varint(n int) []byte {
	var b []byte
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// mkPacket builds a packet of the given first byte with a payload of n bytes.
func mkPacket(first byte, n int) []byte {
	p := append([]byte{first}, varint(n)...)
	for i := range n {
		p = append(p, byte(i))
	}
	return p
}

func TestParseHeaderLengths(t *testing.T) {
	for _, tc := range []struct {
		remaining, hdrLen int
	}{
		{0, 2}, {127, 2}, {128, 3}, {16383, 3}, {16384, 4}, {2097151, 4}, {2097152, 5}, {MaxRemainingLength, 5},
	} {
		b := append([]byte{0x30}, varint(tc.remaining)...)
		h, err := ParseHeader(b, 0)
		if err != nil {
			t.Fatalf("remaining %d: %v", tc.remaining, err)
		}
		if h.Type != TypePublish || h.Remaining != tc.remaining || h.Len != tc.hdrLen || h.Size() != tc.remaining+tc.hdrLen {
			t.Errorf("remaining %d: got %+v", tc.remaining, h)
		}
		// Every strict prefix of the header is short, not malformed.
		for i := range len(b) {
			if _, err := ParseHeader(b[:i], 0); !errors.Is(err, ErrShort) {
				t.Errorf("remaining %d, prefix %d: %v, want ErrShort", tc.remaining, i, err)
			}
		}
	}
}

func TestParseHeaderRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		b    []byte
		max  int
		want error
	}{
		"type 0":               {[]byte{0x00, 0x00}, 0, ErrMalformed},
		"publish qos 3":        {[]byte{0x36, 0x00}, 0, ErrMalformed},
		"five length bytes":    {[]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, ErrMalformed},
		"over the limit":       {[]byte{0x30, 0x80, 0x01}, 100, ErrTooLarge},
		"limit counts header":  {[]byte{0x30, 0x7f}, 128, ErrTooLarge},
		"limit just fits":      {[]byte{0x30, 0x7e}, 128, nil},
		"pingreq":              {[]byte{0xc0, 0x00}, 0, nil},
		"auth passes":          {[]byte{0xf0, 0x00}, 0, nil},
		"publish qos 2 retain": {[]byte{0x35, 0x00}, 0, nil},
	} {
		_, err := ParseHeader(tc.b, tc.max)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	h, _ := ParseHeader([]byte{0x3b, 0x00}, 0)
	if h.QoS() != 1 || h.Flags != 0x0b {
		t.Errorf("flags of 0x3b: %+v qos %d", h, h.QoS())
	}
}

func TestSplitAndReaderAgree(t *testing.T) {
	pkts := [][]byte{
		mkPacket(0x10, 20),     // CONNECT
		mkPacket(0x32, 0),      // PUBLISH QoS 1, empty
		mkPacket(0x30, 300),    // PUBLISH QoS 0, 2-byte length
		mkPacket(0x40, 2),      // PUBACK
		mkPacket(0xc0, 0),      // PINGREQ
		mkPacket(0x34, 20000),  // PUBLISH QoS 2, 3-byte length
		mkPacket(0x82, 5),      // SUBSCRIBE
		mkPacket(0xe0, 0),      // DISCONNECT
		mkPacket(0x3a, 70_000), // PUBLISH QoS 1 DUP
	}
	stream := bytes.Join(pkts, nil)

	rest := stream
	for i, want := range pkts {
		var pkt []byte
		var err error
		pkt, rest, err = Split(rest, 0)
		if err != nil || !bytes.Equal(pkt, want) {
			t.Fatalf("Split packet %d: %v, %d bytes, want %d", i, err, len(pkt), len(want))
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left", len(rest))
	}
	// A truncated stream: the last packet is incomplete.
	last := pkts[len(pkts)-1]
	if pkt, rest, err := Split(last[:len(last)-100], 0); pkt != nil || !errors.Is(err, ErrShort) || len(rest) != len(last)-100 {
		t.Fatalf("tail: %v %d %v", pkt, len(rest), err)
	}

	// The Reader, fed one byte at a time, finds the same packets.
	rd := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0)
	for i, want := range pkts {
		pkt, err := rd.Next()
		if err != nil || !bytes.Equal(pkt, want) {
			t.Fatalf("Reader packet %d: %v", i, err)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	// Ending inside a header or a body is unexpected.
	for _, cut := range []int{1, 3, 100} {
		rd := NewReader(bytes.NewReader(pkts[5][:cut]), 0)
		if _, err := rd.Next(); err != io.ErrUnexpectedEOF {
			t.Errorf("cut at %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	// The size limit applies.
	rd = NewReader(bytes.NewReader(pkts[5]), 1000)
	if _, err := rd.Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit: %v", err)
	}
}

func TestDuplicateSetsDUPForQoS12Only(t *testing.T) {
	for _, tc := range []struct{ in, want byte }{
		{0x30, 0x30}, // QoS 0: DUP must stay 0
		{0x31, 0x31}, // QoS 0 retained
		{0x32, 0x3a}, // QoS 1
		{0x34, 0x3c}, // QoS 2
		{0x3b, 0x3b}, // already DUP
		{0x40, 0x40}, // not a PUBLISH
	} {
		in := mkPacket(tc.in, 3)
		out := duplicate(in)
		if out[0] != tc.want || !bytes.Equal(out[1:], in[1:]) || in[0] != tc.in {
			t.Errorf("0x%02x: copy starts 0x%02x, want 0x%02x (original now 0x%02x)", tc.in, out[0], tc.want, in[0])
		}
	}
}

// FuzzSplit feeds arbitrary bytes to the packet splitter: it must never
// panic, every packet it returns must be exactly what its header says, the
// packets and the rest must add up to the input, and the streaming Reader
// must find the same packets and stop the same way.
func FuzzSplit(f *testing.F) {
	f.Add(bytes.Join([][]byte{mkPacket(0x10, 12), mkPacket(0x32, 7), mkPacket(0xe0, 0)}, nil))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x36, 0x00})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 16
		var got [][]byte
		rest := data
		var splitErr error
		for len(rest) > 0 {
			pkt, r, err := Split(rest, max)
			if err != nil {
				if !bytes.Equal(r, rest) {
					t.Fatal("Split consumed input on error")
				}
				splitErr = err
				break
			}
			h, err := ParseHeader(pkt, max)
			if err != nil || h.Size() != len(pkt) || len(pkt) < 2 || len(pkt) > max {
				t.Fatalf("packet of %d bytes, header %+v, %v", len(pkt), h, err)
			}
			got = append(got, pkt)
			rest = r
		}
		if n := len(bytes.Join(got, nil)) + len(rest); n != len(data) {
			t.Fatalf("packets and rest are %d bytes, input %d", n, len(data))
		}
		rd := NewReader(bytes.NewReader(data), max)
		for i := 0; ; i++ {
			pkt, err := rd.Next()
			if err != nil {
				if i != len(got) {
					t.Fatalf("Reader stopped after %d packets, Split found %d: %v", i, len(got), err)
				}
				switch {
				case splitErr == nil && err != io.EOF:
					t.Fatalf("Reader: %v at a clean end", err)
				case errors.Is(splitErr, ErrShort) && err != io.ErrUnexpectedEOF:
					t.Fatalf("Reader: %v on a truncated packet", err)
				case errors.Is(splitErr, ErrMalformed) && !errors.Is(err, ErrMalformed),
					errors.Is(splitErr, ErrTooLarge) && !errors.Is(err, ErrTooLarge):
					t.Fatalf("Reader: %v, Split: %v", err, splitErr)
				}
				return
			}
			if i >= len(got) || !bytes.Equal(pkt, got[i]) {
				t.Fatalf("Reader packet %d differs from Split's", i)
			}
		}
	})
}
