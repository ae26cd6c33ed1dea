package media

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/internal/testkit"
)

func qpkt(ssrc uint32, seq uint16, ts uint32) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}}
}

// Loss from sequence numbers across the 16-bit wrap, with a reordered
// packet and a new SSRC (the peer restarted its stream).
func TestQualityLossAcrossWrapReorderAndSSRC(t *testing.T) {
	var q rxQuality
	t0 := time.Unix(1000, 0)
	seqs := []uint16{65530, 65531, 65532, 65534, 65535, 0, 1, 65533 /* late */, 4, 5}
	for i, s := range seqs {
		q.packet(qpkt(7, s, 0), t0.Add(time.Duration(i)*20*time.Millisecond), 0)
	}
	// 65530..5 is 12 packets; 2 and 3 never came.
	if got := q.lost(); got != 2 {
		t.Fatalf("lost %d, want 2", got)
	}
	// A new stream: what the old one lost stays counted.
	for _, s := range []uint16{100, 101, 103} {
		q.packet(qpkt(8, s, 0), t0, 0)
	}
	if got := q.lost(); got != 3 {
		t.Fatalf("lost %d after an SSRC change, want 3", got)
	}
	// Duplicates only never count as negative loss (RFC 3550: a duplicate
	// offsets a loss).
	var d rxQuality
	for range 5 {
		d.packet(qpkt(1, 10, 0), t0, 0)
	}
	if got := d.lost(); got != 0 {
		t.Fatalf("duplicates: lost %d", got)
	}
}

// Jitter: 0 for packets paced as their timestamps say; about the
// deviation for packets alternately 10 ms early and late.
func TestQualityJitter(t *testing.T) {
	var steady, shaky rxQuality
	t0 := time.Unix(1000, 0)
	for i := range 500 {
		ts := uint32(i * 160)
		steady.packet(qpkt(1, uint16(i), ts), t0.Add(time.Duration(i)*20*time.Millisecond), 8000)
		off := 10 * time.Millisecond
		if i%2 == 1 {
			off = -off
		}
		shaky.packet(qpkt(1, uint16(i), ts), t0.Add(time.Duration(i)*20*time.Millisecond+off), 8000)
	}
	if !steady.jitterOK || steady.jitter > 1e-9 {
		t.Fatalf("steady stream jitter %v", steady.jitter)
	}
	// Each transit difference is 20 ms: J converges to it.
	if math.Abs(shaky.jitter-0.020) > 0.001 {
		t.Fatalf("shaky stream jitter %v s, want about 0.020", shaky.jitter)
	}
	// An audio codec at 48 kHz (Opus) is measured on its own clock.
	var opus rxQuality
	for i := range 100 {
		opus.packet(qpkt(1, uint16(i), uint32(i*960)), t0.Add(time.Duration(i)*20*time.Millisecond), clockRate(CodecOpus))
	}
	if opus.jitter > 1e-9 {
		t.Fatalf("Opus stream on its clock: jitter %v", opus.jitter)
	}
}

// metric reads one unlabelled metric's value from reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The relay's metrics count a call up, and keep their values when it
// ends: packets relayed, lost (two never sent), the recording's bytes and
// the legs' jitter.
func TestMetricsCountRelayLossAndRecording(t *testing.T) {
	m := newManager(t, t.TempDir())
	reg := prometheus.NewRegistry()
	if err := m.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession("metrics", true)
	if err != nil {
		t.Fatal(err)
	}
	pb := phone(t)
	pa, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	if err := s.SetRemote(LegA, pa.LocalAddr().(*net.UDPAddr).AddrPort(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, reg, "kinline_appliance_media_sessions"); got != 1 {
		t.Fatalf("sessions %v", got)
	}
	payload := make([]byte, 160)
	sent := 0
	for seq := range 10 {
		if seq == 4 || seq == 5 {
			continue // lost on the way
		}
		if _, err := pa.WriteToUDPAddrPort(rawRTP(PayloadPCMU, uint16(seq), uint32(seq*160), payload), s.LocalAddr(LegA)); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	testkit.Eventually(t, waitPatience, "B to get A's packets", func() bool { return received(pb) == uint64(sent) })
	if got := metric(t, reg, "kinline_appliance_rtp_packets_relayed_total"); got != float64(sent) {
		t.Fatalf("relayed %v during the call, want %d", got, sent)
	}
	if got := metric(t, reg, "kinline_appliance_rtp_packets_lost_total"); got != 2 {
		t.Fatalf("lost %v during the call, want 2", got)
	}
	if st := s.Stats(LegA); st.Lost != 2 || !st.JitterOK {
		t.Fatalf("leg A stats %+v", st)
	}
	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"kinline_appliance_rtp_packets_relayed_total":  float64(sent),
		"kinline_appliance_rtp_packets_received_total": float64(sent),
		"kinline_appliance_rtp_packets_lost_total":     2,
		"kinline_appliance_recording_bytes_total":      float64(res.Bytes),
		"kinline_appliance_media_sessions":             0,
		"kinline_appliance_rtp_jitter_seconds":         1, // leg A's; B received nothing
	} {
		if got := metric(t, reg, name); got != want {
			t.Errorf("%s = %v after the call, want %v", name, got, want)
		}
	}
	if res.Bytes <= 0 {
		t.Fatalf("recording of %d bytes", res.Bytes)
	}
}
