package dtmf

import (
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzDecoder feeds arbitrary packets (each: 4 bytes of SSRC, 4 of
// timestamp, 1 of length, payload) to a Decoder: it must not panic,
// report only keys, and never begin the same (SSRC, timestamp) twice in a
// row of packets.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 100, 4, 5, 10, 0, 160, 0, 0, 0, 1, 0, 0, 0, 100, 4, 5, 0x8a, 3, 0x20})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		type key struct{ ssrc, ts uint32 }
		begun := map[key]int{}
		lastSSRC := uint32(0)
		for len(data) >= 9 {
			ssrc := binary.BigEndian.Uint32(data)
			ts := binary.BigEndian.Uint32(data[4:])
			n := min(int(data[8]), len(data)-9)
			payload := data[9 : 9+n]
			data = data[9+n:]
			if ssrc != lastSSRC {
				clear(begun)
				lastSSRC = ssrc
			}
			u, err := d.Feed(ssrc, ts, payload)
			if err != nil {
				if u != (Update{}) {
					t.Fatalf("error %v with update %+v", err, u)
				}
				if len(payload) >= 4 && len(payload)%4 == 0 && payload[0] < 16 {
					t.Fatalf("valid key event rejected: %v", err)
				}
				continue
			}
			if (u.Begin || u.End) && !strings.ContainsRune(Keys, u.Key) {
				t.Fatalf("reported %q, not a key", u.Key)
			}
			if u.Begin {
				begun[key{ssrc, ts}]++
				if begun[key{ssrc, ts}] > 1 && d.nrec <= recentEvents {
					t.Fatalf("timestamp %d begun twice", ts)
				}
			}
			if e, err := ParseEvent(payload); err == nil {
				if back, _ := ParseEvent(e.Marshal()); back != e {
					t.Fatalf("marshal round trip %+v -> %+v", e, back)
				}
			}
		}
	})
}

// FuzzParseINFO: any content type and body parse without panicking; a
// success is one of the 16 keys with a bounded duration, and parsing is
// deterministic.
func FuzzParseINFO(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r, err := ParseINFO(ct, body)
		r2, err2 := ParseINFO(ct, body)
		if r != r2 || (err == nil) != (err2 == nil) {
			t.Fatal("not deterministic")
		}
		if err != nil {
			if r != (Relay{}) {
				t.Fatalf("error %v with result %+v", err, r)
			}
			return
		}
		if !strings.ContainsRune(Keys, r.Key) || r.Duration < 0 || r.Duration.Milliseconds() > maxINFODuration {
			t.Fatalf("bad result %+v", r)
		}
	})
}
