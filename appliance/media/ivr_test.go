package media

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/appliance/dtmf"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/tone"
)

// ivrSession opens an unrecorded session with only leg A set and
// receiving, as the IVR does when the IAD port calls in.
func ivrSession(t *testing.T, pt uint8) (*Session, *peer) {
	t.Helper()
	m := newManager(t, "")
	s, err := m.NewSession("ivr-"+strings.ReplaceAll(t.Name(), "/", "-"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pa := phone(t)
	if err := s.SetRemote(LegA, pa.LocalAddr(), pt); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(LegA); err != nil {
		t.Fatal(err)
	}
	return s, pa
}

// toneUlaw returns n µ-law samples of a sine at hz.
func toneUlaw(n int, hz float64) []byte {
	pcm := make([]int16, n)
	tone.Sine(pcm, hz, 8000, 12000, 0)
	out := make([]byte, n)
	g711.EncodeUlawSlice(out, pcm)
	return out
}

// checkStream asserts hdrs are one RTP stream: same SSRC, consecutive
// sequence numbers, timestamps 160 apart, marker on the first only.
func checkStream(t *testing.T, hdrs []rtp.Header, pt uint8) {
	t.Helper()
	for i, h := range hdrs {
		if h.PayloadType != pt || h.SSRC != hdrs[0].SSRC || h.Marker != (i == 0) {
			t.Fatalf("packet %d: pt %d ssrc %x marker %v (first ssrc %x)", i, h.PayloadType, h.SSRC, h.Marker, hdrs[0].SSRC)
		}
		if i > 0 {
			if h.SequenceNumber != hdrs[i-1].SequenceNumber+1 || h.Timestamp != hdrs[i-1].Timestamp+160 {
				t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, h.SequenceNumber, h.Timestamp, hdrs[i-1].SequenceNumber, hdrs[i-1].Timestamp)
			}
		}
	}
}

func TestPlayBeforeBridge(t *testing.T) {
	for _, tc := range []struct {
		name string
		pt   uint8
	}{{"pcmu", PayloadPCMU}, {"pcma", PayloadPCMA}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, pa := ivrSession(t, tc.pt)
			ctx := context.Background()
			audio := toneUlaw(8000-37, 1000) // not a whole number of packets
			start := time.Now()
			if err := s.Play(ctx, LegA, g711.Ulaw, audio); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < 900*time.Millisecond {
				t.Fatalf("1 s of audio played in %v: not paced", el)
			}
			testkit.Eventually(t, waitPatience, "50 packets", func() bool { return received(pa) >= 50 })
			hdrs := pa.Headers()
			if len(hdrs) != 50 {
				t.Fatalf("%d packets for 7963 samples, want 50", len(hdrs))
			}
			checkStream(t, hdrs, tc.pt)
			if _, from := pa.Received(); from != s.LocalAddr(LegA) {
				t.Fatalf("prompt came from %v, want leg A's address %v", from, s.LocalAddr(LegA))
			}
			// The audio is what was played, in the leg's law, padded with silence.
			got := pa.Audio()
			if len(got) != 8000 {
				t.Fatalf("%d samples received", len(got))
			}
			law := lawOf(tc.pt)
			for i, u := range audio {
				want := g711.DecodeUlaw(u)
				if d := math.Abs(float64(got[i]) - float64(want)); d > math.Abs(float64(want))/8+40 {
					t.Fatalf("sample %d: %d, want about %d", i, got[i], want)
				}
			}
			for _, v := range got[len(audio):] {
				if law.Encode(v) != law.Encode(0) && math.Abs(float64(v)) > 8 {
					t.Fatalf("padding is not silence: %d", v)
				}
			}
			if tc.pt == PayloadPCMU && !bytes.Equal(encodeAll(got[:len(audio)], g711.Ulaw), audio) {
				t.Fatal("PCMU leg: payload bytes differ from the prompt")
			}

			// A second prompt right after continues the stream.
			if err := s.Play(ctx, LegA, g711.Ulaw, audio[:1600]); err != nil {
				t.Fatal(err)
			}
			// And one after a pause: the timestamp moves on with the pause.
			time.Sleep(300 * time.Millisecond) // real time on purpose: the pause itself
			if err := s.Play(ctx, LegA, g711.Ulaw, audio[:1600]); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, waitPatience, "70 packets", func() bool { return received(pa) >= 70 })
			hdrs = pa.Headers()
			checkStream(t, hdrs[50:60], tc.pt)
			checkStream(t, hdrs[60:70], tc.pt)
			last, next := hdrs[49], hdrs[50]
			if next.SSRC != last.SSRC || next.SequenceNumber != last.SequenceNumber+1 {
				t.Fatalf("second prompt: ssrc %x seq %d after ssrc %x seq %d", next.SSRC, next.SequenceNumber, last.SSRC, last.SequenceNumber)
			}
			if d := next.Timestamp - last.Timestamp; d == 0 || d%160 != 0 || d > 160*10 {
				t.Fatalf("back-to-back prompt: timestamp advanced by %d", d)
			}
			last, next = hdrs[59], hdrs[60]
			if next.SequenceNumber != last.SequenceNumber+1 || next.SSRC != last.SSRC {
				t.Fatal("third prompt does not continue the sequence")
			}
			if d := next.Timestamp - last.Timestamp; d%160 != 0 || d < 160*15 || d > 160*500 {
				t.Fatalf("after a 300 ms pause the timestamp advanced by %d, want about %d", d, 160*16)
			}
			if st := s.Stats(LegA); st.Sent != 70 {
				t.Fatalf("Stats(A).Sent = %d", st.Sent)
			}
		})
	}
}

func encodeAll(pcm []int16, law g711.Law) []byte {
	out := make([]byte, len(pcm))
	for i, v := range pcm {
		out[i] = law.Encode(v)
	}
	return out
}

func TestPlayInterruptedAndErrors(t *testing.T) {
	s, pa := ivrSession(t, PayloadPCMU)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Play(ctx, LegA, g711.Ulaw, toneUlaw(5*8000, 500)) }()
	testkit.Eventually(t, waitPatience, "the prompt to start", func() bool { return received(pa) >= 5 })
	// Timed from the cancel, not from Play: a loaded machine may take a
	// while to start the prompt.
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Play = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Play did not stop on cancel")
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("cancelled 5 s prompt took %v to stop", el)
	}
	n := received(pa)
	if n >= 250 {
		t.Fatalf("%d packets: the prompt was not interrupted", n)
	}
	// The next prompt continues the stream.
	if err := s.Play(context.Background(), LegA, g711.Ulaw, toneUlaw(320, 500)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "two more packets", func() bool { return received(pa) >= n+2 })
	hdrs := pa.Headers()
	if a, b := hdrs[n-1], hdrs[n]; b.SequenceNumber != a.SequenceNumber+1 || b.SSRC != a.SSRC || (b.Timestamp-a.Timestamp)%160 != 0 || !b.Marker {
		t.Fatalf("after interruption: %+v then %+v", a, b)
	}

	if err := s.Play(context.Background(), LegB, g711.Ulaw, toneUlaw(160, 500)); !errors.Is(err, ErrNoRemote) {
		t.Errorf("Play to a leg without remote: %v", err)
	}
	if err := s.Listen(LegB); !errors.Is(err, ErrNoRemote) {
		t.Errorf("Listen without remote: %v", err)
	}
	if err := s.Play(context.Background(), LegA, g711.Law(0), nil); !errors.Is(err, ErrPayloadType) {
		t.Errorf("Play with no law: %v", err)
	}
	if err := s.ReportDigit(LegA, 'x'); !errors.Is(err, ErrKey) {
		t.Errorf("ReportDigit('x'): %v", err)
	}
	if err := s.ReportDigit(LegA, 'b'); err != nil {
		t.Fatal(err)
	}
	if d := <-s.Digits(LegA); d.Key != 'B' || d.Source != dtmf.SourceINFO || d.Leg != LegA {
		t.Errorf("reported digit: %+v", d)
	}

	// Close ends a prompt in progress, closes Digits, and refuses more.
	done = make(chan error, 1)
	go func() { done <- s.Play(context.Background(), LegA, g711.Ulaw, toneUlaw(10*8000, 500)) }()
	testkit.Eventually(t, waitPatience, "the prompt to start", func() bool { return received(pa) >= n+10 })
	if _, err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Play during Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Play did not stop on Close")
	}
	if _, ok := <-s.Digits(LegA); ok {
		t.Error("Digits channel not closed by Close")
	}
	if _, ok := <-s.Digits(LegB); ok {
		t.Error("Digits after Close is not a closed channel")
	}
	if err := s.Play(context.Background(), LegA, g711.Ulaw, toneUlaw(160, 500)); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close: %v", err)
	}
	if err := s.ReportDigit(LegA, '1'); !errors.Is(err, ErrClosed) {
		t.Errorf("ReportDigit after Close: %v", err)
	}
}

// sendEvent sends one RFC 4733 press of key as a typical gateway does:
// four updates and three end packets sharing a timestamp, plus (when
// retransmit) a late copy of the end packet after the press.
func sendEvent(t *testing.T, p *peer, to netip.AddrPort, pt uint8, key rune, retransmit bool) {
	t.Helper()
	code, ok := dtmf.CodeOf(key)
	if !ok {
		t.Fatalf("key %q", key)
	}
	for i := 1; i <= 4; i++ {
		if err := p.send(to, pt, i == 1, dtmf.Event{Code: code, Volume: 10, Duration: uint16(i * 160)}.Marshal()); err != nil {
			t.Fatal(err)
		}
	}
	end := dtmf.Event{Code: code, End: true, Volume: 10, Duration: 800}.Marshal()
	for range 3 {
		if err := p.send(to, pt, false, end); err != nil {
			t.Fatal(err)
		}
	}
	if retransmit {
		if err := p.send(to, pt, false, end); err != nil {
			t.Fatal(err)
		}
	}
	p.ts += 1600
}

// sendTones sends keys as in-band tones in G.711 audio packets (70 ms
// tone, 70 ms silence each), unpaced: the detector works on the packets'
// samples, not on their arrival times.
func sendTones(t *testing.T, p *peer, to netip.AddrPort, pt uint8, keys string) int {
	t.Helper()
	law := lawOf(pt)
	var pcm []int16
	for _, k := range keys {
		i := strings.IndexRune("123A456B789C*0#D", k)
		rows, cols := []float64{697, 770, 852, 941}, []float64{1209, 1336, 1477, 1633}
		a, b := make([]int16, 560), make([]int16, 560)
		tone.Sine(a, rows[i/4], 8000, 7000, 0)
		tone.Sine(b, cols[i%4], 8000, 7000, 0)
		for j := range a {
			pcm = append(pcm, a[j]+b[j])
		}
		pcm = append(pcm, make([]int16, 560)...)
	}
	n := 0
	for len(pcm) > 0 {
		chunk := pcm[:min(160, len(pcm))]
		pcm = pcm[len(chunk):]
		if err := p.send(to, pt, false, encodeAll(chunk, law)); err != nil {
			t.Fatal(err)
		}
		p.ts += 160
		n++
		if n%20 == 0 {
			time.Sleep(time.Millisecond) // keep the socket buffer from overflowing
		}
	}
	return n
}

// collect reads want digits from ch, failing after a generous timeout.
func collect(t *testing.T, ch <-chan Digit, want int) []Digit {
	t.Helper()
	var got []Digit
	deadline := time.After(15 * time.Second)
	for len(got) < want {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("Digits closed after %v", got)
			}
			got = append(got, d)
		case <-deadline:
			t.Fatalf("timed out with digits %v", got)
		}
	}
	return got
}

func keysOf(ds []Digit) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteRune(d.Key)
	}
	return b.String()
}

// noMore asserts nothing else is waiting on ch once the leg has received
// n packets (so every packet has been inspected).
func noMore(t *testing.T, s *Session, l Leg, n uint64, ch <-chan Digit) {
	t.Helper()
	testkit.Eventually(t, waitPatience, "all packets received", func() bool { return s.Stats(l).Packets >= n })
	select {
	case d := <-ch:
		t.Fatalf("extra digit %+v", d)
	default:
	}
}

func TestDigitsRFC4733BeforeBridge(t *testing.T) {
	s, pa := ivrSession(t, PayloadPCMU)
	s.SetEventPayloadType(LegA, 96) // the IAD offered telephone-event as 96
	ch := s.Digits(LegA)
	if s.Digits(LegA) != ch {
		t.Fatal("Digits returned a new channel")
	}
	for _, k := range dtmf.Keys {
		sendEvent(t, pa, s.LocalAddr(LegA), 96, k, k == '5')
	}
	got := collect(t, ch, 16)
	if keysOf(got) != dtmf.Keys {
		t.Fatalf("digits %q, want %q", keysOf(got), dtmf.Keys)
	}
	for _, d := range got {
		if d.Source != dtmf.SourceRFC4733 || d.Leg != LegA || d.At.IsZero() {
			t.Fatalf("digit %+v", d)
		}
	}
	noMore(t, s, LegA, 16*7+1, ch)
	// Nothing was relayed: there is no B leg and the call is not bridged.
	if st := s.Stats(LegB); st.Sent != 0 || st.Packets != 0 {
		t.Fatalf("leg B stats %+v", st)
	}
}

func TestDigitsInBand(t *testing.T) {
	for _, pt := range []uint8{PayloadPCMU, PayloadPCMA} {
		t.Run(lawOf(pt).String(), func(t *testing.T) {
			t.Parallel()
			s, pa := ivrSession(t, pt)
			ch := s.Digits(LegA)
			const keys = "1590#*D"
			n := sendTones(t, pa, s.LocalAddr(LegA), pt, keys)
			got := collect(t, ch, len(keys))
			if keysOf(got) != keys {
				t.Fatalf("digits %q, want %q", keysOf(got), keys)
			}
			for _, d := range got {
				if d.Source != dtmf.SourceInBand {
					t.Fatalf("digit %+v", d)
				}
			}
			noMore(t, s, LegA, uint64(n), ch)

			// Once the gateway sends telephone-events, tones in the audio are
			// not also reported (no double digits from gateways that send both).
			sendEvent(t, pa, s.LocalAddr(LegA), PayloadTelephoneEvent, '7', false)
			n += 7
			if d := collect(t, ch, 1)[0]; d.Key != '7' || d.Source != dtmf.SourceRFC4733 {
				t.Fatalf("event digit %+v", d)
			}
			n += sendTones(t, pa, s.LocalAddr(LegA), pt, "7")
			noMore(t, s, LegA, uint64(n), ch)
		})
	}
}

// The IVR talks to leg A, then the call is bridged: relaying starts, keys
// are still reported and still relayed to the other party, and a
// recorded call records both parties but not the prompts.
func TestBridgedDigitsRelayedAndPromptsHeldBack(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir)
	s, err := m.NewSession("bridged-ivr", true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pa, pb := phone(t), phone(t)
	if err := s.SetRemote(LegA, pa.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(LegA); err != nil {
		t.Fatal(err)
	}
	digits := s.Digits(LegA)
	ctx := context.Background()

	// IVR phase: the prompt reaches A; A's key reaches the IVR.
	tapCard, err := prompts.Get("en", prompts.TapCard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, LegA, g711.Ulaw, tapCard[:1600]); err != nil {
		t.Fatal(err)
	}
	sendEvent(t, pa, s.LocalAddr(LegA), PayloadTelephoneEvent, '4', false)
	if d := collect(t, digits, 1)[0]; d.Key != '4' {
		t.Fatalf("IVR digit %+v", d)
	}
	// Every packet of that press has been handled before bridging (else
	// its last end packets would be relayed to B once bridged).
	testkit.Eventually(t, waitPatience, "the press's 7 packets", func() bool { return s.Stats(LegA).Packets >= 7 })
	if err := s.Start(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Start without leg B: %v", err)
	}

	// Bridge.
	if err := s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	sendEvent(t, pa, s.LocalAddr(LegA), PayloadTelephoneEvent, '8', false)
	if d := collect(t, digits, 1)[0]; d.Key != '8' {
		t.Fatalf("bridged digit %+v", d)
	}
	testkit.Eventually(t, waitPatience, "the event relayed to B", func() bool { return pb.Stats().Digits == "8" })
	if pb.Stats().Digits != "8" {
		t.Fatalf("B heard keys %q; the IVR-phase key must not have been relayed", pb.Stats().Digits)
	}

	// A talks (440 Hz) for 2 s; B talks (300 Hz); meanwhile a 600 ms
	// warning (1 kHz) plays to both.
	talk, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	talked := make(chan error, 2)
	go func() { talked <- pa.Send(talk, s.LocalAddr(LegA), PayloadPCMU, 440, 2*time.Second) }()
	go func() { talked <- pb.Send(talk, s.LocalAddr(LegB), PayloadPCMU, 300, 2*time.Second) }()
	testkit.Eventually(t, waitPatience, "relayed audio at B", func() bool { return s.Stats(LegB).Sent > 10 })
	warning := toneUlaw(4800, 1000)
	if err := s.Announce(ctx, g711.Ulaw, warning); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-talked; err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, waitPatience, "A's audio at B", func() bool { return s.Stats(LegA).Packets >= 100+8 && s.Stats(LegB).Packets >= 100 })

	// At each party, the warning's packets form one run: no relayed
	// packet is interleaved with them.
	for name, p := range map[string]*peer{"A": pa, "B": pb} {
		hdrs := p.Headers()
		// The prompt stream is the one that is not the other peer's; the
		// warning is its last talkspurt (it starts with a marker).
		other := pb.ssrc
		if p == pb {
			other = pa.ssrc
		}
		first, last := -1, -1
		for i, h := range hdrs {
			if h.PayloadType != PayloadPCMU || h.SSRC == other {
				continue
			}
			if h.Marker {
				first = i
			}
			last = i
		}
		if first < 0 {
			t.Fatalf("%s: no prompt received", name)
		}
		var prompt []rtp.Header
		for i := first; i <= last; i++ {
			if h := hdrs[i]; h.SSRC != other {
				prompt = append(prompt, h)
			} else if h.PayloadType == PayloadPCMU {
				t.Errorf("%s: relayed packet %d interleaved with the prompt", name, i)
			}
		}
		if len(prompt) != 30 {
			t.Fatalf("%s: %d warning packets, want 30", name, len(prompt))
		}
		// Other audio came before and after the warning: it was held back,
		// not stopped.
		if hdrs[first-1].SSRC != other || hdrs[len(hdrs)-1].SSRC != other {
			t.Errorf("%s: no relayed audio around the warning", name)
		}
		checkStream(t, prompt, PayloadPCMU)
	}

	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, left, right := readRecording(t, res.Path)
	// Both parties are recorded throughout; the 1 kHz warning is in
	// neither channel.
	for name, ch := range map[string][]int16{"left (A)": left, "right (B)": right} {
		want := 440.0
		if name == "right (B)" {
			want = 300
		}
		if f, _ := tone.Dominant(ch, 8000, 440, 300, 1000); f != want {
			t.Errorf("%s: dominant %v Hz, want %v", name, f, want)
		}
		for i := 0; i+800 <= len(ch); i += 800 {
			if p := tone.Power(ch[i:i+800], 1000, 8000); p > 0.001 {
				t.Fatalf("%s: the 1 kHz prompt is in the recording at %v (power %v)", name, time.Duration(i)*time.Second/8000, p)
			}
		}
	}
}

// After StopDigits a leg's packets are still received but no longer
// inspected: in-band tones and telephone-events produce no keys.
func TestStopDigits(t *testing.T) {
	s, pa := ivrSession(t, PayloadPCMU)
	ch := s.Digits(LegA)
	n := sendTones(t, pa, s.LocalAddr(LegA), PayloadPCMU, "1")
	if d := collect(t, ch, 1)[0]; d.Key != '1' {
		t.Fatalf("before StopDigits: %+v", d)
	}
	noMore(t, s, LegA, uint64(n), ch)
	s.StopDigits(LegA)
	n += sendTones(t, pa, s.LocalAddr(LegA), PayloadPCMU, "2")
	sendEvent(t, pa, s.LocalAddr(LegA), PayloadTelephoneEvent, '3', false)
	n += 7
	noMore(t, s, LegA, uint64(n), ch)
}
