package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/tone"
	"github.com/kinline/kinline/shared/audio/wav"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newManager(t testing.TB, dir string) *Manager {
	t.Helper()
	m, err := NewManager(Config{RecordDir: dir, PortMin: 30000, PortMax: 39998}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func phone(t testing.TB) *peer {
	t.Helper()
	p, err := listenPeer(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitPatience is how long a test waits for a condition (testkit.Eventually):
// generous for a loaded 2-core machine.
const waitPatience = 15 * time.Second

func received(p *peer) uint64 { n, _ := p.Received(); return n }

// readRecording parses a recording and returns its header and both
// channels decoded to linear PCM.
func readRecording(t *testing.T, path string) (wav.Header, []int16, []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := wav.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := rd.ReadAllPCM(10 * 60 * 8000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 {
		t.Fatalf("recording has %d channels", len(ch))
	}
	return rd.Header, ch[0], ch[1]
}

func TestRelayBothWaysAndRecordStereo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ptA, ptB uint8
		enc      wav.Encoding
	}{
		{"pcmu", PayloadPCMU, PayloadPCMU, wav.Mulaw},
		{"pcma", PayloadPCMA, PayloadPCMA, wav.Alaw},
		{"transcoded", PayloadPCMU, PayloadPCMA, wav.Mulaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := newManager(t, dir)
			s, err := m.NewSession("call-"+tc.name, true)
			if err != nil {
				t.Fatal(err)
			}
			pa, pb := phone(t), phone(t) // pa: the IAD port, pb: the trunk
			if err := s.SetRemote(LegA, pa.LocalAddr(), tc.ptA); err != nil {
				t.Fatal(err)
			}
			if err := s.SetRemote(LegB, pb.LocalAddr(), tc.ptB); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			wg.Add(2)
			go func() { // A talks for 1 s at 440 Hz, then presses 5
				defer wg.Done()
				errs <- pa.Send(ctx, s.LocalAddr(LegA), tc.ptA, 440, time.Second)
				errs <- pa.SendDTMF(ctx, s.LocalAddr(LegA), '5')
			}()
			go func() { // B answers 500 ms later with 1 s at 1300 Hz
				defer wg.Done()
				time.Sleep(500 * time.Millisecond) // real time on purpose: B starts talking later
				errs <- pb.Send(ctx, s.LocalAddr(LegB), tc.ptB, 1300, time.Second)
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			testkit.Eventually(t, waitPatience, "B to get 50 audio + 7 event packets", func() bool { return received(pb) == 57 })
			testkit.Eventually(t, waitPatience, "A to get 50 packets", func() bool { return received(pa) == 50 })

			// Relay: each side hears the other's tone, from the session's
			// port for its own leg, in its own payload type.
			stA, stB := pa.Stats(), pb.Stats()
			if stA.First != s.LocalAddr(LegA) || stB.First != s.LocalAddr(LegB) {
				t.Fatalf("packets came from %v / %v, want %v / %v", stA.First, stB.First, s.LocalAddr(LegA), s.LocalAddr(LegB))
			}
			if stA.PayloadType != tc.ptA || stB.PayloadType != tc.ptB {
				t.Fatalf("payload types heard: A %d, B %d", stA.PayloadType, stB.PayloadType)
			}
			if f, _ := tone.Dominant(pa.Audio(), 8000, 440, 1300); f != 1300 {
				t.Fatalf("A hears %v Hz, want 1300", f)
			}
			if f, _ := tone.Dominant(pb.Audio(), 8000, 440, 1300); f != 440 {
				t.Fatalf("B hears %v Hz, want 440", f)
			}
			if stB.Digits != "5" {
				t.Fatalf("DTMF relayed as %q", stB.Digits)
			}

			res, err := s.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res2, err2 := s.Close(); err2 != nil || res2 != res {
				t.Fatalf("second Close: %+v, %v", res2, err2)
			}
			if res.Packets != [2]uint64{57, 50} {
				t.Fatalf("packets per leg %v", res.Packets)
			}
			want := filepath.Join(dir, "call-"+tc.name+".wav")
			if res.Path != want || res.Format != "wav/"+tc.enc.String()+"-stereo" {
				t.Fatalf("result %+v", res)
			}
			b, err := os.ReadFile(res.Path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != res.SHA256 || int64(len(b)) != res.Bytes {
				t.Fatalf("SHA-256/size mismatch: %s %d vs file %x %d", res.SHA256, res.Bytes, sum, len(b))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("record dir holds %d entries, want only the .wav", len(ents))
			}

			h, left, right := readRecording(t, res.Path)
			if h.Encoding != tc.enc || h.SampleRate != 8000 {
				t.Fatalf("header %+v", h)
			}
			// 1 s of A then B from ~0.5 s to ~1.5 s (DTMF is not audio).
			if n := len(left); n < 11000 || n > 14000 {
				t.Fatalf("recording is %d frames, want about 12000", n)
			}
			seg := func(x []int16, from, to float64) []int16 {
				return x[min(len(x), int(from*8000)):min(len(x), int(to*8000))]
			}
			if f, _ := tone.Dominant(seg(left, 0, 0.9), 8000, 440, 1300); f != 440 {
				t.Fatalf("left channel carries %v Hz, want 440", f)
			}
			if f, _ := tone.Dominant(seg(right, 0.7, 1.4), 8000, 440, 1300); f != 1300 {
				t.Fatalf("right channel carries %v Hz, want 1300", f)
			}
			// Alignment: B is silent before it answered, A after it stopped,
			// and the legs do not bleed into each other.
			if r := tone.RMS(seg(right, 0, 0.3)); r > 0.001 {
				t.Fatalf("right channel before B answered has level %v", r)
			}
			if r := tone.RMS(seg(left, 1.25, 2)); r > 0.001 {
				t.Fatalf("left channel after A stopped has level %v", r)
			}
			if tone.RMS(seg(left, 0.1, 0.9)) < 0.1 || tone.RMS(seg(right, 0.7, 1.3)) < 0.1 {
				t.Fatal("tones missing from the recording")
			}
			if p := tone.Power(seg(left, 0.1, 0.9), 1300, 8000); p > 1e-4 {
				t.Fatalf("B's tone bleeds into the left channel: %v", p)
			}
			soxiCheck(t, res.Path, tc.enc)
		})
	}
}

// soxiCheck proves with an independent reader that the recording is valid.
func soxiCheck(t *testing.T, path string, enc wav.Encoding) {
	soxi := testkit.OptionalPeer(t, "soxi", "sox")
	if soxi == "" {
		return
	}
	want := map[wav.Encoding]string{wav.Mulaw: "u-law", wav.Alaw: "A-law"}[enc]
	for flag, exp := range map[string]string{"-c": "2", "-r": "8000", "-e": want} {
		out, err := exec.Command(soxi, flag, path).CombinedOutput()
		if err != nil {
			t.Fatalf("soxi %s: %v: %s", flag, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != exp {
			t.Fatalf("soxi %s = %q, want %q", flag, got, exp)
		}
	}
}

func TestSymmetricLatchingAndInjectionDropped(t *testing.T) {
	m := newManager(t, "")
	s, err := m.NewSession("latch", false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The IAD's SDP names sdp, but it really sends from pa (NAT).
	sdp, pa, pb, intruder := phone(t), phone(t), phone(t), phone(t)
	if err := s.SetRemote(LegA, sdp.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if got := s.Remote(LegA); got != sdp.LocalAddr() {
		t.Fatalf("remote before latching %v", got)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := pa.Send(ctx, s.LocalAddr(LegA), PayloadPCMU, 500, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "B to get A's packets", func() bool { return received(pb) == 5 })
	if got := s.Remote(LegA); got != pa.LocalAddr() {
		t.Fatalf("leg A latched on %v, want %v", got, pa.LocalAddr())
	}
	if err := pb.Send(ctx, s.LocalAddr(LegB), PayloadPCMU, 700, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "A (latched) to get B's packets", func() bool { return received(pa) == 5 })
	if n := received(sdp); n != 0 {
		t.Fatalf("the SDP address got %d packets after latching", n)
	}
	// Someone else sends to leg A's port: dropped, not relayed, no relatch.
	if err := intruder.Send(ctx, s.LocalAddr(LegA), PayloadPCMU, 900, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "intruder packets dropped", func() bool { return s.Stats(LegA).Dropped == 5 })
	if n := received(pb); n != 5 {
		t.Fatalf("B got %d packets: injected RTP was relayed", n)
	}
	if s.Remote(LegA) != pa.LocalAddr() {
		t.Fatal("intruder re-latched leg A")
	}
	// A re-INVITE (SetRemote) allows latching on a new source.
	if err := s.SetRemote(LegA, intruder.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := intruder.Send(ctx, s.LocalAddr(LegA), PayloadPCMU, 900, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "B to get the new source's packets", func() bool { return received(pb) == 7 })
	if st := s.Stats(LegA); st.Packets != 7 || st.Last.IsZero() {
		t.Fatalf("leg A stats %+v", st)
	}
}

func rawRTP(pt uint8, seq uint16, ts uint32, payload []byte) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 42}, Payload: payload}).Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

func TestGarbageDropped(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir)
	s, err := m.NewSession("garbage", true)
	if err != nil {
		t.Fatal(err)
	}
	pb := phone(t)
	attacker, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	if err := s.SetRemote(LegA, attacker.LocalAddr().(*net.UDPAddr).AddrPort(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	garbage := [][]byte{
		{}, {0x80}, []byte("hello, world"),
		append([]byte{0x00}, make([]byte, 30)...), // version 0
		append([]byte{0x40}, make([]byte, 30)...), // version 1
		rtcp, // RTCP sender report (rtcp-mux)
		append([]byte{0x8F, 0}, make([]byte, 20)...),                     // 15 CSRCs claimed, 22 bytes
		{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0xBE, 0xDE, 0xFF, 0xFF}, // extension overruns
		{0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0xFF},                   // padding larger than packet
		append(rawRTP(0, 1, 0, nil), make([]byte, maxPacket)...),         // oversized
	}
	to := net.UDPAddrFromAddrPort(s.LocalAddr(LegA))
	for _, g := range garbage {
		if _, err := attacker.WriteToUDP(g, to); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, waitPatience, "garbage dropped", func() bool { return s.Stats(LegA).Dropped == uint64(len(garbage)) })
	if got := s.Remote(LegA); got != attacker.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("remote changed by garbage to %v", got)
	}
	// A valid packet after all that still flows.
	if _, err := attacker.WriteToUDP(rawRTP(0, 2, 160, bytes.Repeat([]byte{0x80}, 160)), to); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "valid packet relayed", func() bool { return received(pb) == 1 })
	// Random bytes (any that happen to be RTP are audio from the latched
	// peer, so they may be relayed): the relay must survive them all.
	rng := rand.New(rand.NewPCG(1, 2))
	handled := func() uint64 { st := s.Stats(LegA); return st.Dropped + st.Packets }
	sent := handled()
	for range 25 { // in batches, so the socket buffer never overflows
		for range 20 {
			g := make([]byte, rng.IntN(300))
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			if _, err := attacker.WriteToUDP(g, to); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		testkit.Eventually(t, waitPatience, "random datagrams handled", func() bool { return handled() == sent })
	}
	if _, err := attacker.WriteToUDP(rawRTP(0, 3, 320, bytes.Repeat([]byte{0x80}, 160)), to); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "the last valid packet", func() bool { return handled() == sent+1 })
	if _, err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if pb.Stats().Invalid != 0 {
		t.Fatal("the relay forwarded something that is not RTP")
	}
}

func TestPrivilegedCallWritesNothing(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir)
	s, err := m.NewSession("privileged-1", false)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := phone(t), phone(t)
	s.SetRemote(LegA, pa.LocalAddr(), PayloadPCMA)
	s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMA)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- pb.Send(ctx, s.LocalAddr(LegB), PayloadPCMA, 1000, 300*time.Millisecond) }()
	if err := pa.Send(ctx, s.LocalAddr(LegA), PayloadPCMA, 600, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "relay both ways", func() bool { return received(pa) == 15 && received(pb) == 15 })
	if s.rec != nil {
		t.Fatal("a privileged session has a recorder (the only place audio is kept)")
	}
	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "" || res.SHA256 != "" || res.Bytes != 0 || res.Packets != [2]uint64{15, 15} {
		t.Fatalf("result %+v", res)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if p != dir {
			files = append(files, p)
		}
		return err
	})
	if len(files) != 0 {
		t.Fatalf("privileged call left files: %v", files)
	}
}

// freeRange finds n consecutive ports that are currently free on loopback.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for base := 41000; base < 60000; base += 2 * n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				continue
			}
			c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func TestPortsAllocatedReleasedAndExhausted(t *testing.T) {
	base := freeRange(t, 8)
	// Someone else holds base+2: it must be skipped.
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	m, err := NewManager(Config{PortMin: base, PortMax: base + 7}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s1, err := m.NewSession("one", false)
	if err != nil {
		t.Fatal(err)
	}
	got := []uint16{s1.LocalAddr(LegA).Port(), s1.LocalAddr(LegB).Port()}
	if got[0] != uint16(base) || got[1] != uint16(base+4) {
		t.Fatalf("ports %v, want %d and %d (skipping the busy %d)", got, base, base+4, base+2)
	}
	if _, err := m.NewSession("two", false); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("with 1 free port left: %v, want ErrNoPorts", err)
	}
	if m.Active() != 1 {
		t.Fatalf("active %d", m.Active())
	}
	busy.Close()
	s2, err := m.NewSession("two", false)
	if err != nil {
		t.Fatalf("after the busy port freed: %v", err)
	}
	if _, err := m.NewSession("three", false); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("all 4 ports used: %v", err)
	}
	if m.Active() != 2 {
		t.Fatalf("active %d", m.Active())
	}
	if _, err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if m.Active() != 1 {
		t.Fatalf("active after close %d", m.Active())
	}
	s3, err := m.NewSession("three", false)
	if err != nil {
		t.Fatalf("ports not released on Close: %v", err)
	}
	for _, p := range []uint16{s3.LocalAddr(LegA).Port(), s3.LocalAddr(LegB).Port()} {
		if p != got[0] && p != got[1] {
			t.Fatalf("new session got port %d, not one released", p)
		}
	}
	s2.Close()
	s3.Close()
	if m.Active() != 0 {
		t.Fatalf("active %d", m.Active())
	}
	// The released sockets are really closed: the ports can be bound.
	for p := base; p < base+8; p += 2 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			t.Fatalf("port %d still held: %v", p, err)
		}
		c.Close()
	}
}

func TestSessionStateErrors(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir)
	for _, id := range []string{"", "../etc/passwd", ".hidden", "a/b", strings.Repeat("x", 129), "sp ace"} {
		if _, err := m.NewSession(id, true); !errors.Is(err, ErrCallID) {
			t.Errorf("call id %q: %v", id, err)
		}
	}
	if _, err := newManager(t, "").NewSession("x", true); !errors.Is(err, ErrNoRecordDir) {
		t.Fatalf("record without dir: %v", err)
	}
	if _, err := NewManager(Config{PortMin: 5000, PortMax: 4000}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad range: %v", err)
	}
	s, err := m.NewSession("state", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Start without remotes: %v", err)
	}
	if err := s.SetRemote(LegA, loopback, 18); !errors.Is(err, ErrPayloadType) {
		t.Fatalf("G.729: %v", err)
	}
	s.SetRemote(LegA, netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU)
	s.SetRemote(LegB, netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	// A second session for the same call id must not clobber the recording.
	s2, err := m.NewSession("state", true)
	if err != nil {
		t.Fatal(err)
	}
	s2.SetRemote(LegA, netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU)
	s2.SetRemote(LegB, netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU)
	if err := s2.Start(); !errors.Is(err, ErrRecording) {
		t.Fatalf("duplicate recording: %v", err)
	}
	s2.Close()
	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != 58 { // header only: no packet arrived
		t.Fatalf("empty recording is %d bytes", res.Bytes)
	}
	if err := s.SetRemote(LegA, loopback, PayloadPCMU); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetRemote after Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if m.Active() != 0 {
		t.Fatalf("active %d", m.Active())
	}
	if fmt.Sprint(LegA, LegB) != "A B" {
		t.Fatal("leg names")
	}
}

// TestSetRecordBeforeStart: a session opened unrecorded (a hotline's, while
// the IVR runs) records once switched on before Start, and cannot be
// switched after Start or Close.
func TestSetRecordBeforeStart(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir)
	s, err := m.NewSession("switched", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRecord(true); err != nil {
		t.Fatal(err)
	}
	s.SetRemote(LegA, netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU)
	s.SetRemote(LegB, netip.MustParseAddrPort("127.0.0.1:9"), PayloadPCMU)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRecord(false); !errors.Is(err, ErrStarted) {
		t.Fatalf("SetRecord after Start: %v", err)
	}
	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Path == "" || res.SHA256 == "" {
		t.Fatalf("switched-on session did not record: %+v", res)
	}
	if _, err := os.Stat(res.Path); err != nil {
		t.Fatalf("recording: %v", err)
	}
	if err := s.SetRecord(true); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetRecord after Close: %v", err)
	}
}

// TestSDPAddressWinsOverEarlierLatch: a stranger's packet that reaches a
// leg first (stale RTP from an earlier call on a reused port) latches it,
// but once the peer the SDP named sends, the leg re-latches on it and the
// stranger is dropped from then on.
func TestSDPAddressWinsOverEarlierLatch(t *testing.T) {
	m := newManager(t, "")
	s, err := m.NewSession("relatch", false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	peer, stale, other := phone(t), phone(t), phone(t)
	if err := s.SetRemote(LegB, peer.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemote(LegA, other.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := stale.Send(ctx, s.LocalAddr(LegB), PayloadPCMU, 500, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "the stale sender to latch leg B", func() bool { return s.Remote(LegB) == stale.LocalAddr() })
	if err := peer.Send(ctx, s.LocalAddr(LegB), PayloadPCMU, 700, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "leg B to re-latch on its SDP peer", func() bool { return s.Remote(LegB) == peer.LocalAddr() })
	// Leg A's audio now reaches the real peer, not the stale sender.
	if err := other.Send(ctx, s.LocalAddr(LegA), PayloadPCMU, 900, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "the SDP peer to get leg A's audio", func() bool { return received(peer) == 5 })
	before := s.Stats(LegB).Dropped
	if err := stale.Send(ctx, s.LocalAddr(LegB), PayloadPCMU, 500, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "the stale sender dropped", func() bool { return s.Stats(LegB).Dropped == before+2 })
	if s.Remote(LegB) != peer.LocalAddr() {
		t.Fatal("the stale sender took leg B back")
	}
}
