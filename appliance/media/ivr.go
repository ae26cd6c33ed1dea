package media

// IVR support: playing prompts to a leg and hearing the keys its caller
// presses, before the call is bridged (the person in prison talking to
// the appliance alone, the called party hearing the announcement) and
// while it is bridged (time warnings).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/appliance/dtmf"
	"github.com/kinline/kinline/shared/audio/g711"
)

// Errors of the IVR functions.
var (
	ErrNoRemote = errors.New("media: leg has no remote yet (SetRemote first)")
	ErrKey      = errors.New("media: not a DTMF key")
)

// Playback pacing: one RTP packet per 20 ms of 8 kHz audio.
const (
	packetTime    = 20 * time.Millisecond
	packetSamples = 160
)

// DigitBuffer is how many heard keys a leg's Digits channel holds; keys
// beyond it, unread, are dropped (and logged) rather than stall the relay.
const DigitBuffer = 32

// Digit is a key pressed by the party on a leg.
type Digit struct {
	Leg    Leg
	Key    rune // '0'-'9', '*', '#', 'A'-'D'
	Source dtmf.Source
	At     time.Time
}

// legIVR is a leg's IVR state, part of leg. The fields are guarded by
// Session.mu except out, which only the holder of sem touches.
type legIVR struct {
	running bool      // a goroutine receives this leg's packets
	tap     *digitTap // nil until Digits or ReportDigit
	evPT    uint8     // telephone-event payload type; 0: PayloadTelephoneEvent
	playing int       // Plays in progress to this leg
	sem     chan struct{}
	out     outStream
	// promptPT is the G.711 payload type prompts are sent in on an Opus
	// leg (SetPromptPayloadType); hasPrompt is false until it is set.
	promptPT  uint8
	hasPrompt bool
	// consumed is the RFC 4733 event whose key the leg's tap delivered
	// last (Digits): once the tap is stopped (StopDigits) its remaining
	// packets (the event lasts as long as the key is held, then three
	// end packets) are not relayed to the other leg. The family's
	// accepting "1" was heard on the prisoner's phone otherwise.
	// Atomic: written by the tap, read by the relay.
	consumed atomic.Pointer[eventID]
}

// eventID names one RFC 4733 event: every packet of an event carries its
// stream's SSRC and the event's start timestamp (RFC 4733 section 2.5.1).
type eventID struct{ ssrc, ts uint32 }

// isConsumed reports whether pkt, a telephone-event on this leg, belongs
// to the event whose key was delivered to Digits.
func (v *legIVR) isConsumed(pkt *rtp.Packet) bool {
	id := v.consumed.Load()
	return id != nil && id.ssrc == pkt.SSRC && id.ts == pkt.Timestamp
}

func (v *legIVR) eventPT() uint8 {
	if v.evPT == 0 {
		return PayloadTelephoneEvent
	}
	return v.evPT
}

// outStream is the RTP stream the appliance sends on a leg for prompts:
// one SSRC for the session, sequence numbers continuing from prompt to
// prompt, and timestamps that advance with the time between prompts.
type outStream struct {
	started bool
	ssrc    uint32
	seq     uint16 // next sequence number
	ts      uint32 // timestamp of the next packet if sent right after the last
	end     time.Time
}

// Listen starts receiving leg l before the call is bridged, for an IVR
// that talks to one party alone: its packets are latched on and counted,
// and its keys reach Digits, but nothing is relayed or recorded until
// Start. The other leg may not exist yet. SetRemote(l) must come first.
func (s *Session) Listen(l Leg) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch lg := s.legs[l&1]; {
	case s.closed:
		return ErrClosed
	case !lg.set:
		return fmt.Errorf("%w: leg %v", ErrNoRemote, l)
	}
	return s.receiveLocked(l)
}

// SetEventPayloadType sets the RTP payload type of RFC 4733
// telephone-events on leg l, as negotiated in its SDP (default
// PayloadTelephoneEvent, 101).
func (s *Session) SetEventPayloadType(l Leg, pt uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legs[l&1].ivr.evPT = pt & 0x7f
}

// Digits returns the channel of keys pressed on leg l: RFC 4733 events
// (each press once, however many packets carry it), tones detected in
// the G.711 audio (only while the leg has sent no telephone-event: a
// gateway that sends events is trusted over the audio), and keys given
// to ReportDigit. Detection starts at the first call; later calls return
// the same channel. It works before and after Start, and the channel is
// closed when the session closes. Audio is only inspected in passing:
// nothing is kept, so privileged calls stay unrecorded.
func (s *Session) Digits(l Leg) <-chan Digit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tapLocked(l).ch
}

// StopDigits stops inspecting leg l for keys once the IVR no longer needs
// them (after the called party has accepted, say), so that DTMF detection
// leaves the relay's per-packet path for the rest of the call. The channel
// Digits returned is not closed (a packet already in flight may still
// deliver to it); it simply receives nothing more. A later Digits or
// ReportDigit starts a new one.
func (s *Session) StopDigits(l Leg) {
	s.mu.Lock()
	s.legs[l&1].ivr.tap = nil
	s.mu.Unlock()
}

func (s *Session) tapLocked(l Leg) *digitTap {
	lg := s.legs[l&1]
	if lg.ivr.tap == nil {
		lg.ivr.tap = &digitTap{leg: l & 1, s: s, ch: make(chan Digit, DigitBuffer), det: dtmf.NewDetector(dtmf.DetectorConfig{})}
		if s.closed {
			close(lg.ivr.tap.ch)
		}
	}
	return lg.ivr.tap
}

// ReportDigit delivers a key that arrived by signalling (a SIP INFO
// request on the leg's dialog, see dtmf.ParseINFO) on leg l's Digits
// channel, so the IVR reads one channel whatever the gateway sends.
func (s *Session) ReportDigit(l Leg, key rune) error {
	code, ok := dtmf.CodeOf(key)
	if !ok {
		return fmt.Errorf("%w: %q", ErrKey, key)
	}
	key, _ = dtmf.KeyOf(code)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.tapLocked(l).emit(Digit{Leg: l & 1, Key: key, Source: dtmf.SourceINFO, At: s.m.clk.Now()})
	return nil
}

// closeDigitsLocked closes the Digits channels once nothing sends on
// them any more (the receive goroutines have ended, s.closed is set).
func (s *Session) closeDigitsLocked() {
	for _, lg := range s.legs {
		if t := lg.ivr.tap; t != nil && !t.closed {
			t.closed = true
			close(t.ch)
		}
	}
}

// digitTap inspects one leg's received packets for keys. packet runs on
// the leg's receive goroutine only; emit also under Session.mu from
// ReportDigit; the channel is closed under Session.mu after the receive
// goroutine has ended.
type digitTap struct {
	leg    Leg
	s      *Session
	ch     chan Digit
	closed bool

	dec    dtmf.Decoder
	det    *dtmf.Detector
	events bool // telephone-events seen: in-band detection is off
	pcm    [maxPacket]int16
	keys   []rune
	// capture, while Capture runs, takes the leg's G.711 audio.
	capture atomic.Pointer[capture]
}

func (t *digitTap) emit(d Digit) {
	select {
	case t.ch <- d:
		t.s.log.Debug("media: key", "leg", d.Leg, "key", string(d.Key), "source", d.Source)
	default:
		t.s.log.Warn("media: key dropped: Digits channel full", "leg", d.Leg, "key", string(d.Key))
	}
}

func (t *digitTap) packet(pkt *rtp.Packet, audioPT, eventPT uint8, now time.Time) {
	switch pkt.PayloadType {
	case eventPT:
		u, err := t.dec.Feed(pkt.SSRC, pkt.Timestamp, pkt.Payload)
		if err != nil {
			t.s.log.Debug("media: telephone-event ignored", "leg", t.leg, "err", err)
			return
		}
		t.events = true
		if u.Begin {
			t.s.legs[t.leg].ivr.consumed.Store(&eventID{ssrc: pkt.SSRC, ts: pkt.Timestamp})
			t.emit(Digit{Leg: t.leg, Key: u.Key, Source: dtmf.SourceRFC4733, At: now})
		}
	case audioPT:
		law := lawOf(audioPT)
		if c := t.capture.Load(); c != nil {
			c.add(law, pkt.Payload)
		}
		if t.events {
			return
		}
		n := min(len(pkt.Payload), len(t.pcm))
		for i, b := range pkt.Payload[:n] {
			t.pcm[i] = law.Decode(b)
		}
		t.keys = t.det.Detect(t.keys[:0], t.pcm[:n])
		for _, k := range t.keys {
			t.emit(Digit{Leg: t.leg, Key: k, Source: dtmf.SourceInBand, At: now})
		}
	}
}

// Play sends audio (8 kHz G.711 samples in law) to leg l's party as RTP,
// one 20 ms packet at a time, in the leg's negotiated law (transcoding if
// needed), and returns once it has played out, or early with ctx's error
// when ctx ends (barge-in: cancel ctx when a key arrives) or ErrClosed
// when the session closes.
//
// It works before Start (only leg l needs SetRemote) and on a bridged
// call: while a prompt plays to a leg, the audio relayed to that leg from
// the other party is held back, so the listener hears one stream; the
// other direction, telephone-events and the recording carry on (prompts
// are not recorded). The packets form one RTP stream per leg: the same
// SSRC for every prompt, sequence numbers continuing, timestamps
// advancing with the time between prompts, the marker bit on each
// prompt's first packet. Plays to the same leg take turns.
func (s *Session) Play(ctx context.Context, l Leg, law g711.Law, audio []byte) error {
	if law != g711.Ulaw && law != g711.Alaw {
		return fmt.Errorf("%w: law %v", ErrPayloadType, law)
	}
	lg := s.legs[l&1]
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case !lg.set:
		s.mu.Unlock()
		return fmt.Errorf("%w: leg %v", ErrNoRemote, l)
	case lg.codec == CodecOpus && !lg.ivr.hasPrompt:
		s.mu.Unlock()
		return fmt.Errorf("%w: prompts are G.711 and leg %v uses Opus with no G.711 format negotiated beside it", ErrCodec, l)
	}
	if lg.ivr.sem == nil {
		lg.ivr.sem = make(chan struct{}, 1)
	}
	sem := lg.ivr.sem
	s.mu.Unlock()

	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	defer func() { <-sem }()
	s.mu.Lock()
	lg.ivr.playing++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		lg.ivr.playing--
		s.mu.Unlock()
	}()
	return s.play(ctx, l, law, audio)
}

// play runs a Play once it holds the leg's turn.
func (s *Session) play(ctx context.Context, l Leg, law g711.Law, audio []byte) error {
	lg := s.legs[l&1]
	out := &lg.ivr.out
	clk := s.m.clk
	start := clk.Now()
	if !out.started {
		out.started = true
		out.ssrc, out.seq, out.ts = rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
	} else if gap := start.Sub(out.end); gap > 0 {
		// Silence since the last prompt: the timestamp moves on with it.
		out.ts += uint32(gap/packetTime) * packetSamples
	}
	buf := make([]byte, 12+packetSamples)
	hdr := rtp.Header{Version: 2, SSRC: out.ssrc}
	n := (len(audio) + packetSamples - 1) / packetSamples
	made := 0 // packets generated: the stream's timeline has advanced by these
	defer func() { out.end = start.Add(time.Duration(made) * packetTime) }()
	for i := range n {
		if i > 0 {
			if err := s.sleepUntil(ctx, start.Add(time.Duration(i)*packetTime)); err != nil {
				return err
			}
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		pt, to := lg.pt, lg.remote
		if lg.codec == CodecOpus {
			pt = lg.ivr.promptPT
		}
		s.mu.Unlock()

		hdr.Marker = i == 0
		hdr.PayloadType = pt
		hdr.SequenceNumber, hdr.Timestamp = out.seq, out.ts
		hl, err := hdr.MarshalTo(buf)
		if err != nil {
			return fmt.Errorf("media: play: %w", err)
		}
		payload := buf[hl : hl+packetSamples]
		chunk := audio[i*packetSamples : min(len(audio), (i+1)*packetSamples)]
		encode(payload, chunk, law, lawOf(pt))
		out.seq++
		out.ts += packetSamples
		made++
		if err := lg.sock.writeTo(buf[:hl+packetSamples], to); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			s.log.Debug("media: play send", "leg", l, "err", err)
			continue
		}
		s.mu.Lock()
		lg.stats.Sent++
		s.mu.Unlock()
	}
	return s.sleepUntil(ctx, start.Add(time.Duration(n)*packetTime))
}

// SetPromptPayloadType names the G.711 format (payload type 0 or 8) that
// leg l's SDP negotiated beside Opus: prompts to an Opus leg are sent in
// it, as their own RTP stream (RFC 3264 lets a sender switch among the
// formats of an answer; the prompt stream has its own SSRC and 8 kHz
// clock), while the relayed Opus is held back. Without it Play refuses
// an Opus leg with ErrCodec. It has no effect on a G.711 leg.
func (s *Session) SetPromptPayloadType(l Leg, pt uint8) error {
	if pt != PayloadPCMU && pt != PayloadPCMA {
		return fmt.Errorf("%w: %d", ErrPayloadType, pt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lg := s.legs[l&1]
	lg.ivr.promptPT, lg.ivr.hasPrompt = pt, true
	return nil
}

// ErrCapture: a capture was asked for where the appliance must not or
// cannot keep audio (the call is bridged, or the leg is Opus).
var ErrCapture = errors.New("media: capture not possible on this leg")

// Capture keeps what the party on leg l says for d (on the session's
// clock) or until d of audio has arrived, whichever comes first, and
// returns it as 8 kHz µ-law samples in arrival order. It is meant for
// the hotline's "record your name", when the person talks to the
// appliance alone: it works only between Listen and Start, on a G.711
// leg, so no audio of a bridged (possibly privileged) call can be taken
// with it. The leg's keys still reach Digits meanwhile.
func (s *Session) Capture(ctx context.Context, l Leg, d time.Duration) ([]byte, error) {
	s.mu.Lock()
	lg := s.legs[l&1]
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, ErrClosed
	case !lg.set:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: leg %v", ErrNoRemote, l)
	case s.started:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: the call is bridged", ErrCapture)
	case lg.codec == CodecOpus:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: leg %v uses Opus", ErrCapture, l)
	}
	c := &capture{max: int(d * SampleRateG711 / time.Second), full: make(chan struct{})}
	tap := s.tapLocked(l)
	tap.capture.Store(c)
	if err := s.receiveLocked(l); err != nil {
		tap.capture.CompareAndSwap(c, nil)
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()
	defer tap.capture.CompareAndSwap(c, nil)

	select {
	case <-c.full:
	case <-s.m.clk.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, ErrClosed
	}
	return c.take(), nil
}

// SampleRateG711 is the sample rate of G.711 audio (Play, Capture).
const SampleRateG711 = 8000

// capture gathers one Capture's audio.
type capture struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	full chan struct{}
	done bool
}

// add appends a packet's G.711 payload in law as µ-law.
func (c *capture) add(law g711.Law, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	p = p[:min(len(p), c.max-len(c.buf))]
	n := len(c.buf)
	c.buf = append(c.buf, p...)
	if law == g711.Alaw {
		g711.TranscodeAlawToUlaw(c.buf[n:], p)
	}
	if len(c.buf) >= c.max {
		c.done = true
		close(c.full)
	}
}

func (c *capture) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done {
		c.done = true
		close(c.full)
	}
	return c.buf
}

// encode writes src (in law from) into dst in law to, padding the rest of
// dst with silence.
func encode(dst, src []byte, from, to g711.Law) {
	switch {
	case from == to:
		copy(dst, src)
	case from == g711.Ulaw:
		g711.TranscodeUlawToAlaw(dst, src)
	default:
		g711.TranscodeAlawToUlaw(dst, src)
	}
	for i := len(src); i < len(dst); i++ {
		dst[i] = to.Silence()
	}
}

// sleepUntil waits on the session's clock until t, ctx's end or the
// session's close.
func (s *Session) sleepUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(s.m.clk.Now())
	if d <= 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return nil
	}
	select {
	case <-s.m.clk.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
}

// Announce plays audio to every leg that has a remote, at the same time
// (time warnings on a bridged call; before the call is bridged, only the
// legs set so far hear it). It returns when all have played out, with the
// errors joined.
func (s *Session) Announce(ctx context.Context, law g711.Law, audio []byte) error {
	s.mu.Lock()
	var legs []Leg
	for _, l := range []Leg{LegA, LegB} {
		if s.legs[l].set {
			legs = append(legs, l)
		}
	}
	s.mu.Unlock()
	if len(legs) == 0 {
		return ErrNoRemote
	}
	errs := make(chan error, len(legs))
	for _, l := range legs {
		go func() { errs <- s.Play(ctx, l, law, audio) }()
	}
	var all []error
	for range legs {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}
