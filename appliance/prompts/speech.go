package prompts

// Run-time speech: what cannot be generated ahead of time (a person's
// name, the prison's name from the policy) is spoken by the espeak-ng
// binary when the appliance has it, and converted here, in Go, to the
// prompts' format: the appliance needs espeak-ng alone, not sox.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/wav"
)

// Errors of run-time speech.
var (
	// ErrNoSpeech: there is no speech synthesiser (espeak-ng is not
	// installed): say something generic instead.
	ErrNoSpeech = errors.New("prompts: no speech synthesiser (espeak-ng not found)")
	// ErrSpeech: the synthesiser failed or produced nothing usable.
	ErrSpeech = errors.New("prompts: speech synthesis failed")
	// ErrSpeechText: the text is empty or too long to speak.
	ErrSpeechText = errors.New("prompts: text unusable for speech")
)

// MaxSpeechText is the longest text (in bytes, after clean-up) Speak
// accepts.
const MaxSpeechText = 200

// maxSpeechSamples bounds espeak-ng's output (30 s at its 22.05 kHz).
const maxSpeechSamples = 30 * 22050

// EspeakConfig configures an Espeak.
type EspeakConfig struct {
	// Binary is the espeak-ng executable, looked up on PATH (default
	// "espeak-ng"). When it cannot be found, Speak returns ErrNoSpeech.
	Binary string
	// CacheEntries bounds the texts kept (default 256); the oldest goes
	// first.
	CacheEntries int
	// Timeout bounds one synthesis (default 10 s).
	Timeout time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// Espeak speaks text at run time with espeak-ng, in the catalogue's voice
// for the language, and returns it in the prompts' format (8 kHz µ-law,
// trimmed, normalised to -3 dBFS, with the prompts' lead and tail
// silence), so it joins Sequence output seamlessly. Results are cached
// per language and text. It is safe for concurrent use.
type Espeak struct {
	bin     string // "" when absent
	timeout time.Duration
	max     int
	log     *slog.Logger

	mu    sync.Mutex
	cache map[speechKey][]byte
	order []speechKey
	runs  int // syntheses run (for tests)
}

type speechKey struct{ lang, text string }

// NewEspeak finds the espeak-ng binary. It never fails: without the
// binary every Speak returns ErrNoSpeech (Available says so up front).
func NewEspeak(cfg EspeakConfig) *Espeak {
	if cfg.Binary == "" {
		cfg.Binary = "espeak-ng"
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Espeak{timeout: cfg.Timeout, max: cfg.CacheEntries, log: cfg.Logger, cache: map[speechKey][]byte{}}
	if p, err := exec.LookPath(cfg.Binary); err == nil {
		e.bin = p
	}
	return e
}

// Available reports whether espeak-ng was found.
func (e *Espeak) Available() bool { return e.bin != "" }

// Syntheses is how many times espeak-ng has run (cache misses).
func (e *Espeak) Syntheses() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs
}

// CleanSpeechText makes text safe and plain to speak: control characters
// become spaces, runs of space collapse, and the ends are trimmed.
func CleanSpeechText(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, text)
	return strings.Join(strings.Fields(text), " ")
}

// Speak returns text said in lang (NormalizeLang: unknown languages are
// spoken in DefaultLang's voice) as 8 kHz µ-law samples, a fresh copy.
func (e *Espeak) Speak(ctx context.Context, lang, text string) ([]byte, error) {
	text = CleanSpeechText(text)
	if text == "" || len(text) > MaxSpeechText {
		return nil, fmt.Errorf("%w: %d bytes", ErrSpeechText, len(text))
	}
	if e.bin == "" {
		return nil, ErrNoSpeech
	}
	lang = NormalizeLang(lang)
	key := speechKey{lang, text}
	e.mu.Lock()
	if s, ok := e.cache[key]; ok {
		e.mu.Unlock()
		return bytes.Clone(s), nil
	}
	e.runs++
	e.mu.Unlock()

	v := voiceFor(lang)
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	var out, errOut bytes.Buffer
	// "--" ends the options: the text cannot be taken for one.
	cmd := exec.CommandContext(ctx, e.bin, "-v", v.Name, "-s", fmt.Sprint(v.Speed), "--stdout", "--", text)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: espeak-ng: %w: %s", ErrSpeech, err, strings.TrimSpace(errOut.String()))
	}
	s, err := speechFromWAV(out.Bytes())
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if _, ok := e.cache[key]; !ok {
		if len(e.order) >= e.max {
			delete(e.cache, e.order[0])
			e.order = e.order[1:]
		}
		e.cache[key] = s
		e.order = append(e.order, key)
	}
	e.mu.Unlock()
	e.log.Debug("prompts: spoke text", "lang", lang, "chars", len(text), "ms", len(s)/8)
	return bytes.Clone(s), nil
}

// voiceFor is the catalogue voice of a normalised language.
func voiceFor(lang string) Voice {
	for _, v := range voices {
		if v.Lang == lang {
			return v
		}
	}
	return voices[0]
}

// speechFromWAV converts espeak-ng's mono 16-bit WAV to a prompt.
func speechFromWAV(b []byte) ([]byte, error) {
	fixStreamedSizes(b)
	rd, err := wav.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpeech, err)
	}
	if rd.Channels != 1 || rd.SampleRate < SampleRate {
		return nil, fmt.Errorf("%w: want mono at %d Hz or more, have %d ch %d Hz", ErrSpeech, SampleRate, rd.Channels, rd.SampleRate)
	}
	ch, err := rd.ReadAllPCM(maxSpeechSamples)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpeech, err)
	}
	s := SpeechToPrompt(ch[0], rd.SampleRate)
	if s == nil {
		return nil, fmt.Errorf("%w: nothing audible", ErrSpeech)
	}
	return s, nil
}

// fixStreamedSizes corrects, in place, the sizes of a WAV file written to
// a pipe: espeak-ng --stdout cannot seek back, so its RIFF and data
// chunk sizes are placeholders larger than what follows.
func fixStreamedSizes(b []byte) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" {
		return
	}
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-8))
	for off := 12; off+8 <= len(b); {
		size := int64(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		if string(b[off:off+4]) == "data" {
			if rest := int64(len(b) - off - 8); size > rest {
				binary.LittleEndian.PutUint32(b[off+4:off+8], uint32(rest))
			}
			return
		}
		if size > int64(len(b)) {
			return
		}
		off += 8 + int(size+size%2)
	}
}

// Shaping of run-time speech, the same as the generator's sox effects
// (gen: "silence 1 0.01 -45d reverse silence 1 0.01 -45d reverse gain -n
// -3 pad 0.05 0.12").
const (
	trimDBFS    = -45.0
	peakDBFS    = -3.0
	leadSamples = SampleRate * 50 / 1000
	tailSamples = SampleRate * 120 / 1000
	// cutoffHz is the resampler's low-pass edge, under 8 kHz's Nyquist.
	cutoffHz = 3600.0
	// halfTaps is the windowed-sinc filter's half length in input samples.
	halfTaps = 24
)

// SpeechToPrompt turns linear speech sampled at rate into a prompt: it
// low-pass filters and resamples to 8 kHz, trims leading and trailing
// silence (under -45 dBFS), normalises the peak to -3 dBFS, pads 50 ms of
// lead and 120 ms of tail silence and encodes µ-law. It returns nil when
// nothing is above the silence threshold.
func SpeechToPrompt(pcm []int16, rate int) []byte {
	x := Resample(pcm, rate, SampleRate)
	thr := math.Pow(10, trimDBFS/20) * 32768
	first, last := -1, -1
	for i, v := range x {
		if math.Abs(v) >= thr {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil
	}
	x = x[first : last+1]
	var peak float64
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	gain := math.Pow(10, peakDBFS/20) * 32767 / peak
	out := make([]byte, 0, leadSamples+len(x)+tailSamples)
	for range leadSamples {
		out = append(out, g711.EncodeUlaw(0))
	}
	for _, v := range x {
		out = append(out, g711.EncodeUlaw(int16(math.Round(max(-32768, min(32767, v*gain))))))
	}
	for range tailSamples {
		out = append(out, g711.EncodeUlaw(0))
	}
	return out
}

// Resample converts pcm from rate `from` to rate `to` by windowed-sinc
// (Blackman) interpolation with a low-pass at cutoffHz (or 0.45 of the
// lower rate, whichever is lower), so that speech above the new Nyquist
// frequency does not alias.
func Resample(pcm []int16, from, to int) []float64 {
	if from <= 0 || to <= 0 || len(pcm) == 0 {
		return nil
	}
	n := int(int64(len(pcm)) * int64(to) / int64(from))
	out := make([]float64, n)
	fc := min(cutoffHz, 0.45*float64(min(from, to))) / float64(from) // cycles per input sample
	step := float64(from) / float64(to)
	for i := range out {
		t := float64(i) * step
		c := int(t)
		var sum float64
		for k := c - halfTaps + 1; k <= c+halfTaps; k++ {
			if k < 0 || k >= len(pcm) {
				continue
			}
			d := t - float64(k)
			w := 0.42 + 0.5*math.Cos(math.Pi*d/halfTaps) + 0.08*math.Cos(2*math.Pi*d/halfTaps)
			if math.Abs(d) >= halfTaps {
				w = 0
			}
			sum += float64(pcm[k]) * 2 * fc * sinc(2*fc*d) * w
		}
		out[i] = sum
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// Beep is the tone before the hotline records a name: 1 kHz for 250 ms
// at -9 dBFS with 10 ms ramps, 8 kHz µ-law.
func Beep() []byte {
	const n, ramp = SampleRate / 4, SampleRate / 100
	amp := math.Pow(10, -9.0/20) * 32767
	out := make([]byte, n)
	for i := range out {
		g := 1.0
		if i < ramp {
			g = float64(i) / ramp
		} else if i >= n-ramp {
			g = float64(n-1-i) / ramp
		}
		out[i] = g711.EncodeUlaw(int16(amp * g * math.Sin(2*math.Pi*1000*float64(i)/SampleRate)))
	}
	return out
}
