// Package callctltest holds fakes for testing code around callctl: a
// MediaSession that relays RTP between two loopback UDP sockets without
// recording, an Authorizer with fixed answers, and a collector of call
// records.
package callctltest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/wire"
)

// ErrStarted is returned by Relay.SetRemote after Start.
var ErrStarted = errors.New("callctltest: relay already started")

// Relay is a MediaSession that forwards every datagram arriving on leg A's
// socket to leg B's remote and vice versa, counting them. It writes no
// audio; Close reports the Result the test set in FakeResult (with Packets
// filled in).
type Relay struct {
	CallID string
	Record bool
	// FakeResult is returned by Close (when Record is true), with Packets
	// set from the relay's counters.
	FakeResult media.Result

	conns   [2]*net.UDPConn
	mu      sync.Mutex
	remotes [2]netip.AddrPort
	pts     [2]uint8
	started bool
	closed  bool
	packets [2]atomic.Uint64
	wg      sync.WaitGroup
}

// NewRelay opens two loopback sockets.
func NewRelay(callID string, record bool) (*Relay, error) {
	r := &Relay{CallID: callID, Record: record}
	for i := range r.conns {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			for _, o := range r.conns[:i] {
				o.Close()
			}
			return nil, fmt.Errorf("callctltest: %w: %v", media.ErrNoPorts, err)
		}
		r.conns[i] = c
	}
	return r, nil
}

// LocalAddr is where the leg's RTP must be sent.
func (r *Relay) LocalAddr(leg media.Leg) netip.AddrPort {
	return r.conns[leg].LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetRemote sets where the leg's RTP goes.
func (r *Relay) SetRemote(leg media.Leg, addr netip.AddrPort, pt uint8) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return media.ErrClosed
	}
	if r.started {
		return ErrStarted
	}
	r.remotes[leg], r.pts[leg] = addr, pt
	return nil
}

// Remote returns what SetRemote recorded for leg.
func (r *Relay) Remote(leg media.Leg) (netip.AddrPort, uint8) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remotes[leg], r.pts[leg]
}

// Start begins relaying.
func (r *Relay) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return media.ErrClosed
	}
	if !r.remotes[0].IsValid() || !r.remotes[1].IsValid() {
		return fmt.Errorf("callctltest: start before both remotes are set")
	}
	r.started = true
	for leg := range 2 {
		in, out, dst := r.conns[leg], r.conns[1-leg], net.UDPAddrFromAddrPort(r.remotes[1-leg])
		r.wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				n, _, err := in.ReadFromUDP(buf)
				if err != nil {
					return
				}
				r.packets[leg].Add(1)
				_, _ = out.WriteToUDP(buf[:n], dst)
			}
		})
	}
	return nil
}

// Features is none: the relay only relays G.711; what needs more
// answers media.ErrUnsupported (or does nothing).
func (r *Relay) Features() media.Features { return 0 }

// SetRecord sets whether Close reports FakeResult (before Start).
func (r *Relay) SetRecord(record bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return media.ErrClosed
	}
	if r.started {
		return ErrStarted
	}
	r.Record = record
	return nil
}

// SetHold does nothing: a held party still receives the other's audio.
func (r *Relay) SetHold(media.Leg, bool) {}

// Listen is unsupported (no prompts).
func (r *Relay) Listen(media.Leg) error { return media.ErrUnsupported }

// SetEventPayloadType does nothing (events are relayed as they come).
func (r *Relay) SetEventPayloadType(media.Leg, uint8) {}

// Play is unsupported (no prompts).
func (r *Relay) Play(context.Context, media.Leg, g711.Law, []byte) error {
	return media.ErrUnsupported
}

// Announce is unsupported (no prompts).
func (r *Relay) Announce(context.Context, g711.Law, []byte) error { return media.ErrUnsupported }

// Digits is a channel on which no key ever comes.
func (r *Relay) Digits(media.Leg) <-chan media.Digit { return nil }

// StopDigits does nothing (no keys are detected).
func (r *Relay) StopDigits(media.Leg) {}

// ReportDigit is unsupported: keys by SIP INFO are dropped.
func (r *Relay) ReportDigit(media.Leg, rune) error { return media.ErrUnsupported }

// SetRemoteCodec is SetRemote for G.711; Opus is unsupported.
func (r *Relay) SetRemoteCodec(leg media.Leg, addr netip.AddrPort, c media.Codec, pt uint8) error {
	if c == media.CodecOpus {
		return media.ErrUnsupported
	}
	return r.SetRemote(leg, addr, pt)
}

// SetPromptPayloadType is unsupported (no Opus).
func (r *Relay) SetPromptPayloadType(media.Leg, uint8) error { return media.ErrUnsupported }

// Capture is unsupported.
func (r *Relay) Capture(context.Context, media.Leg, time.Duration) ([]byte, error) {
	return nil, media.ErrUnsupported
}

// Packets is how many datagrams arrived on each leg.
func (r *Relay) Packets() [2]uint64 { return [2]uint64{r.packets[0].Load(), r.packets[1].Load()} }

// Close stops relaying.
func (r *Relay) Close() (media.Result, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return media.Result{}, media.ErrClosed
	}
	r.closed = true
	r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.wg.Wait()
	res := media.Result{}
	if r.Record {
		res = r.FakeResult
	}
	res.Packets = r.Packets()
	return res, nil
}

// Relays is a MediaFactory making Relays and keeping them for inspection.
type Relays struct {
	mu     sync.Mutex
	all    []*Relay
	Result media.Result // given to each relay as FakeResult
}

// Factory returns the MediaFactory.
func (rs *Relays) Factory() callctl.MediaFactory {
	return func(callID string, record bool) (callctl.MediaSession, error) {
		r, err := NewRelay(callID, record)
		if err != nil {
			return nil, err
		}
		r.FakeResult = rs.Result
		rs.mu.Lock()
		rs.all = append(rs.all, r)
		rs.mu.Unlock()
		return r, nil
	}
}

// All returns the relays made so far.
func (rs *Relays) All() []*Relay {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]*Relay(nil), rs.all...)
}

// Records collects call records.
type Records struct {
	ch chan wire.CallRecord
}

// NewRecords returns a collector with room for n records.
func NewRecords(n int) *Records { return &Records{ch: make(chan wire.CallRecord, n)} }

// OnCallEnd is the callback to pass in callctl.Deps.
func (r *Records) OnCallEnd(rec wire.CallRecord) { r.ch <- rec }

// Next waits for the next record.
func (r *Records) Next(ctx context.Context) (wire.CallRecord, error) {
	select {
	case rec := <-r.ch:
		return rec, nil
	case <-ctx.Done():
		return wire.CallRecord{}, fmt.Errorf("callctltest: waiting for a call record: %w", ctx.Err())
	}
}

// Pending reports how many records wait to be read.
func (r *Records) Pending() int { return len(r.ch) }

// Allow is an Authorizer that allows everything, reporting the given
// person, with recording on.
func Allow(personID string) callctl.Authorizer {
	return callctl.AuthorizerFunc(func(_ context.Context, _ callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Allowed: true, PersonID: personID, PrisonNumber: "P-" + personID, CardUID: "04A1B2C3", Record: true}
	})
}

// Refuse is an Authorizer that refuses everything with reason.
func Refuse(reason string) callctl.Authorizer {
	return callctl.AuthorizerFunc(func(_ context.Context, _ callctl.AuthRequest) callctl.AuthResult {
		return callctl.AuthResult{Reason: reason}
	})
}

// WaitFor polls cond every 10 ms until it holds or timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
