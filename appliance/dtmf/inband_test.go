package dtmf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/tone"
)

// signal builds 8 kHz test audio.
type signal struct{ s []int16 }

func ms(n int) int { return n * SampleRate / 1000 }

// tones appends n samples of the sum of sines at freqs with amplitudes
// amps (relative to full scale).
func (g *signal) tones(n int, freqs []float64, amps []float64) *signal {
	buf := make([]int16, n)
	acc := make([]float64, n)
	for i, f := range freqs {
		tone.Sine(buf, f, SampleRate, amps[i]*32767, len(g.s))
		for j, v := range buf {
			acc[j] += float64(v)
		}
	}
	for _, v := range acc {
		g.s = append(g.s, int16(max(-32768, min(32767, v))))
	}
	return g
}

// key appends a press of k lasting n samples, each tone at amp.
func (g *signal) key(k rune, n int, amp float64) *signal {
	i := strings.IndexRune(keypad, k)
	return g.tones(n, []float64{rowFreqs[i/4], colFreqs[i%4]}, []float64{amp, amp})
}

func (g *signal) silence(n int) *signal {
	g.s = append(g.s, make([]int16, n)...)
	return g
}

// noise adds Gaussian noise of the given RMS (relative to full scale).
func (g *signal) noise(rms float64, seed uint64) *signal {
	r := rand.New(rand.NewPCG(seed, 1))
	for i, v := range g.s {
		g.s[i] = int16(max(-32768, min(32767, float64(v)+r.NormFloat64()*rms*32767)))
	}
	return g
}

// law passes the audio through G.711, as it arrives from RTP.
func (g *signal) law(l g711.Law) *signal {
	for i, v := range g.s {
		g.s[i] = l.Decode(l.Encode(v))
	}
	return g
}

// detect runs a fresh detector over s in chunks of chunk samples.
func detect(s []int16, chunk int) string {
	d := NewDetector(DetectorConfig{})
	var out []rune
	for len(s) > 0 {
		n := min(chunk, len(s))
		out = d.Detect(out, s[:n])
		s = s[n:]
	}
	return string(out)
}

const amp = 0.25 // -12 dBFS per tone: a typical handset level

func TestDetectAllKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		law   g711.Law
		noise float64
	}{
		{"linear", 0, 0},
		{"pcmu", g711.Ulaw, 0},
		{"pcma", g711.Alaw, 0},
		{"pcmu+noise-15dB", g711.Ulaw, amp / math.Pow(10, 15.0/20)},
		{"pcma+noise-10dB", g711.Alaw, amp / math.Pow(10, 10.0/20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &signal{}
			g.silence(ms(50))
			for _, k := range Keys {
				g.key(k, ms(70), amp).silence(ms(60))
			}
			if tc.noise > 0 {
				g.noise(tc.noise, 42)
			}
			if tc.law != 0 {
				g.law(tc.law)
			}
			for _, chunk := range []int{160, 1, 97, 4096} {
				if got := detect(g.s, chunk); got != Keys {
					t.Errorf("chunks of %d: detected %q, want %q", chunk, got, Keys)
				}
			}
		})
	}
}

// Presses of 40 ms are always reported once, whatever their alignment to
// the detector's blocks (every offset is tried); presses of 20 ms never
// are.
func TestMinimumDuration(t *testing.T) {
	for off := 0; off < BlockSize; off++ {
		for _, tc := range []struct {
			dur  int
			want string
		}{{40, "5"}, {45, "5"}, {20, "" /* too short */}, {10, ""}} {
			g := (&signal{}).silence(off).key('5', ms(tc.dur), amp).silence(ms(60))
			if got := detect(g.s, 160); got != tc.want {
				t.Errorf("%d ms press at offset %d: detected %q, want %q", tc.dur, off, got, tc.want)
			}
		}
	}
}

func TestOncePerPress(t *testing.T) {
	// A long press is one key; a 10 ms dropout in it (a line glitch) does
	// not make it two; two presses of the same key 40 ms apart are two.
	g := (&signal{}).key('9', ms(2000), amp).silence(ms(100))
	g.key('9', ms(300), amp).silence(ms(10)).key('9', ms(300), amp).silence(ms(100))
	g.key('9', ms(60), amp).silence(ms(40)).key('9', ms(60), amp).silence(ms(100))
	if got := detect(g.s, 160); got != "9999" {
		t.Fatalf("detected %q, want 9999", got)
	}
	// Keys pressed back to back with no gap are both reported.
	g = (&signal{}).key('1', ms(100), amp).key('2', ms(100), amp).silence(ms(60))
	if got := detect(g.s, 160); got != "12" {
		t.Fatalf("back to back: %q", got)
	}
}

func TestLevelAndTwist(t *testing.T) {
	db := func(x float64) float64 { return math.Pow(10, x/20) }
	for _, tc := range []struct {
		name     string
		row, col float64 // amplitudes
		want     string
	}{
		{"-30 dBFS", db(-30), db(-30), "8"},
		{"-45 dBFS: too weak", db(-45), db(-45), ""},
		{"high group +6 dB", amp, amp * db(6), "8"},
		{"high group +12 dB", amp / 2, amp / 2 * db(12), ""},
		{"low group +3 dB", amp * db(3), amp, "8"},
		{"low group +7 dB", amp * db(7), amp, ""},
	} {
		i := strings.IndexRune(keypad, '8')
		g := (&signal{}).tones(ms(100), []float64{rowFreqs[i/4], colFreqs[i%4]}, []float64{tc.row, tc.col}).silence(ms(60))
		g.law(g711.Ulaw)
		if got := detect(g.s, 160); got != tc.want {
			t.Errorf("%s: detected %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Sounds that are not DTMF: single tones, pairs of tones in one group or
// off the DTMF grid, sweeps, noise, and real speech.
func TestRejectsNonDTMF(t *testing.T) {
	cases := map[string]*signal{
		"single 697":              (&signal{}).tones(ms(500), []float64{697}, []float64{0.5}),
		"single 1209":             (&signal{}).tones(ms(500), []float64{1209}, []float64{0.5}),
		"single 1000":             (&signal{}).tones(ms(500), []float64{1000}, []float64{0.5}),
		"dial tone 350+440":       (&signal{}).tones(ms(1000), []float64{350, 440}, []float64{0.3, 0.3}),
		"two rows 697+770":        (&signal{}).tones(ms(500), []float64{697, 770}, []float64{0.3, 0.3}),
		"two cols 1209+1336":      (&signal{}).tones(ms(500), []float64{1209, 1336}, []float64{0.3, 0.3}),
		"close 1000+1100":         (&signal{}).tones(ms(500), []float64{1000, 1100}, []float64{0.3, 0.3}),
		"key under a louder tone": (&signal{}).tones(ms(500), []float64{697, 1209, 1000}, []float64{0.15, 0.15, 0.5}),
		"vowel-like harmonics":    (&signal{}).tones(ms(500), []float64{120, 240, 360, 480, 720, 960, 1200, 1440}, []float64{0.2, 0.15, 0.1, 0.1, 0.08, 0.06, 0.05, 0.04}),
		"white noise":             (&signal{}).silence(ms(5000)).noise(0.2, 7),
	}
	sweep := &signal{}
	for f := 300.0; f < 3400; f += 20 {
		sweep.tones(ms(10), []float64{f, 3700 - f}, []float64{0.3, 0.3})
	}
	cases["sweep"] = sweep
	for name, g := range cases {
		if got := detect(g.law(g711.Ulaw).s, 160); got != "" {
			t.Errorf("%s: detected %q", name, got)
		}
	}

	// Talk-off: none of the spoken prompts (about two minutes of speech
	// in two languages) triggers the detector.
	var total int
	for _, lang := range prompts.Languages() {
		for _, id := range prompts.IDs() {
			u, err := prompts.Get(lang, id)
			if err != nil {
				t.Fatal(err)
			}
			pcm := make([]int16, len(u))
			g711.DecodeUlawSlice(pcm, u)
			total += len(pcm)
			if got := detect(pcm, 160); got != "" {
				t.Errorf("speech %s/%s detected as %q", lang, id, got)
			}
		}
	}
	t.Logf("talk-off: %.0f s of speech, no false key", float64(total)/SampleRate)
}

func BenchmarkDetector(b *testing.B) {
	g := (&signal{}).key('5', ms(100), amp).silence(ms(100)).noise(0.01, 1)
	d := NewDetector(DetectorConfig{})
	buf := make([]rune, 0, 8)
	b.SetBytes(int64(len(g.s) * 2))
	b.ResetTimer()
	for range b.N {
		for i := 0; i+160 <= len(g.s); i += 160 {
			buf = d.Detect(buf[:0], g.s[i:i+160])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(g.s)/160), "ns/20ms-packet")
	_ = fmt.Sprint(buf)
}
