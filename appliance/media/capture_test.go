package media

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/tone"
)

// TestCaptureTakesLegAudioBeforeBridge: what the port says (A-law on
// the wire) comes back as µ-law, bounded by the duration; keys still
// reach Digits; after Start, and on Opus legs, Capture is refused.
func TestCaptureTakesLegAudioBeforeBridge(t *testing.T) {
	s, pa := ivrSession(t, PayloadPCMA)
	digits := s.Digits(LegA)
	pcm := make([]int16, 160)
	tone.Sine(pcm, 440, 8000, 9000, 0)
	frame := make([]byte, 160)
	g711.EncodeAlawSlice(frame, pcm)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Four times real time: d of audio arrives well before d passes, even
	// on a loaded machine that delays the sender.
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			_ = pa.send(s.LocalAddr(LegA), PayloadPCMA, i == 0, frame)
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}()
	got, err := s.Capture(context.Background(), LegA, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 3000 || len(got) > 4000 {
		t.Fatalf("captured %d samples of 0.5 s", len(got))
	}
	want := make([]byte, 160)
	g711.TranscodeAlawToUlaw(want, frame)
	for i := 0; i+160 <= len(got); i += 160 {
		if !bytes.Equal(got[i:i+160], want) {
			t.Fatalf("captured frame at %d is not the port's audio as µ-law", i)
		}
	}
	cancel()
	if err := s.ReportDigit(LegA, '5'); err != nil {
		t.Fatal(err)
	}
	if d := <-digits; d.Key != '5' {
		t.Fatalf("digit %+v", d)
	}
	if _, err := s.Capture(context.Background(), LegB, time.Second); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("capture of a leg without remote: %v", err)
	}
	pb := phone(t)
	if err := s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Capture(context.Background(), LegA, time.Second); !errors.Is(err, ErrCapture) {
		t.Fatalf("capture on a bridged call: %v, want ErrCapture", err)
	}
}

// TestPromptsOnOpusLegUseTheCompanionG711: an Opus leg refuses prompts
// until the G.711 format negotiated beside Opus is named; then the
// prompt arrives in that payload type, as its own stream, and Capture
// stays refused (no Opus decoding for names).
func TestPromptsOnOpusLegUseTheCompanionG711(t *testing.T) {
	m := newManager(t, "")
	s, err := m.NewSession("opus-prompt", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pa := phone(t)
	if err := s.SetRemoteCodec(LegA, pa.LocalAddr(), CodecOpus, 111); err != nil {
		t.Fatal(err)
	}
	audio := toneUlaw(800, 1000)
	if err := s.Play(context.Background(), LegA, g711.Ulaw, audio); !errors.Is(err, ErrCodec) {
		t.Fatalf("Play to an Opus leg without a G.711 companion: %v, want ErrCodec", err)
	}
	if err := s.SetPromptPayloadType(LegA, 111); !errors.Is(err, ErrPayloadType) {
		t.Fatalf("Opus as the prompt format: %v", err)
	}
	if err := s.SetPromptPayloadType(LegA, PayloadPCMA); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(context.Background(), LegA, g711.Ulaw, audio); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "5 packets", func() bool { return received(pa) >= 5 })
	hdrs := pa.Headers()
	checkStream(t, hdrs, PayloadPCMA)
	if _, err := s.Capture(context.Background(), LegA, time.Second); !errors.Is(err, ErrCapture) {
		t.Fatalf("capture on an Opus leg: %v, want ErrCapture", err)
	}
}
