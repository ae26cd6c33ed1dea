package rtpphone

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/tone"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

func listen(t *testing.T) *Phone {
	t.Helper()
	p, err := Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitPatience is how long a test waits for a condition (testkit.Eventually):
// generous for a loaded machine.
const waitPatience = 10 * time.Second

func TestToneArrivesDecodedAndPaced(t *testing.T) {
	for _, pt := range []uint8{PayloadPCMU, PayloadPCMA} {
		a, b := listen(t), listen(t)
		start := time.Now()
		if err := a.Send(context.Background(), b.LocalAddr(), pt, 1000, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 250*time.Millisecond {
			t.Fatalf("PT %d: 15 packets sent in %v: not paced in real time", pt, el)
		}
		testkit.Eventually(t, waitPatience, "15 packets", func() bool { n, _ := b.Received(); return n == 15 })
		_, first := b.Received()
		if first != a.LocalAddr() {
			t.Fatalf("first remote = %v, want %v", first, a.LocalAddr())
		}
		st := b.Stats()
		if st.Bytes != 15*160 || st.PayloadType != pt || st.Events != 0 {
			t.Fatalf("PT %d: stats %+v", pt, st)
		}
		audio := b.Audio()
		if len(audio) != 15*160 {
			t.Fatalf("audio samples = %d", len(audio))
		}
		if f, _ := tone.Dominant(audio, 8000, 400, 1000, 2500); f != 1000 {
			t.Fatalf("PT %d: dominant tone %v, want 1000", pt, f)
		}
	}
}

func TestAudioRingKeepsLatest(t *testing.T) {
	a, b := listen(t), listen(t)
	ctx := context.Background()
	// 2.2 s in total: the ring holds only the latest 2 s, the tail being 1500 Hz.
	if err := a.Send(ctx, b.LocalAddr(), PayloadPCMU, 500, 1400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, b.LocalAddr(), PayloadPCMU, 1500, 800*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitPatience, "110 packets", func() bool { n, _ := b.Received(); return n == 110 })
	audio := b.Audio()
	if len(audio) != 16000 {
		t.Fatalf("ring = %d samples", len(audio))
	}
	if f, _ := tone.Dominant(audio[len(audio)-4000:], 8000, 500, 1500); f != 1500 {
		t.Fatalf("newest audio dominant %v, want 1500", f)
	}
	if f, _ := tone.Dominant(audio[:4000], 8000, 500, 1500); f != 500 {
		t.Fatalf("oldest audio dominant %v, want 500", f)
	}
}

func TestDTMFDigitsOncePerEvent(t *testing.T) {
	a, b := listen(t), listen(t)
	for _, d := range []byte("1*9#A") {
		if err := a.SendDTMF(context.Background(), b.LocalAddr(), d); err != nil {
			t.Fatal(err)
		}
	}
	// 5 digits x (4 updates + 3 end packets)
	testkit.Eventually(t, waitPatience, "35 event packets", func() bool { return b.Stats().Events == 35 })
	if got := b.Stats().Digits; got != "1*9#A" {
		t.Fatalf("digits = %q", got)
	}
	if err := a.SendDTMF(context.Background(), b.LocalAddr(), 'x'); !errors.Is(err, ErrDigit) {
		t.Fatalf("bad digit err = %v", err)
	}
}

func TestGarbageCountedNotDecoded(t *testing.T) {
	b := listen(t)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(b.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, g := range [][]byte{{1, 2, 3}, make([]byte, 40), {0x80}, {0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}} {
		if _, err := c.Write(g); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, waitPatience, "4 invalid", func() bool { return b.Stats().Invalid == 4 })
	if n, first := b.Received(); n != 0 || first.IsValid() {
		t.Fatalf("garbage counted as RTP: %d from %v", n, first)
	}
}

func TestSendValidationAndCancel(t *testing.T) {
	a, b := listen(t), listen(t)
	if err := a.Send(context.Background(), b.LocalAddr(), 18, 440, time.Second); !errors.Is(err, ErrPayloadType) {
		t.Fatalf("PT 18 err = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := a.Send(ctx, b.LocalAddr(), PayloadPCMU, 440, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled send err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("cancel not honoured")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
