// Package rtpphone is a tiny RTP endpoint for simulators and tests: it sends
// a G.711 sine tone in real-time paced 20 ms packets, sends RFC 4733
// telephone-events (DTMF), and counts, decodes and keeps the last second or
// so of what it receives. It is not a softphone: there is no jitter buffer,
// no RTCP and no SIP.
package rtpphone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/clock"
)

// Payload types the phone understands.
const (
	PayloadPCMU  uint8 = 0
	PayloadPCMA  uint8 = 8
	PayloadEvent uint8 = 101 // RFC 4733 telephone-event, as Kinline negotiates it
)

const (
	sampleRate    = 8000
	frameSamples  = 160 // 20 ms at 8 kHz
	frameDuration = 20 * time.Millisecond
	audioKeep     = 2 * sampleRate // samples of received audio kept
)

// Errors of the phone.
var (
	ErrClosed       = errors.New("rtpphone: closed")
	ErrPayloadType  = errors.New("rtpphone: unsupported payload type")
	ErrDigit        = errors.New("rtpphone: not a DTMF digit")
	ErrInvalidInput = errors.New("rtpphone: invalid argument")
)

// Option configures a Phone.
type Option func(*Phone)

// WithClock sets the clock that paces sending (default clock.Real).
func WithClock(c clock.Clock) Option { return func(p *Phone) { p.clk = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Phone) { p.log = l } }

// Stats is a snapshot of what a phone has received.
type Stats struct {
	Packets     uint64         // valid RTP packets received
	Bytes       uint64         // payload bytes of those packets
	Events      uint64         // telephone-event packets among them
	Invalid     uint64         // datagrams that were not RTP
	First       netip.AddrPort // source of the first valid packet
	Last        netip.AddrPort // source of the latest valid packet
	PayloadType uint8          // payload type of the latest audio packet
	Digits      string         // DTMF digits received (one per event, on its end)
}

// Phone is one RTP endpoint bound to a UDP socket. Its methods are safe for
// concurrent use; Send and SendDTMF calls are serialised so that sequence
// numbers and timestamps stay continuous.
type Phone struct {
	conn *net.UDPConn
	clk  clock.Clock
	log  *slog.Logger

	sendMu sync.Mutex
	ssrc   uint32
	seq    uint16
	ts     uint32
	marker bool // next audio packet starts a talkspurt

	mu        sync.Mutex
	st        Stats
	lastEvTS  uint32
	evEnded   bool
	haveEv    bool
	audio     []int16 // ring of the latest received samples
	audioPos  int
	audioFull bool

	done   chan struct{}
	closed sync.Once
}

// Listen opens a phone on addr (use port 0 for any free port) and starts
// receiving.
func Listen(addr netip.AddrPort, opts ...Option) (*Phone, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("rtpphone: listen %s: %w", addr, err)
	}
	p := &Phone{
		conn:   conn,
		clk:    clock.Real{},
		log:    slog.New(slog.DiscardHandler),
		ssrc:   rand.Uint32(),
		seq:    uint16(rand.Uint32()),
		ts:     rand.Uint32(),
		marker: true,
		audio:  make([]int16, audioKeep),
		done:   make(chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	go p.readLoop()
	return p, nil
}

// LocalAddr is the address the phone receives on (and sends from).
func (p *Phone) LocalAddr() netip.AddrPort {
	return p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SSRC is the synchronisation source the phone sends with.
func (p *Phone) SSRC() uint32 { return p.ssrc }

// Close stops the phone and releases its socket. It is idempotent.
func (p *Phone) Close() error {
	var err error
	p.closed.Do(func() {
		err = p.conn.Close()
		<-p.done
	})
	return err
}

// Send sends a sine tone of toneHz (0 for silence) at about -10 dBFS for
// dur, as 20 ms G.711 packets (payloadType 0 or 8) paced in real time, to
// remote. It returns when all packets are sent, or early with ctx's error.
func (p *Phone) Send(ctx context.Context, remote netip.AddrPort, payloadType uint8, toneHz float64, dur time.Duration) error {
	var law g711.Law
	switch payloadType {
	case PayloadPCMU:
		law = g711.Ulaw
	case PayloadPCMA:
		law = g711.Alaw
	default:
		return fmt.Errorf("%w: %d", ErrPayloadType, payloadType)
	}
	if toneHz < 0 || toneHz >= sampleRate/2 || dur < 0 {
		return fmt.Errorf("%w: tone %v Hz for %v", ErrInvalidInput, toneHz, dur)
	}
	frames := int((dur + frameDuration - 1) / frameDuration)
	p.sendMu.Lock()
	defer p.sendMu.Unlock()

	dst := net.UDPAddrFromAddrPort(remote)
	buf := make([]byte, 12+frameSamples)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: payloadType, SSRC: p.ssrc}}
	payload := make([]byte, frameSamples)
	step := 2 * math.Pi * toneHz / sampleRate
	start := p.clk.Now()
	for i := range frames {
		for j := range payload {
			n := float64(i*frameSamples + j)
			payload[j] = law.Encode(int16(10000 * math.Sin(step*n)))
		}
		pkt.Marker = p.marker
		p.marker = false
		pkt.SequenceNumber = p.seq
		pkt.Timestamp = p.ts
		pkt.Payload = payload
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			return fmt.Errorf("rtpphone: marshal: %w", err)
		}
		if _, err := p.conn.WriteToUDP(buf[:n], dst); err != nil {
			return fmt.Errorf("rtpphone: send to %s: %w", remote, err)
		}
		p.seq++
		p.ts += frameSamples
		if i == frames-1 {
			break
		}
		if err := p.waitUntil(ctx, start.Add(time.Duration(i+1)*frameDuration)); err != nil {
			return err
		}
	}
	return nil
}

// SendDTMF sends digit (0-9, *, #, A-D) as an RFC 4733 telephone-event
// (payload type 101) lasting 100 ms: an update every 20 ms, the first with
// the marker bit, and the end packet sent three times.
func (p *Phone) SendDTMF(ctx context.Context, remote netip.AddrPort, digit byte) error {
	ev, ok := EventCode(digit)
	if !ok {
		return fmt.Errorf("%w: %q", ErrDigit, digit)
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()

	dst := net.UDPAddrFromAddrPort(remote)
	const updates = 5 // 5 x 20 ms = 100 ms
	buf := make([]byte, 16)
	payload := make([]byte, 4)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PayloadEvent, SSRC: p.ssrc, Timestamp: p.ts}}
	start := p.clk.Now()
	send := func(marker, end bool, duration uint16) error {
		payload[0] = ev
		payload[1] = 10 // volume -10 dBm0
		if end {
			payload[1] |= 0x80
		}
		payload[2] = byte(duration >> 8)
		payload[3] = byte(duration)
		pkt.Marker = marker
		pkt.SequenceNumber = p.seq
		pkt.Payload = payload
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			return fmt.Errorf("rtpphone: marshal: %w", err)
		}
		p.seq++
		if _, err := p.conn.WriteToUDP(buf[:n], dst); err != nil {
			return fmt.Errorf("rtpphone: send to %s: %w", remote, err)
		}
		return nil
	}
	for i := 1; i <= updates; i++ {
		last := i == updates
		reps := 1
		if last {
			reps = 3
		}
		for range reps {
			if err := send(i == 1, last, uint16(i*frameSamples)); err != nil {
				return err
			}
		}
		if err := p.waitUntil(ctx, start.Add(time.Duration(i)*frameDuration)); err != nil {
			return err
		}
	}
	p.ts += updates * frameSamples
	p.marker = true
	return nil
}

// EventCode maps a DTMF digit to its RFC 4733 event code.
func EventCode(digit byte) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return digit - '0', true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return 12 + digit - 'A', true
	case digit >= 'a' && digit <= 'd':
		return 12 + digit - 'a', true
	}
	return 0, false
}

// EventDigit maps an RFC 4733 event code (0-15) back to its digit.
func EventDigit(code uint8) (byte, bool) {
	const digits = "0123456789*#ABCD"
	if int(code) < len(digits) {
		return digits[code], true
	}
	return 0, false
}

func (p *Phone) waitUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(p.clk.Now())
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return ErrClosed
	case <-p.clk.After(d):
		return nil
	}
}

// Received reports how many valid RTP packets have arrived and the source
// address of the first one (invalid when none has arrived).
func (p *Phone) Received() (packets uint64, first netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.Packets, p.st.First
}

// Stats returns a snapshot of everything received so far.
func (p *Phone) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// Audio returns a copy of the most recently received audio (up to two
// seconds), decoded to linear PCM at 8 kHz, oldest sample first. Samples
// are appended in arrival order; no reordering or gap filling is done.
func (p *Phone) Audio() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.audioFull {
		return append([]int16(nil), p.audio[:p.audioPos]...)
	}
	out := make([]int16, 0, len(p.audio))
	out = append(out, p.audio[p.audioPos:]...)
	return append(out, p.audio[:p.audioPos]...)
}

func (p *Phone) readLoop() {
	defer close(p.done)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Debug("rtpphone: read", "err", err)
			continue
		}
		if pkt.Unmarshal(buf[:n]) != nil || pkt.Version != 2 {
			p.mu.Lock()
			p.st.Invalid++
			p.mu.Unlock()
			continue
		}
		p.handle(&pkt, from)
	}
}

func (p *Phone) handle(pkt *rtp.Packet, from netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if p.st.Packets == 0 {
		p.st.First = from
	}
	p.st.Last = from
	p.st.Packets++
	p.st.Bytes += uint64(len(pkt.Payload))
	switch pkt.PayloadType {
	case PayloadEvent:
		p.st.Events++
		if len(pkt.Payload) < 4 {
			return
		}
		end := pkt.Payload[1]&0x80 != 0
		if p.haveEv && pkt.Timestamp == p.lastEvTS && p.evEnded {
			return // retransmitted end packet
		}
		if !p.haveEv || pkt.Timestamp != p.lastEvTS {
			p.haveEv, p.lastEvTS, p.evEnded = true, pkt.Timestamp, false
		}
		if end {
			p.evEnded = true
			if d, ok := EventDigit(pkt.Payload[0]); ok {
				p.st.Digits += string(d)
			}
		}
	case PayloadPCMU, PayloadPCMA:
		p.st.PayloadType = pkt.PayloadType
		law := g711.Ulaw
		if pkt.PayloadType == PayloadPCMA {
			law = g711.Alaw
		}
		for _, b := range pkt.Payload {
			p.audio[p.audioPos] = law.Decode(b)
			p.audioPos++
			if p.audioPos == len(p.audio) {
				p.audioPos, p.audioFull = 0, true
			}
		}
	}
}
