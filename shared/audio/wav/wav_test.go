package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/tone"
)

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	pos int
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := m.pos + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[m.pos:], p)
	m.pos += len(p)
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.pos = int(off)
	case io.SeekCurrent:
		m.pos += int(off)
	case io.SeekEnd:
		m.pos = len(m.b) + int(off)
	}
	return int64(m.pos), nil
}

func write(t testing.TB, f Format, data []byte) []byte {
	t.Helper()
	var m memFile
	w, err := NewWriter(&m, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return m.b
}

func TestG711StereoHeaderBytes(t *testing.T) {
	data := bytes.Repeat([]byte{0xFF, 0x80}, 8000) // 1 s stereo µ-law
	b := write(t, Format{Encoding: Mulaw, Channels: 2, SampleRate: 8000}, data)
	if len(b) != 58+16000 {
		t.Fatalf("file is %d bytes", len(b))
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want uint32
	}{
		{"RIFF size", le.Uint32(b[4:]), uint32(len(b) - 8)},
		{"fmt size", le.Uint32(b[16:]), 18},
		{"format tag", uint32(le.Uint16(b[20:])), 7},
		{"channels", uint32(le.Uint16(b[22:])), 2},
		{"rate", le.Uint32(b[24:]), 8000},
		{"byte rate", le.Uint32(b[28:]), 16000},
		{"block align", uint32(le.Uint16(b[32:])), 2},
		{"bits", uint32(le.Uint16(b[34:])), 8},
		{"cbSize", uint32(le.Uint16(b[36:])), 0},
		{"fact size", le.Uint32(b[42:]), 4},
		{"fact frames", le.Uint32(b[46:]), 8000},
		{"data size", le.Uint32(b[54:]), 16000},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	for off, id := range map[int]string{0: "RIFF", 8: "WAVE", 12: "fmt ", 38: "fact", 50: "data"} {
		if string(b[off:off+4]) != id {
			t.Errorf("at %d: %q, want %q", off, b[off:off+4], id)
		}
	}
	if !bytes.Equal(b[58:], data) {
		t.Fatal("data differs")
	}
	rd, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Format: Format{Mulaw, 2, 8000}, BitsPerSample: 8, BlockAlign: 2, DataOffset: 58, DataSize: 16000, Frames: 8000}
	if rd.Header != want {
		t.Fatalf("header %+v, want %+v", rd.Header, want)
	}
	ch, err := rd.ReadAllPCM(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch[0]) != 8000 || ch[0][0] != 0 || ch[1][7999] != 32124 {
		t.Fatalf("decoded %d frames, %d %d", len(ch[0]), ch[0][0], ch[1][7999])
	}
}

func TestPCMAndOddAlawRoundTrip(t *testing.T) {
	pcm := make([]int16, 800)
	tone.Sine(pcm, 440, 8000, 12000, 0)
	var m memFile
	w, err := NewWriter(&m, Format{Encoding: PCM, Channels: 1, SampleRate: 8000})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples(pcm); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil || w.Close() != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if len(m.b) != 44+1600 || binary.LittleEndian.Uint32(m.b[40:]) != 1600 || binary.LittleEndian.Uint16(m.b[20:]) != 1 {
		t.Fatalf("PCM file layout wrong: %d bytes", len(m.b))
	}
	rd, err := NewReader(bytes.NewReader(m.b))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := rd.ReadAllPCM(1 << 20)
	if err != nil || len(ch) != 1 || !slicesEqual(ch[0], pcm) {
		t.Fatalf("PCM round trip: err %v", err)
	}

	// Mono A-law with an odd sample count: the data chunk is padded, the
	// declared size stays odd, and a chunk after it would still be found.
	odd := []byte{0xD5, 0xAA, 0x2A}
	b := write(t, Format{Encoding: Alaw, Channels: 1, SampleRate: 8000}, odd)
	if len(b) != 58+4 || binary.LittleEndian.Uint32(b[4:]) != uint32(len(b)-8) || binary.LittleEndian.Uint32(b[54:]) != 3 {
		t.Fatalf("odd A-law layout: len %d", len(b))
	}
	rd, err = NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	ch, err = rd.ReadAllPCM(100)
	if err != nil || !slicesEqual(ch[0], []int16{8, 32256, -32256}) {
		t.Fatalf("odd A-law decoded %v, %v", ch, err)
	}
	if _, err := NewWriter(&memFile{}, Format{Encoding: Mulaw, Channels: 3, SampleRate: 8000}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("3 channels: %v", err)
	}
	if _, err := NewWriter(&memFile{}, Format{Encoding: 3, Channels: 1, SampleRate: 8000}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("float: %v", err)
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderRejectsAndTolerates(t *testing.T) {
	good := write(t, Format{Encoding: Mulaw, Channels: 2, SampleRate: 8000}, []byte{1, 2, 3, 4})
	le := binary.LittleEndian
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNotWAV},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVE"), ErrNotWAV},
		{"no data", good[:50], ErrMalformed},
		{"bits 16 for ulaw", mut(func(b []byte) []byte { le.PutUint16(b[34:], 16); return b }), ErrUnsupported},
		{"block align", mut(func(b []byte) []byte { le.PutUint16(b[32:], 3); return b }), ErrMalformed},
		{"float", mut(func(b []byte) []byte { le.PutUint16(b[20:], 3); return b }), ErrUnsupported},
		{"zero channels", mut(func(b []byte) []byte { le.PutUint16(b[22:], 0); return b }), ErrUnsupported},
		{"huge rate", mut(func(b []byte) []byte { le.PutUint32(b[24:], 1<<31); return b }), ErrUnsupported},
		{"short fmt", mut(func(b []byte) []byte { le.PutUint32(b[16:], 8); return b }), ErrMalformed},
		{"data before fmt", []byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"), ErrMalformed},
		{"huge unknown chunk", []byte("RIFF\x00\x00\x00\x00WAVEjunk\xff\xff\xff\x7f"), ErrMalformed},
	}
	for _, c := range cases {
		if _, err := NewReader(bytes.NewReader(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}

	// Truncated data: the declared size is larger than what is there.
	rd, err := NewReader(bytes.NewReader(good[:60]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rd); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated read err = %v", err)
	}

	// A streamed file (size 0xFFFFFFFF) with an unknown chunk before data
	// and a trailing partial frame: read to EOF, partial frame dropped.
	var b []byte
	b = append(b, "RIFF\xff\xff\xff\xffWAVE"...)
	b = append(b, good[12:38]...) // fmt chunk
	b = append(b, "LIST\x03\x00\x00\x00abc\x00"...)
	b = append(b, "data\xff\xff\xff\xff"...)
	b = append(b, 0xFF, 0xFF, 0x80, 0x80, 0x00)
	rd, err = NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if rd.DataOffset != int64(len(b)-5) {
		t.Fatalf("data offset %d, want %d", rd.DataOffset, len(b)-5)
	}
	ch, err := rd.ReadAllPCM(100)
	if err != nil || len(ch[0]) != 2 || ch[1][1] != 32124 {
		t.Fatalf("streamed: %v %v", ch, err)
	}
}

func TestExtensibleAlaw(t *testing.T) {
	le := binary.LittleEndian
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVEfmt "...)
	b = le.AppendUint32(b, 40)
	b = le.AppendUint16(b, 0xFFFE)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 8)
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, 8)
	b = le.AppendUint32(b, 4)
	b = le.AppendUint16(b, 6)
	b = append(b, ksdataformatTail[:]...)
	b = append(b, "data\x02\x00\x00\x00\xd5\xaa"...)
	rd, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if rd.Encoding != Alaw || rd.Channels != 1 || rd.Frames != 2 {
		t.Fatalf("header %+v", rd.Header)
	}
}

// TestSoxAcceptsFiles proves the files are valid for an independent
// implementation: soxi reads the header and sox decodes exactly our samples.
func TestSoxAcceptsFiles(t *testing.T) {
	soxi := testkit.NeedPeer(t, "soxi", "sox")
	sox := testkit.NeedPeer(t, "sox", "sox")
	dir := t.TempDir()
	for _, c := range []struct {
		enc      Encoding
		soxiEnc  string
		channels int
	}{{Mulaw, "u-law", 2}, {Alaw, "A-law", 2}, {PCM, "Signed Integer PCM", 1}, {Mulaw, "u-law", 1}} {
		f := Format{Encoding: c.enc, Channels: c.channels, SampleRate: 8000}
		frames := 4001
		pcm := make([]int16, frames*c.channels)
		tone.Sine(pcm, 700, 8000*float64(c.channels), 20000, 0)
		path := filepath.Join(dir, c.enc.String()+".wav")
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWriter(fh, f)
		if err != nil {
			t.Fatal(err)
		}
		var want []int16
		switch c.enc {
		case PCM:
			if err := w.WriteSamples(pcm); err != nil {
				t.Fatal(err)
			}
			want = pcm
		default:
			law := g711.Ulaw
			if c.enc == Alaw {
				law = g711.Alaw
			}
			enc := make([]byte, len(pcm))
			for i, s := range pcm {
				enc[i] = law.Encode(s)
				want = append(want, law.Decode(enc[i]))
			}
			if _, err := w.Write(enc); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		for flag, exp := range map[string]string{"-t": "wav", "-c": strconv.Itoa(c.channels), "-r": "8000", "-e": c.soxiEnc, "-s": strconv.Itoa(frames)} {
			out, err := exec.Command(soxi, flag, path).CombinedOutput()
			if err != nil {
				t.Fatalf("soxi %s %s: %v: %s", flag, path, err, out)
			}
			if got := strings.TrimSpace(string(out)); got != exp {
				t.Errorf("%v/%d: soxi %s = %q, want %q", c.enc, c.channels, flag, got, exp)
			}
		}
		out, err := exec.Command(sox, "-V1", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-").Output()
		if err != nil {
			t.Fatalf("sox decode: %v", err)
		}
		if len(out) != 2*len(want) {
			t.Fatalf("%v: sox decoded %d bytes, want %d", c.enc, len(out), 2*len(want))
		}
		for i := range want {
			if got := int16(binary.LittleEndian.Uint16(out[2*i:])); got != want[i] {
				t.Fatalf("%v: sample %d: sox %d, ours %d", c.enc, i, got, want[i])
			}
		}
	}
}

// countingFile is a memFile that counts the writes reaching it.
type countingFile struct {
	memFile
	writes int
}

func (c *countingFile) Write(p []byte) (int, error) {
	c.writes++
	return c.memFile.Write(p)
}

// TestUnbufferedWriterSameBytes checks that NewWriterSize with no buffer
// writes the same file as the buffered writer, odd length included, and
// that each Write reaches the underlying writer at once (the encrypted
// recordings rely on recstore's buffer alone).
func TestUnbufferedWriterSameBytes(t *testing.T) {
	f := Format{Encoding: Mulaw, Channels: 2, SampleRate: 8000}
	data := make([]byte, 3201)
	for i := range data {
		data[i] = byte(i * 7)
	}
	want := write(t, f, data)
	var c countingFile
	w, err := NewWriterSize(&c, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 320 {
		before := c.writes
		if _, err := w.Write(data[off:min(off+320, len(data))]); err != nil {
			t.Fatal(err)
		}
		if c.writes != before+1 {
			t.Fatalf("write at %d: %d writes reached the file, want 1", off, c.writes-before)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.b, want) {
		t.Fatalf("unbuffered file differs from the buffered one (%d vs %d bytes)", len(c.b), len(want))
	}
	if _, err := NewWriterSize(&memFile{}, f, -1); err == nil {
		t.Fatal("negative buffer size accepted")
	}
}
