package ogg

import (
	"bytes"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the page and stream reader: no
// panic, and what it accepts survives a rewrite through the Writer.
func FuzzRead(f *testing.F) {
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		streams, err := Read(b)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, st := range streams {
			for i, p := range st.Packets {
				if err := w.WritePacket(st.Serial, p, int64(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := Read(buf.Bytes())
		if err != nil {
			t.Fatalf("rewritten file unreadable: %v", err)
		}
		for i, st := range streams {
			if len(again[i].Packets) != len(st.Packets) {
				t.Fatalf("stream %d: %d packets, then %d", i, len(st.Packets), len(again[i].Packets))
			}
		}
		for _, st := range streams {
			for _, p := range st.Packets {
				OpusSamples(p)
				ParseOpusHead(p)
				ParseOpusTags(p)
			}
		}
	})
}
