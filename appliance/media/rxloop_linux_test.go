package media

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kinline/kinline/internal/testkit"
)

// TestEventLoopSockets checks that on Linux a Manager's legs are the
// event loops' sockets (unless in goroutine mode), marked Expedited
// Forwarding, and that a session relays on them.
func TestEventLoopSockets(t *testing.T) {
	m := newManager(t, t.TempDir())
	s, err := m.NewSession("loop-sockets", true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, l := range []Leg{LegA, LegB} {
		fs, ok := s.legs[l].sock.(*fdSocket)
		if perLegRxDefault {
			if ok {
				t.Fatalf("leg %v: an event-loop socket in goroutine mode", l)
			}
			continue
		}
		if !ok {
			t.Fatalf("leg %v: socket %T, want *fdSocket", l, s.legs[l].sock)
		}
		tos, err := unix.GetsockoptInt(fs.fd, unix.IPPROTO_IP, unix.IP_TOS)
		if err != nil {
			t.Fatal(err)
		}
		if tos != dscpEF {
			t.Errorf("leg %v: IP_TOS %#x, want %#x (DSCP EF)", l, tos, dscpEF)
		}
	}
	relayOnce(t, s, loopback)
}

// relayOnce sets up s between two phones bound to at and checks a
// second of audio each way.
func relayOnce(t *testing.T, s *Session, at netip.AddrPort) {
	t.Helper()
	pa, err := listenPeer(at)
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	pb, err := listenPeer(at)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	if err := s.SetRemote(LegA, pa.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// A socket bound to [::] is reached at the peers' own loopback.
	local := func(l Leg) netip.AddrPort {
		if a := s.LocalAddr(l); !a.Addr().IsUnspecified() {
			return a
		}
		return netip.AddrPortFrom(at.Addr(), s.LocalAddr(l).Port())
	}
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() { errs <- pa.Send(ctx, local(LegA), PayloadPCMU, 440, 500*time.Millisecond) }()
	go func() { errs <- pb.Send(ctx, local(LegB), PayloadPCMU, 1300, 500*time.Millisecond) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, waitPatience, "25 packets each way", func() bool {
		a, fromA := pa.Received()
		b, fromB := pb.Received()
		return a >= 25 && b >= 25 && fromA == local(LegA) && fromB == local(LegB)
	})
}

// TestIPv6AndDualStack relays between IPv6 peers on an IPv6 socket, and
// between IPv4 peers on a socket bound to [::] (v4-mapped on the wire of
// the API: addresses come back unmapped).
func TestIPv6AndDualStack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bind  string
		peers netip.AddrPort
	}{
		{"ipv6", "::1", netip.MustParseAddrPort("[::1]:0")},
		{"dual-stack", "::", loopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe, err := listenPeer(tc.peers)
			if err != nil {
				t.Skipf("no %s loopback here: %v", tc.name, err)
			}
			probe.Close()
			m, err := NewManager(Config{BindIP: netip.MustParseAddr(tc.bind), PortMin: 30000, PortMax: 39998, RecordDir: t.TempDir()}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			s, err := m.NewSession("ip-"+tc.name, true)
			if err != nil {
				t.Fatal(err)
			}
			relayOnce(t, s, tc.peers)
			res, err := s.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.Packets[LegA] < 25 || res.Packets[LegB] < 25 {
				t.Fatalf("recorded packets %v, want 25 a leg", res.Packets)
			}
		})
	}
}

// TestCloseUnderFlood closes sessions while both their legs are flooded,
// over and over, so descriptors are reused at once by the next session's
// sockets. A closed session must not count a packet after Close returned
// (no loop still handles it), and each new session relays only its own
// traffic.
func TestCloseUnderFlood(t *testing.T) {
	m := newManager(t, t.TempDir())
	for round := range 20 {
		s, err := m.NewSession(fmt.Sprintf("flood-%d", round), round%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		pa, pb := phone(t), phone(t)
		s.SetRemote(LegA, pa.LocalAddr(), PayloadPCMU)
		s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for _, l := range []Leg{LegA, LegB} {
			p, to := pa, s.LocalAddr(l)
			if l == LegB {
				p = pb
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := make([]byte, 160)
				for !stop.Load() {
					p.send(to, PayloadPCMU, false, payload)
					p.ts += 160
				}
			}()
		}
		testkit.Eventually(t, waitPatience, "packets relayed", func() bool {
			n, _ := pb.Received()
			return n > 50
		})
		res, err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Real time on purpose: the flood goes on at the closed ports, and
		// none of it may be counted (load can only hide a miscount).
		time.Sleep(20 * time.Millisecond)
		if a, b := s.Stats(LegA).Packets, s.Stats(LegB).Packets; a != res.Packets[LegA] || b != res.Packets[LegB] {
			t.Fatalf("round %d: packets %d/%d after Close, %v at Close", round, a, b, res.Packets)
		}
		stop.Store(true)
		wg.Wait()
	}
	if n := m.Active(); n != 0 {
		t.Fatalf("%d sessions active", n)
	}
}

// TestLoopIndexFillsThenSpreads checks how sessions are placed on loops:
// the first loop with room, and once all are full the least loaded.
func TestLoopIndexFillsThenSpreads(t *testing.T) {
	loops := []*rxLoop{{}, {}, {}}
	pick := func() int { s := &Session{loop: -1}; return s.loopIndex(loops) }
	if got := pick(); got != 0 {
		t.Fatalf("empty loops: picked %d, want 0", got)
	}
	loops[0].legs.Store(loopLegs - 1)
	if got := pick(); got != 0 {
		t.Fatalf("first loop with room: picked %d, want 0", got)
	}
	loops[0].legs.Store(loopLegs)
	if got := pick(); got != 1 {
		t.Fatalf("first loop full: picked %d, want 1", got)
	}
	loops[0].legs.Store(loopLegs + 20)
	loops[1].legs.Store(loopLegs + 9)
	loops[2].legs.Store(loopLegs + 3)
	if got := pick(); got != 2 {
		t.Fatalf("all full: picked %d, want the least loaded, 2", got)
	}
	s := &Session{loop: 1}
	if got := s.loopIndex(loops); got != 1 {
		t.Fatalf("a session keeps its loop: %d", got)
	}
}

// TestManySessionsSpillToSecondLoop starts more sessions than one loop
// takes and checks that a session on the second loop relays.
func TestManySessionsSpillToSecondLoop(t *testing.T) {
	if perLegRxDefault {
		t.Skip("goroutine mode")
	}
	loops, err := rxLoops()
	if err != nil {
		t.Fatal(err)
	}
	if len(loops) < 2 {
		t.Skipf("%d event loop (GOMAXPROCS %d)", len(loops), runtime.GOMAXPROCS(0))
	}
	m, err := NewManager(Config{PortMin: 40000, PortMax: 41998, RecordDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	sink := phone(t)
	used := map[int]bool{}
	for i := range loopLegs/2 + 10 {
		s, err := m.NewSession(fmt.Sprintf("many-%d", i), false)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetRemote(LegA, sink.LocalAddr(), PayloadPCMU)
		s.SetRemote(LegB, sink.LocalAddr(), PayloadPCMU)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		used[s.loop] = true
	}
	if len(used) < 2 {
		t.Fatalf("%d sessions (%d sockets) all on one loop", loopLegs/2+10, loopLegs+20)
	}
	last, err := m.NewSession("many-last", true)
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	relayOnce(t, last, loopback)
	t.Logf("sessions on loops %v; the relaying one on loop %d", used, last.loop)
}
