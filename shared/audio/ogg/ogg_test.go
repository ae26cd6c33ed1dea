package ogg

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kinline/kinline/internal/testkit"
)

// speech.opus was made with: espeak-ng -w speech.wav "Hello, this is a
// recorded call from Kinline."; sox speech.wav -r 16000 -c 1 s16.wav pad
// 0 1; opusenc --speech --bitrate 12 --framesize 20 --comp 5 s16.wav
// speech.opus (libopus 1.3.1, libogg).
func readSpeech(t *testing.T) *Stream {
	t.Helper()
	b, err := os.ReadFile("testdata/speech.opus")
	if err != nil {
		t.Fatal(err)
	}
	streams, err := Read(b)
	if err != nil {
		t.Fatalf("reading libogg's file: %v", err)
	}
	if len(streams) != 1 || !streams[0].EOS {
		t.Fatalf("streams = %d", len(streams))
	}
	return streams[0]
}

func TestCRCKnown(t *testing.T) {
	// The Ogg CRC (poly 0x04c11db7, MSB first, no reflection, no xor) of
	// "123456789" is 0x89a1897f (CRC-32/MPEG-2 without the initial ~0).
	if got := CRC([]byte("123456789")); got != 0x89a1897f {
		t.Fatalf("CRC = %#08x", got)
	}
}

func TestReadLiboggFile(t *testing.T) {
	st := readSpeech(t)
	head, err := ParseOpusHead(st.Packets[0])
	if err != nil || head.Channels != 1 || head.PreSkip != 312 || head.InputRate != 16000 {
		t.Fatalf("OpusHead = %+v, %v", head, err)
	}
	vendor, comments, err := ParseOpusTags(st.Packets[1])
	if err != nil || vendor == "" || len(comments) == 0 {
		t.Fatalf("OpusTags = %q %q %v", vendor, comments, err)
	}
	total := 0
	for _, p := range st.Packets[2:] {
		n, err := OpusSamples(p)
		if err != nil {
			t.Fatal(err)
		}
		if n != 960 {
			t.Fatalf("packet of %d samples, opusenc was told 20 ms", n)
		}
		total += n
	}
	// The last page's granule is the stream's end: packets minus what
	// the encoder trimmed at the end (at most one packet).
	if st.LastGran > int64(total) || st.LastGran <= int64(total-960) {
		t.Fatalf("last granule %d, packets hold %d samples", st.LastGran, total)
	}
}

// writeGrouped writes two Opus streams from the same packets, the way
// the recorder does, and returns the file.
func writeGrouped(t *testing.T, packets [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, serial := range []uint32{1, 2} {
		if err := w.WritePacket(serial, OpusHead{Channels: 1, PreSkip: 312, InputRate: 48000}.Marshal(), 0); err != nil {
			t.Fatal(err)
		}
		w.Flush(serial)
	}
	for _, serial := range []uint32{1, 2} {
		w.WritePacket(serial, OpusTags("kinline", "LEG="+string(rune('@'+serial))), 0)
		w.Flush(serial)
	}
	var g int64
	for _, p := range packets {
		n, err := OpusSamples(p)
		if err != nil {
			t.Fatal(err)
		}
		g += int64(n)
		for _, serial := range []uint32{1, 2} {
			if err := w.WritePacket(serial, p, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGroupedRoundTrip(t *testing.T) {
	src := readSpeech(t)
	file := writeGrouped(t, src.Packets[2:])
	streams, err := Read(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 2 {
		t.Fatalf("%d streams", len(streams))
	}
	// Grouping: both BOS pages come first.
	p1, n1, _ := ParsePage(file)
	p2, _, _ := ParsePage(file[n1:])
	if p1.Flags&FlagBOS == 0 || p2.Flags&FlagBOS == 0 || p1.Serial == p2.Serial {
		t.Fatal("the file does not start with both BOS pages")
	}
	for _, st := range streams {
		if !st.EOS || len(st.Packets) != len(src.Packets) {
			t.Fatalf("stream %d: eos=%v packets=%d want %d", st.Serial, st.EOS, len(st.Packets), len(src.Packets))
		}
		for i, p := range st.Packets[2:] {
			if !bytes.Equal(p, src.Packets[i+2]) {
				t.Fatalf("packet %d differs", i)
			}
		}
		if want := int64(960 * (len(src.Packets) - 2)); st.LastGran != want {
			t.Fatalf("last granule %d want %d", st.LastGran, want)
		}
	}
}

func TestLargePacketsSpanPages(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	sizes := []int{0, 1, 254, 255, 256, 510, 255 * 255, 255*255 + 1, 200000, 3}
	var want [][]byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, p)
		if err := w.WritePacket(7, p, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	streams, err := Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := streams[0].Packets
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d (%d bytes) differs: got %d bytes", i, len(want[i]), len(got[i]))
		}
	}
}

func TestReaderRejects(t *testing.T) {
	src := readSpeech(t)
	file := writeGrouped(t, src.Packets[2:10])
	_, n1, _ := ParsePage(file)
	cases := map[string]func([]byte) []byte{
		"flipped data byte": func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"bad capture":       func(b []byte) []byte { b[0] = 'X'; return b },
		"truncated":         func(b []byte) []byte { return b[:len(b)-3] },
		"page dropped": func(b []byte) []byte {
			// Drop stream 1's OpusTags page (the third page).
			_, n2, _ := ParsePage(b[n1:])
			_, n3, _ := ParsePage(b[n1+n2:])
			return append(b[:n1+n2:n1+n2], b[n1+n2+n3:]...)
		},
	}
	for name, mut := range cases {
		if _, err := Read(mut(bytes.Clone(file))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var crc = bytes.Clone(file)
	crc[22] ^= 0xff
	if _, err := Read(crc); !errors.Is(err, ErrCRC) {
		t.Errorf("bad CRC field: %v", err)
	}
}

func TestOpusSamples(t *testing.T) {
	cases := []struct {
		pkt  []byte
		want int
	}{
		{[]byte{1 << 3}, 960},              // SILK NB 20 ms, one frame
		{[]byte{3 << 3}, 2880},             // SILK NB 60 ms
		{[]byte{1<<3 | 1, 0, 0}, 1920},     // two 20 ms frames
		{[]byte{31<<3 | 3, 0x03}, 3 * 960}, // CELT 20 ms, code 3, three frames
		{[]byte{16<<3 | 3, 48}, 48 * 120},  // 48 x 2.5 ms = 120 ms
		{[]byte{13 << 3}, 960},             // hybrid 20 ms
	}
	for _, c := range cases {
		if got, err := OpusSamples(c.pkt); err != nil || got != c.want {
			t.Errorf("OpusSamples(%x) = %d, %v; want %d", c.pkt, got, err, c.want)
		}
	}
	for _, bad := range [][]byte{nil, {3}, {31<<3 | 3, 0}, {3<<3 | 3, 3}} {
		if _, err := OpusSamples(bad); !errors.Is(err, ErrOpus) {
			t.Errorf("OpusSamples(%x) accepted", bad)
		}
	}
}

// TestOpusdecPlaysOurFile checks the writer against libogg/libopus: the
// reference decoder must play a file we wrote, with the right length.
func TestOpusdecPlaysOurFile(t *testing.T) {
	opusdec := testkit.NeedPeer(t, "opusdec", "opus-tools")
	src := readSpeech(t)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WritePacket(9, src.Packets[0], 0)
	w.Flush(9)
	w.WritePacket(9, OpusTags("kinline"), 0)
	w.Flush(9)
	var g int64
	for _, p := range src.Packets[2:] {
		n, _ := OpusSamples(p)
		g += int64(n)
		w.WritePacket(9, p, g)
	}
	w.Close()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "ours.opus"), filepath.Join(dir, "out.raw")
	os.WriteFile(in, buf.Bytes(), 0o644)
	// An output name other than .wav makes opusdec write raw PCM.
	cmd := exec.Command(opusdec, "--quiet", "--rate", "48000", "--no-dither", in, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opusdec refused our file: %v\n%s", err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	// 16-bit mono at 48 kHz: granule minus pre-skip samples.
	if want := (g - int64(312)) * 2; st.Size() != want {
		t.Fatalf("opusdec produced %d bytes, want %d", st.Size(), want)
	}
}

// TestGroupedSeed writes a two-stream file made by our Writer into the
// FuzzRead corpus when KINLINE_WRITE_SEEDS=1, and checks it is there.
func TestGroupedSeed(t *testing.T) {
	seed := filepath.Join("testdata", "fuzz", "FuzzRead", "grouped_two_streams")
	if os.Getenv("KINLINE_WRITE_SEEDS") == "1" {
		file := writeGrouped(t, readSpeech(t).Packets[2:6])
		os.WriteFile(seed, []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(file))+")\n"), 0o644)
	}
	if _, err := os.Stat(seed); err != nil {
		t.Fatalf("seed missing (run with KINLINE_WRITE_SEEDS=1): %v", err)
	}
}
