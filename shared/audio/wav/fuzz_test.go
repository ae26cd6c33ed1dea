package wav

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the parser: it must never panic nor
// allocate by a declared size, and whatever it accepts must be consistent.
// Seeds live in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNotWAV) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
			return
		}
		if rd.Channels < 1 || rd.Channels > MaxChannels || rd.BlockAlign != rd.FrameSize() ||
			rd.DataOffset > int64(len(data)) || rd.SampleRate < 1 {
			t.Fatalf("inconsistent header %+v for %d bytes", rd.Header, len(data))
		}
		ch, err := rd.ReadAllPCM(len(data))
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadAllPCM: %v", err)
		}
		frames := len(ch[0])
		for _, c := range ch {
			if len(c) != frames {
				t.Fatal("channels of unequal length")
			}
		}
		if frames*rd.BlockAlign > len(data)-int(rd.DataOffset) {
			t.Fatalf("decoded %d frames from %d data bytes", frames, len(data)-int(rd.DataOffset))
		}
	})
}

// FuzzRoundTrip writes arbitrary sample data in every format and reads it
// back unchanged. Seeds live in testdata/fuzz/FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, enc uint8, channels uint8, data []byte) {
		fm := Format{Encoding: Encoding(enc), Channels: int(channels), SampleRate: 8000}
		var m memFile
		w, err := NewWriter(&m, fm)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("NewWriter: %v", err)
			}
			return
		}
		data = data[:len(data)-len(data)%fm.FrameSize()]
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if len(m.b)%2 != 0 {
			t.Fatalf("odd file length %d", len(m.b))
		}
		rd, err := NewReader(bytes.NewReader(m.b))
		if err != nil {
			t.Fatal(err)
		}
		if rd.Format != fm || rd.DataSize != int64(len(data)) || rd.Frames != int64(len(data)/fm.FrameSize()) {
			t.Fatalf("header %+v for %d bytes of %+v", rd.Header, len(data), fm)
		}
		got, err := io.ReadAll(rd)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("data changed (err %v)", err)
		}
	})
}
