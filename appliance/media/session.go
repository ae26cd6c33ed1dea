package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/g711"
)

// maxPacket is the largest datagram the relay handles; larger ones are
// truncated by the read and then fail validation or are relayed cut, so
// they are dropped instead (see relay).
const maxPacket = 1500

type leg struct {
	sock  rtpSocket
	local netip.AddrPort

	// guarded by Session.mu
	remote  netip.AddrPort // where packets for this leg go
	sdp     netip.AddrPort // the address the leg's SDP gave (SetRemote)
	latched bool           // remote learned from the first valid packet
	pt      uint8          // negotiated audio payload type
	codec   Codec          // negotiated audio codec
	set     bool           // SetRemote called
	stats   LegStats
	q       rxQuality // loss and jitter of what the leg receives
	ivr     legIVR    // prompts and digits (ivr.go)
	onHold  bool      // nothing relayed to this leg (SetHold, hold.go)
}

// LegStats counts one leg's traffic.
type LegStats struct {
	Packets uint64    // valid RTP packets received (relayed or not)
	Dropped uint64    // datagrams dropped: not RTP, RTCP, wrong source, too big
	Sent    uint64    // packets sent out of this leg's socket
	Last    time.Time // arrival of the latest valid packet (zero if none)
	// Lost is how many packets the leg's peer sent that never arrived,
	// from their sequence numbers (RFC 3550 A.3).
	Lost uint64
	// Jitter is the interarrival jitter of the leg's audio (RFC 3550
	// A.8); JitterOK is false until two audio packets were compared.
	Jitter   time.Duration
	JitterOK bool
}

// Session anchors one call's media: two RTP sockets, their receiving
// (on Linux one of the package's shared event loops, rxloop_linux.go;
// elsewhere a goroutine per leg), and optionally a recorder. Its methods
// are safe for concurrent use.
type Session struct {
	m      *Manager
	log    *slog.Logger
	callID string
	record bool

	mu      sync.Mutex
	legs    [2]*leg
	rec     recSink // nil unless recording and started
	started bool
	closed  bool
	result  Result
	err     error
	loop    int            // index of its event loop (rxloop_linux.go), -1 until picked
	wg      sync.WaitGroup // per-leg reading goroutines (goroutine mode)
	done    chan struct{}  // closed when Close has finished
}

func newSession(m *Manager, callID string, record bool, a, b rtpSocket) *Session {
	s := &Session{
		m: m, callID: callID, record: record,
		log:  m.log.With("call", callID),
		done: make(chan struct{}),
		loop: -1,
	}
	for i, c := range []rtpSocket{a, b} {
		ap := c.localAddr()
		s.legs[i] = &leg{sock: c, local: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	}
	return s
}

// CallID is the id the session was created with.
func (s *Session) CallID() string { return s.callID }

// LocalAddr is the address (for SDP) where the leg's peer must send RTP.
func (s *Session) LocalAddr(l Leg) netip.AddrPort { return s.legs[l&1].local }

// Remote is where the leg's packets currently go: the address given to
// SetRemote until the first valid packet arrives, then that packet's
// source (symmetric RTP).
func (s *Session) Remote(l Leg) netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[l&1].remote
}

// Stats returns a snapshot of a leg's counters.
func (s *Session) Stats(l Leg) LegStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[l&1].statsLocked()
}

// statsLocked is the leg's counters with its loss and jitter.
func (lg *leg) statsLocked() LegStats {
	st := lg.stats
	st.Lost = lg.q.lost()
	st.Jitter = time.Duration(lg.q.jitter * float64(time.Second))
	st.JitterOK = lg.q.jitterOK
	return st
}

// SetRemote sets the leg's peer address and negotiated G.711 payload type
// (0 or 8) from its SDP. It may be called again (re-INVITE): the leg then
// latches afresh on the next valid packet. When the two legs negotiated
// different laws, the relay transcodes between them.
func (s *Session) SetRemote(l Leg, addr netip.AddrPort, payloadType uint8) error {
	switch payloadType {
	case PayloadPCMU:
		return s.SetRemoteCodec(l, addr, CodecPCMU, payloadType)
	case PayloadPCMA:
		return s.SetRemoteCodec(l, addr, CodecPCMA, payloadType)
	}
	return fmt.Errorf("%w: %d", ErrPayloadType, payloadType)
}

// SetRemoteCodec is SetRemote for any codec: the leg's peer address, its
// codec and the payload type its SDP gave the codec (Opus has a dynamic
// one, e.g. 96 on one leg and 111 on the other: the relay rewrites it).
// Bridging an Opus leg to a G.711 leg is refused with ErrMixedCodecs (by
// Start, or here once started). Set the legs' telephone-event payload
// types with SetEventPayloadType: events are relayed with theirs remapped.
func (s *Session) SetRemoteCodec(l Leg, addr netip.AddrPort, c Codec, payloadType uint8) error {
	if c < CodecPCMU || c > CodecOpus {
		return fmt.Errorf("%w: %d", ErrCodec, c)
	}
	if payloadType > 127 || (c == CodecPCMU && payloadType != PayloadPCMU) || (c == CodecPCMA && payloadType != PayloadPCMA) {
		return fmt.Errorf("%w: %v with payload type %d", ErrPayloadType, c, payloadType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	lg, other := s.legs[l&1], s.legs[1-l&1]
	if s.started && (c == CodecOpus) != (other.codec == CodecOpus) {
		return fmt.Errorf("%w: leg %v %v, leg %v %v", ErrMixedCodecs, l, c, 1-l&1, other.codec)
	}
	lg.remote = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	lg.sdp = lg.remote
	lg.pt, lg.codec, lg.set, lg.latched = payloadType, c, true, false
	return nil
}

// Codec returns the leg's negotiated codec and payload type (zero before
// SetRemote).
func (s *Session) Codec(l Leg) (Codec, uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[l&1].codec, s.legs[l&1].pt
}

// SetRecord turns the session's recording on or off before Start: a
// hotline call's session is opened unrecorded while the IVR runs (nobody
// knows yet whether the number is privileged) and switched on once the
// call is authorized as recorded. After Start it fails with ErrStarted,
// so a running call's recording can never be switched off or on halfway.
func (s *Session) SetRecord(record bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	s.record = record
	return nil
}

// Features is everything: a Session relays, plays prompts, detects
// keys, carries Opus and captures what a leg says.
func (s *Session) Features() Features { return AllFeatures }

// Start begins relaying (and recording, if the session records). Both legs
// need SetRemote first. The recording's law is leg A's.
func (s *Session) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	case !s.legs[LegA].set || !s.legs[LegB].set:
		return ErrNotReady
	}
	a, b := s.legs[LegA].codec, s.legs[LegB].codec
	if (a == CodecOpus) != (b == CodecOpus) {
		return fmt.Errorf("%w: leg A %v, leg B %v", ErrMixedCodecs, a, b)
	}
	for _, l := range []Leg{LegA, LegB} {
		if err := s.receiveLocked(l); err != nil { // unless Listen already started it
			return err
		}
	}
	if s.record {
		cfg := s.m.cfg
		if a == CodecOpus {
			rec, err := newOpusRecorder(cfg.RecordDir, s.callID, cfg.RecordKey, s.log)
			if err != nil {
				return err
			}
			s.rec = rec
		} else {
			rec, err := newRecorder(cfg.RecordDir, s.callID, lawOf(s.legs[LegA].pt), cfg.RecordKey)
			if err != nil {
				return err
			}
			s.rec = rec
		}
	}
	s.started = true
	s.log.Debug("media: started", "a", s.legs[LegA].local, "b", s.legs[LegB].local, "record", s.record)
	return nil
}

func lawOf(pt uint8) g711.Law {
	if pt == PayloadPCMA {
		return g711.Alaw
	}
	return g711.Ulaw
}

// Close stops the relay, finalises the recording (header sizes, fsync,
// rename from .wav.part to .wav, SHA-256) and releases the ports. It is
// idempotent: later calls return the first call's result and error.
func (s *Session) Close() (Result, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return s.result, s.err
	}
	s.closed = true
	s.mu.Unlock()
	// Once both sockets are closed nothing handles this session's packets
	// any more: an event loop's socket leaves its loop before it closes,
	// and goroutine mode's readers end with theirs (wg).
	for _, lg := range s.legs {
		lg.sock.close()
	}
	s.wg.Wait()

	var res Result
	var err error
	if s.rec != nil {
		res, err = s.rec.finish()
	}
	s.m.release(s.legs[LegA].sock, s.legs[LegB].sock)
	s.mu.Lock()
	s.closeDigitsLocked()
	res.Packets = [2]uint64{s.legs[LegA].stats.Packets, s.legs[LegB].stats.Packets}
	s.result, s.err = res, err
	legs := [2]LegStats{s.legs[LegA].statsLocked(), s.legs[LegB].statsLocked()}
	s.mu.Unlock()
	s.m.retire(s, legs, res.Bytes)
	close(s.done)
	if err != nil {
		s.log.Error("media: recording failed", "err", err)
	} else {
		s.log.Debug("media: closed", "path", res.Path, "packets_a", res.Packets[0], "packets_b", res.Packets[1])
	}
	return res, err
}

// receiveLocked starts receiving leg l's packets, unless it receives
// already: on one of the shared event loops when the socket is theirs
// (Linux), else on a goroutine of its own.
func (s *Session) receiveLocked(l Leg) error {
	lg := s.legs[l&1]
	if lg.ivr.running {
		return nil
	}
	switch sk := lg.sock.(type) {
	case loopSocket:
		if err := sk.receive(s, l); err != nil {
			return fmt.Errorf("media: receive on leg %v: %w", l, err)
		}
	case *udpSocket:
		s.wg.Add(1)
		go s.readLoop(l, sk)
	default:
		return fmt.Errorf("media: receive on leg %v: socket %T", l, lg.sock)
	}
	lg.ivr.running = true
	return nil
}

// readLoop receives leg from's packets on its own goroutine (goroutine
// mode) until the socket is closed.
func (s *Session) readLoop(from Leg, sk *udpSocket) {
	defer s.wg.Done()
	buf := make([]byte, maxPacket+1)
	var pkt rtp.Packet
	for {
		n, addr, err := sk.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("media: read", "leg", from, "err", err)
			continue
		}
		s.handle(from, buf, n, addr, &pkt)
	}
}

// handle relays one datagram that arrived on leg from's socket (n bytes in
// buf, which it may rewrite; pkt is scratch) to the other leg's remote,
// through the other leg's socket. The only per-packet work is one
// validation, an optional copy into the recorder's ring, and one write;
// nothing is allocated. Only one handle runs at a time per leg.
func (s *Session) handle(from Leg, buf []byte, n int, addr netip.AddrPort, pkt *rtp.Packet) {
	src, dst := s.legs[from], s.legs[1-from]
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if n > maxPacket || !validRTP(pkt, buf[:n]) {
		s.mu.Lock()
		src.stats.Dropped++
		s.mu.Unlock()
		return
	}
	now := s.m.clk.Now()

	s.mu.Lock()
	if src.latched && addr != src.remote {
		if addr != src.sdp {
			src.stats.Dropped++ // not the peer we latched on: injected or stale
			s.mu.Unlock()
			return
		}
		// The signalled peer itself wins over whatever latched
		// first (stale RTP from an earlier call on a reused port,
		// or an injection that beat the peer's first packet).
		s.log.Info("media: re-latched on the SDP address", "leg", from, "was", src.remote, "sdp", addr)
		src.remote = addr
	}
	if !src.latched {
		if addr != src.remote {
			s.log.Info("media: latched", "leg", from, "sdp", src.remote, "source", addr)
		}
		src.remote, src.latched = addr, true
	}
	src.stats.Packets++
	src.stats.Last = now
	if pkt.PayloadType == src.pt {
		src.q.packet(pkt, now, clockRate(src.codec))
	} else {
		src.q.packet(pkt, now, 0) // an event: its sequence number counts
	}
	srcPT, dstPT, to := src.pt, dst.pt, dst.remote
	srcC, dstC := src.codec, dst.codec
	rec, bridged := s.rec, s.started
	tap, eventPT, held := src.ivr.tap, src.ivr.eventPT(), dst.ivr.playing > 0
	dstEventPT := dst.ivr.eventPT()
	onHold := dst.onHold
	s.mu.Unlock()

	if tap != nil {
		tapPT := srcPT
		if srcC == CodecOpus {
			tapPT = noPT // no in-band tone detection in Opus audio: events only
		}
		tap.packet(pkt, tapPT, eventPT, now)
	}
	if !bridged {
		return // Listen before Start: the leg is heard, not relayed
	}
	audio := pkt.PayloadType == srcPT
	if audio && rec != nil {
		rec.packet(int(from), srcC, pkt, now)
	}
	if onHold {
		return // the other leg's party holds the call: nothing is sent to it
	}
	if audio && held {
		return // a prompt is playing to the other leg: it replaces this audio
	}
	if !audio && tap == nil && pkt.PayloadType == eventPT && src.ivr.isConsumed(pkt) {
		// The rest of a key the IVR took before it stopped listening
		// (the called party's accepting "1"): it was an answer to the
		// appliance, not a key for the other party.
		return
	}
	switch {
	case audio && srcC != dstC:
		// The legs negotiated different G.711 laws (Start refuses
		// Opus with G.711): convert in place. Both laws run at 8 kHz,
		// so sequence numbers and timestamps carry over unchanged.
		buf[1] = buf[1]&0x80 | dstPT
		convert(pkt.Payload, srcC)
	case audio && srcPT != dstPT:
		buf[1] = buf[1]&0x80 | dstPT // same codec, numbered differently
	case !audio && pkt.PayloadType == eventPT && eventPT != dstEventPT:
		// A telephone-event: the other leg's SDP numbered it differently.
		buf[1] = buf[1]&0x80 | dstEventPT
	}
	if !to.IsValid() {
		return
	}
	if err := dst.sock.writeTo(buf[:n], to); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("media: send", "leg", 1-from, "err", err)
		}
		return
	}
	s.mu.Lock()
	dst.stats.Sent++
	s.mu.Unlock()
}

// noPT is a payload type no packet carries (RTP's field has 7 bits).
const noPT = 0xff

// convert transcodes G.711 code words in place from law src to the other
// law: one table lookup per byte, no allocation.
func convert(p []byte, src Codec) {
	tab := ulawToAlaw
	if src == CodecPCMA {
		tab = alawToUlaw
	}
	for i, b := range p {
		p[i] = tab[b]
	}
}

// validRTP parses b into pkt and reports whether it is an RTP version 2
// packet that is not RTCP (payload types 72-76 on a multiplexed port, RFC
// 5761). pion/rtp does not check the version itself.
func validRTP(pkt *rtp.Packet, b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	if pt := b[1] & 0x7f; pt >= 72 && pt <= 76 {
		return false
	}
	return pkt.Unmarshal(b) == nil
}
