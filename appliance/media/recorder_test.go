package media

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
)

// recording reads a finished recording's raw interleaved bytes per channel.
func recording(t *testing.T, path string) (wav.Header, [2][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := wav.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	var ch [2][]byte
	for i := 0; i+1 < len(raw); i += 2 {
		ch[0] = append(ch[0], raw[i])
		ch[1] = append(ch[1], raw[i+1])
	}
	return rd.Header, ch
}

func frame(v byte) []byte { return bytes.Repeat([]byte{v}, 160) }

// runOf reports the value of b[from:to] if it is uniform, or -1.
func runOf(b []byte, from, to int) int {
	if to > len(b) || from >= to {
		return -2
	}
	for _, v := range b[from:to] {
		if v != b[from] {
			return -1
		}
	}
	return int(b[from])
}

func TestRecorderPlacesByTimestamp(t *testing.T) {
	dir := t.TempDir()
	r, err := newRecorder(dir, "placement", g711.Ulaw, recstore.Key{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1e9, 0))
	tick := func() { clk.Advance(20 * time.Millisecond) }
	var tsA uint32 = 0xFFFFFF00 // wraps after two packets
	// Leg A: packets 0,1 in order, 3 before 2 (reordered), 4, then a gap
	// of 5 packets (silence suppression), then 10.
	r.write(0, g711.Ulaw, 1, 0, tsA, frame(0x10), clk.Now())
	tick()
	r.write(0, g711.Ulaw, 1, 1, tsA+160, frame(0x11), clk.Now())
	tick()
	// Leg B answers 40 ms after A's first packet, in A-law (transcoded).
	r.write(1, g711.Alaw, 7, 100, 5000, frame(0xAA), clk.Now())
	tick()
	r.write(0, g711.Ulaw, 1, 3, tsA+3*160, frame(0x13), clk.Now())
	r.write(0, g711.Ulaw, 1, 2, tsA+2*160, frame(0x12), clk.Now())
	r.write(1, g711.Alaw, 7, 101, 5160, frame(0xAA), clk.Now())
	tick()
	r.write(0, g711.Ulaw, 1, 4, tsA+4*160, frame(0x14), clk.Now())
	for range 6 {
		tick()
	}
	r.write(0, g711.Ulaw, 1, 10, tsA+10*160, frame(0x1A), clk.Now())
	// A telephone-event style restart: new SSRC with unrelated timestamps
	// is re-anchored at its arrival time.
	tick()
	r.write(0, g711.Ulaw, 2, 0, 77, frame(0x20), clk.Now())
	res, err := r.finish()
	if err != nil {
		t.Fatal(err)
	}
	h, ch := recording(t, res.Path)
	if h.Channels != 2 || h.Encoding != wav.Mulaw || h.Frames != int64(len(ch[0])) {
		t.Fatalf("header %+v, %d frames", h, len(ch[0]))
	}
	left, right := ch[0], ch[1]
	for i, want := range []int{0x10, 0x11, 0x12, 0x13, 0x14, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1A} {
		if got := runOf(left, i*160, (i+1)*160); got != want {
			t.Errorf("left packet %d = %#x, want %#x", i, got, want)
		}
	}
	// B's first packet arrived 40 ms (320 frames) after the origin.
	if got := runOf(right, 0, 320); got != 0xFF {
		t.Errorf("right before B = %#x, want silence", got)
	}
	if got := runOf(right, 320, 640); got != int(g711.UlawToAlaw(0)) && got != int(g711.AlawToUlaw(0xAA)) {
		t.Errorf("right B audio = %#x, want %#x", got, g711.AlawToUlaw(0xAA))
	}
	if got := runOf(right, 640, len(right)); got != 0xFF {
		t.Errorf("right after B = %#x, want silence", got)
	}
	// SSRC 2 arrived at 220 ms -> frame 1760.
	if got := runOf(left, 1760, 1920); got != 0x20 || len(left) != 1920 {
		t.Errorf("re-anchored stream at 1760 = %#x, file %d frames", got, len(left))
	}
}

func TestRecorderLongGapAndLatePackets(t *testing.T) {
	r, err := newRecorder(t.TempDir(), "gaps", g711.Alaw, recstore.Key{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1e9, 0))
	r.write(0, g711.Alaw, 1, 0, 0, frame(0x01), clk.Now())
	// 10 s on hold: nothing arrives, then audio resumes with matching
	// timestamps.
	clk.Advance(10 * time.Second)
	r.write(0, g711.Alaw, 1, 1, 80000, frame(0x02), clk.Now())
	// A packet 3 s late (older than the 1 s ring): dropped, no damage.
	r.write(0, g711.Alaw, 1, 0, 80000-3*8000, frame(0x03), clk.Now())
	// A timestamp jump far from the arrival time is re-anchored there.
	clk.Advance(20 * time.Millisecond)
	r.write(0, g711.Alaw, 1, 2, uint32(80000+5*3600*8000), frame(0x04), clk.Now())
	res, err := r.finish()
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "wav/pcma-stereo" {
		t.Fatalf("format %q", res.Format)
	}
	_, ch := recording(t, res.Path)
	left := ch[0]
	if len(left) != 80000+160+160 {
		t.Fatalf("%d frames, want %d", len(left), 80320)
	}
	if runOf(left, 0, 160) != 1 || runOf(left, 160, 80000) != 0xD5 || runOf(left, 80000, 80160) != 2 || runOf(left, 80160, 80320) != 4 {
		t.Fatal("long gap not filled with A-law silence, or packets misplaced")
	}
	if runOf(ch[1], 0, len(ch[1])) != 0xD5 {
		t.Fatal("silent leg B is not silence")
	}
}
