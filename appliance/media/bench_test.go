package media

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/recstore"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelay relays 20 ms PCMU packets (172 bytes) from leg A to leg B
// of one recorded session over loopback, with up to 64 packets in flight.
// One op is one packet. It reports packets/s, process CPU per packet, and
// allocs/op (= allocations per packet, all goroutines included).
func BenchmarkRelay(b *testing.B) { benchRelay(b, PayloadPCMU, PayloadPCMU, recstore.Key{}) }

// BenchmarkRelayTranscode is BenchmarkRelay with leg B on PCMA: every
// packet is converted from PCMU in place.
func BenchmarkRelayTranscode(b *testing.B) { benchRelay(b, PayloadPCMU, PayloadPCMA, recstore.Key{}) }

// BenchmarkRelayEncrypted is BenchmarkRelay with the recording encrypted
// at rest (Config.RecordKey).
func BenchmarkRelayEncrypted(b *testing.B) {
	k, err := recstore.NewKey(make([]byte, recstore.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	benchRelay(b, PayloadPCMU, PayloadPCMU, k)
}

// BenchmarkConvert is the PCMU->PCMA conversion of one 20 ms packet.
func BenchmarkConvert(b *testing.B) {
	p := make([]byte, 160)
	for i := range p {
		p[i] = byte(i)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		convert(p, CodecPCMU)
	}
}

func benchRelay(b *testing.B, ptA, ptB uint8, key recstore.Key) {
	m, err := NewManager(Config{RecordDir: b.TempDir(), PortMin: 30000, PortMax: 39998, RecordKey: key}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	s, err := m.NewSession("bench", true)
	if err != nil {
		b.Fatal(err)
	}
	sender, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	s.SetRemote(LegA, sender.LocalAddr().(*net.UDPAddr).AddrPort(), ptA)
	s.SetRemote(LegB, sink.LocalAddr().(*net.UDPAddr).AddrPort(), ptB)
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}

	const window = 64
	inflight := make(chan struct{}, window)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			<-inflight
		}
	}()
	pkt := rawRTP(ptA, 0, 0, make([]byte, 160))
	to := s.LocalAddr(LegA)
	stall := time.NewTimer(time.Hour)
	send := func(i int) {
		select {
		case inflight <- struct{}{}:
		default:
			stall.Reset(10 * time.Second)
			select {
			case inflight <- struct{}{}:
				stall.Stop()
			case <-stall.C:
				b.Fatalf("relay stalled after %d packets (lost datagrams?)", i)
			}
		}
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		pkt[12] = byte(i) // vary the audio
		if _, err := sender.WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 { // warm up: latch, first file writes
		send(i)
	}
	b.ReportAllocs()
	cpu0, wall0 := cpuTime(), time.Now()
	b.ResetTimer()
	for i := range b.N {
		send(100 + i)
	}
	for range window { // wait for the last packets
		send(100 + b.N)
	}
	b.StopTimer()
	wall, cpu := time.Since(wall0), cpuTime()-cpu0
	b.ReportMetric(float64(b.N)/wall.Seconds(), "pkts/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1000, "cpu-µs/pkt")
	res, err := s.Close()
	if err != nil {
		b.Fatal(err)
	}
	if res.Packets[LegA] < uint64(b.N) {
		b.Fatalf("relayed %d of %d", res.Packets[LegA], b.N)
	}
}
