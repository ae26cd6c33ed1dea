package prompts

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/tone"
)

// TestEspeakSpeaksNamesInPromptFormat runs the real espeak-ng: a
// prison's name in both languages comes back as a prompt-shaped µ-law
// clip (checkSpeech), the second request comes from the cache, and the
// languages sound different.
func TestEspeakSpeaksNamesInPromptFormat(t *testing.T) {
	testkit.NeedPeer(t, "espeak-ng", "espeak-ng")
	e := NewEspeak(EspeakConfig{})
	if !e.Available() {
		t.Fatal("espeak-ng is on PATH but NewEspeak did not find it")
	}
	ctx := context.Background()
	en, err := e.Speak(ctx, "en", "Northfield Prison")
	if err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, "en: Northfield Prison", en)
	es, err := e.Speak(ctx, "es-MX", "Northfield Prison")
	if err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, "es: Northfield Prison", es)
	if bytes.Equal(en, es) {
		t.Fatal("English and Spanish voices gave the same audio")
	}
	again, err := e.Speak(ctx, "en", "  Northfield\tPrison ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, en) || e.Syntheses() != 2 {
		t.Fatalf("cached text re-synthesised: %d runs, equal %v", e.Syntheses(), bytes.Equal(again, en))
	}
	// Text that looks like an option is spoken, not obeyed.
	if _, err := e.Speak(ctx, "en", "--version"); err != nil {
		t.Fatalf("option-like text: %v", err)
	}
}

func TestEspeakAbsentOrBadText(t *testing.T) {
	e := NewEspeak(EspeakConfig{Binary: "kinline-no-such-espeak"})
	if e.Available() {
		t.Fatal("a missing binary is available")
	}
	if _, err := e.Speak(context.Background(), "en", "Ana"); !errors.Is(err, ErrNoSpeech) {
		t.Fatalf("missing binary: %v, want ErrNoSpeech", err)
	}
	for _, bad := range []string{"", " \t\n", string(bytes.Repeat([]byte("a"), MaxSpeechText+1))} {
		if _, err := e.Speak(context.Background(), "en", bad); !errors.Is(err, ErrSpeechText) {
			t.Errorf("text of %d bytes: %v, want ErrSpeechText", len(bad), err)
		}
	}
	if got := CleanSpeechText("Ana\x00\x1b[31m  María\n"); got != "Ana [31m María" {
		t.Errorf("CleanSpeechText = %q", got)
	}
}

// TestResampleKeepsSpeechBandAndStopsAliases: a 1 kHz tone at 22.05 kHz
// is a 1 kHz tone at 8 kHz; a 6 kHz tone (which would alias to 2 kHz) is
// filtered out.
func TestResampleKeepsSpeechBandAndStopsAliases(t *testing.T) {
	in := make([]int16, 22050)
	tone.Sine(in, 1000, 22050, 16000, 0)
	out := Resample(in, 22050, 8000)
	if len(out) != 8000 {
		t.Fatalf("%d samples, want 8000", len(out))
	}
	pcm := make([]int16, len(out))
	for i, v := range out {
		pcm[i] = int16(v)
	}
	mid := pcm[100 : len(pcm)-100]
	if f, _ := tone.Dominant(mid, 8000, 500, 1000, 2000, 3000); f != 1000 {
		t.Fatalf("dominant %v Hz, want 1000", f)
	}
	if r := tone.RMS(mid); math.Abs(r-16000.0/32768/math.Sqrt2) > 0.02 {
		t.Fatalf("pass-band level %.3f, want %.3f", r, 16000.0/32768/math.Sqrt2)
	}
	tone.Sine(in, 6000, 22050, 16000, 0)
	out = Resample(in, 22050, 8000)
	for i, v := range out {
		pcm[i] = int16(v)
	}
	if r := tone.RMS(pcm[100 : len(pcm)-100]); r > 0.005 {
		t.Fatalf("6 kHz tone leaks through at %.4f of full scale (aliasing)", r)
	}
}

func TestSpeechToPromptShape(t *testing.T) {
	in := make([]int16, 22050*2)
	tone.Sine(in[11025:33075], 440, 22050, 3000, 0) // 1 s of tone inside 2 s
	p := SpeechToPrompt(in, 22050)
	checkSpeech(t, "tone", p)
	if n := len(p); n < 8000+leadSamples || n > 8000+leadSamples+tailSamples+100 {
		t.Fatalf("%d samples: silence not trimmed to the prompt padding", n)
	}
	if SpeechToPrompt(make([]int16, 22050), 22050) != nil {
		t.Fatal("silence became a prompt")
	}
	b := Beep()
	pcm := make([]int16, len(b))
	g711.DecodeUlawSlice(pcm, b)
	if f, _ := tone.Dominant(pcm, 8000, 440, 1000, 2000); f != 1000 || len(b) != 2000 {
		t.Fatalf("beep: %v Hz, %d samples", f, len(b))
	}
}
