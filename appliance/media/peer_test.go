package media

// A compact RTP test peer. internal/rtpphone offers the same for the
// simulators; this one stays because media's tests need nothing more.

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/g711"
)

type peerStats struct {
	Packets     uint64
	Invalid     uint64
	First       netip.AddrPort
	PayloadType uint8
	Digits      string
}

type peer struct {
	conn *net.UDPConn
	ssrc uint32
	seq  uint16
	ts   uint32

	mu    sync.Mutex
	st    peerStats
	audio []int16
	hdrs  []rtp.Header // every valid packet's header, in arrival order
	evTS  uint32
	evEnd bool
	done  chan struct{}
}

func listenPeer(addr netip.AddrPort) (*peer, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	p := &peer{conn: c, ssrc: uint32(time.Now().UnixNano()), ts: 12345, done: make(chan struct{})}
	go p.read()
	return p, nil
}

func (p *peer) LocalAddr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *peer) Close() error {
	err := p.conn.Close()
	<-p.done
	return err
}

func (p *peer) send(to netip.AddrPort, pt uint8, marker bool, payload []byte) error {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}, Payload: payload}).Marshal()
	if err != nil {
		return err
	}
	p.seq++
	_, err = p.conn.WriteToUDPAddrPort(b, to)
	return err
}

// Send sends a tone in 20 ms packets paced in real time.
func (p *peer) Send(ctx context.Context, to netip.AddrPort, pt uint8, hz float64, dur time.Duration) error {
	law := lawOf(pt)
	start := time.Now()
	payload := make([]byte, 160)
	for i := range int(dur / (20 * time.Millisecond)) {
		for j := range payload {
			payload[j] = law.Encode(int16(10000 * math.Sin(2*math.Pi*hz*float64(i*160+j)/8000)))
		}
		if err := p.send(to, pt, i == 0, payload); err != nil {
			return err
		}
		p.ts += 160
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(start.Add(time.Duration(i+1) * 20 * time.Millisecond))):
		}
	}
	return nil
}

// SendDTMF sends a 100 ms RFC 4733 event: 4 updates and 3 end packets.
func (p *peer) SendDTMF(ctx context.Context, to netip.AddrPort, digit byte) error {
	for i := 1; i <= 5; i++ {
		reps, flags := 1, byte(10)
		if i == 5 {
			reps, flags = 3, 0x80|10
		}
		for range reps {
			if err := p.send(to, PayloadTelephoneEvent, i == 1, []byte{digit - '0', flags, 0, byte(i * 160)}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.ts += 800
	return nil
}

func (p *peer) Received() (uint64, netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.Packets, p.st.First
}

func (p *peer) Stats() peerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func (p *peer) Audio() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.audio...)
}

// Headers returns the headers of the packets received so far.
func (p *peer) Headers() []rtp.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtp.Header(nil), p.hdrs...)
}

func (p *peer) read() {
	defer close(p.done)
	buf := make([]byte, 2000)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		var pkt rtp.Packet
		p.mu.Lock()
		if err != nil || pkt.Unmarshal(buf[:n]) != nil || pkt.Version != 2 {
			p.st.Invalid++
			p.mu.Unlock()
			continue
		}
		if p.st.Packets == 0 {
			p.st.First = from
		}
		p.st.Packets++
		p.hdrs = append(p.hdrs, pkt.Header)
		switch pkt.PayloadType {
		case PayloadTelephoneEvent:
			if len(pkt.Payload) == 4 && pkt.Payload[1]&0x80 != 0 && !(p.evEnd && p.evTS == pkt.Timestamp) {
				p.st.Digits += string('0' + pkt.Payload[0])
				p.evTS, p.evEnd = pkt.Timestamp, true
			}
		case PayloadPCMU, PayloadPCMA:
			p.st.PayloadType = pkt.PayloadType
			law := g711.Ulaw
			if pkt.PayloadType == PayloadPCMA {
				law = g711.Alaw
			}
			for _, b := range pkt.Payload {
				p.audio = append(p.audio, law.Decode(b))
			}
		}
		p.mu.Unlock()
	}
}
