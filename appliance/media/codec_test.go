package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/ogg"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
)

// speechPackets returns the Opus packets of testdata/speech.opus, a real
// capture (espeak-ng speech, 2.8 s, then 1 s of silence; opusenc --speech
// --bitrate 12 --framesize 20: SILK, 20 ms per packet), as an RTP sender
// would put them on the wire.
func speechPackets(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/speech.opus")
	if err != nil {
		t.Fatal(err)
	}
	streams, err := ogg.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return streams[0].Packets[2:]
}

// rawPeer is a UDP endpoint that sends RTP it builds and keeps every
// packet it receives, bytes and all.
type rawPeer struct {
	conn *net.UDPConn
	got  chan []byte
}

func newRawPeer(t testing.TB) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{conn: c, got: make(chan []byte, 4096)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				close(p.got)
				return
			}
			p.got <- bytes.Clone(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return p
}

func (p *rawPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *rawPeer) send(t testing.TB, to netip.AddrPort, h rtp.Header, payload []byte) {
	t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// next waits for the next packet p receives.
func (p *rawPeer) next(t testing.TB) *rtp.Packet {
	t.Helper()
	select {
	case b := <-p.got:
		var pkt rtp.Packet
		if err := pkt.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		return &pkt
	case <-time.After(15 * time.Second):
		t.Fatal("no packet relayed within 15 s")
		return nil
	}
}

func testRecordKey(t testing.TB) recstore.Key {
	k, err := recstore.NewKey(bytes.Repeat([]byte{7}, recstore.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestOpusCallEncryptedOggRecording bridges two Opus legs that numbered
// Opus and telephone-event differently, relays a real capture with a
// loss burst, and checks the relay (payloads untouched, payload types
// remapped), the encrypted Ogg Opus recording (packets as received, gap
// filled, granules at 48 kHz), and the level metadata.
func TestOpusCallEncryptedOggRecording(t *testing.T) {
	dir := t.TempDir()
	key := testRecordKey(t)
	m, err := NewManager(Config{RecordDir: dir, PortMin: 30000, PortMax: 39998, RecordKey: key}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession("opus-call", true)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := newRawPeer(t), newRawPeer(t)
	const ptA, ptB, evA, evB = 96, 111, 97, 110
	if err := s.SetRemoteCodec(LegA, pa.addr(), CodecOpus, ptA); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemoteCodec(LegB, pb.addr(), CodecOpus, ptB); err != nil {
		t.Fatal(err)
	}
	s.SetEventPayloadType(LegA, evA)
	s.SetEventPayloadType(LegB, evB)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(t.Context(), LegA, g711.Ulaw, make([]byte, 160)); !errors.Is(err, ErrCodec) {
		t.Fatalf("G.711 prompt to an Opus leg: %v, want ErrCodec", err)
	}

	packets := speechPackets(t)
	const lostFrom, lostTo = 50, 55 // five packets (100 ms) lost on the way
	var sentA [][]byte
	ts := uint32(1000)
	for i, p := range packets {
		if i >= lostFrom && i < lostTo {
			ts += 960
			continue
		}
		pa.send(t, s.LocalAddr(LegA), rtp.Header{PayloadType: ptA, SequenceNumber: uint16(i), Timestamp: ts, SSRC: 0xA}, p)
		got := pb.next(t)
		if got.PayloadType != ptB || !bytes.Equal(got.Payload, p) || got.Timestamp != ts || got.SequenceNumber != uint16(i) {
			t.Fatalf("packet %d relayed as pt %d ts %d seq %d (payload equal: %v)", i, got.PayloadType, got.Timestamp, got.SequenceNumber, bytes.Equal(got.Payload, p))
		}
		sentA = append(sentA, p)
		ts += 960
	}
	// A key pressed on leg A reaches leg B with B's event payload type.
	pa.send(t, s.LocalAddr(LegA), rtp.Header{PayloadType: evA, SequenceNumber: 500, Timestamp: ts, SSRC: 0xA, Marker: true}, []byte{5, 10, 0, 160})
	if got := pb.next(t); got.PayloadType != evB || got.Payload[0] != 5 {
		t.Fatalf("event relayed as pt %d payload %x", got.PayloadType, got.Payload)
	}
	// The called party says a little too (20 packets), and a packet that
	// is not Opus at all (code 3, zero frames) is relayed but not stored.
	for i, p := range packets[:20] {
		pb.send(t, s.LocalAddr(LegB), rtp.Header{PayloadType: ptB, SequenceNumber: uint16(7000 + i), Timestamp: uint32(i * 960), SSRC: 0xB}, p)
		if got := pa.next(t); got.PayloadType != ptA || !bytes.Equal(got.Payload, p) {
			t.Fatalf("B->A packet %d: pt %d", i, got.PayloadType)
		}
	}
	pb.send(t, s.LocalAddr(LegB), rtp.Header{PayloadType: ptB, SequenceNumber: 7020, Timestamp: 20 * 960, SSRC: 0xB}, []byte{0x0b, 0x00})
	pa.next(t)

	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatOggOpus || !res.Encrypted || !strings.HasSuffix(res.Path, "opus-call.ogg.enc") || res.Path != m.RecordingPath("opus-call", res.Format) {
		t.Fatalf("result %+v", res)
	}
	raw, _ := os.ReadFile(res.Path)
	if bytes.Contains(raw, []byte("OggS")) || bytes.Contains(raw, []byte("OpusHead")) {
		t.Fatal("the recording on disk is not encrypted")
	}
	r, err := recstore.Open(res.Path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != res.SHA256 || int64(len(plain)) != res.Bytes {
		t.Fatal("Result SHA256/Bytes are not those of the plaintext")
	}
	streams, err := ogg.Read(plain)
	if err != nil {
		t.Fatalf("recording is not valid Ogg: %v", err)
	}
	if len(streams) != 2 || !streams[0].EOS || !streams[1].EOS {
		t.Fatalf("%d streams", len(streams))
	}
	for i, st := range streams {
		head, err := ogg.ParseOpusHead(st.Packets[0])
		if err != nil || head.Channels != 1 {
			t.Fatalf("stream %d head %+v %v", i, head, err)
		}
		_, comments, err := ogg.ParseOpusTags(st.Packets[1])
		if err != nil || comments[1] != "KINLINE_LEG="+string("AB"[i]) {
			t.Fatalf("stream %d tags %q %v", i, comments, err)
		}
	}
	// Leg A: the packets as received, the lost 100 ms filled with five
	// TOC-only 20 ms packets, granule = every packet's 960 samples.
	var stored [][]byte
	fills := 0
	for _, p := range streams[0].Packets[2:] {
		if len(p) == 1 {
			fills++
			continue
		}
		stored = append(stored, p)
	}
	if fills != lostTo-lostFrom || len(stored) != len(sentA) {
		t.Fatalf("leg A: %d packets + %d fills, want %d + %d", len(stored), fills, len(sentA), lostTo-lostFrom)
	}
	for i := range stored {
		if !bytes.Equal(stored[i], sentA[i]) {
			t.Fatalf("leg A packet %d re-encoded or reordered", i)
		}
	}
	if want := int64(960 * len(packets)); streams[0].LastGran != want {
		t.Fatalf("leg A granule %d, want %d", streams[0].LastGran, want)
	}
	if streams[1].LastGran < 20*960 {
		t.Fatalf("leg B granule %d", streams[1].LastGran)
	}

	a, b := res.Audio[0], res.Audio[1]
	t.Logf("leg A: %+v; leg B: %+v", a, b)
	if a.Frames+a.Undecodable != uint64(len(sentA)) || a.Frames < uint64(len(sentA))*9/10 {
		t.Fatalf("leg A analysed %d, undecodable %d of %d", a.Frames, a.Undecodable, len(sentA))
	}
	// The capture is 2.8 s of speech then 1 s of silence.
	if a.SilenceRatio < 0.15 || a.SilenceRatio > 0.6 || a.LevelDBFS < -40 || a.LevelDBFS > -3 {
		t.Fatalf("leg A level %.1f dBFS, silence %.2f", a.LevelDBFS, a.SilenceRatio)
	}
	if b.Undecodable != 1 || b.Frames != 20 {
		t.Fatalf("leg B: %+v, want 20 frames and the non-Opus packet counted undecodable", b)
	}
}

func TestMixedOpusG711Refused(t *testing.T) {
	m := newManager(t, t.TempDir())
	s, err := m.NewSession("mixed", true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pa, pb := phone(t), phone(t)
	s.SetRemoteCodec(LegA, pa.LocalAddr(), CodecOpus, 96)
	s.SetRemote(LegB, pb.LocalAddr(), PayloadPCMU)
	if err := s.Start(); !errors.Is(err, ErrMixedCodecs) {
		t.Fatalf("Start: %v, want ErrMixedCodecs", err)
	}
	if _, err := os.Stat(filepath.Join(m.Config().RecordDir, "mixed.wav.part")); err == nil {
		t.Fatal("a refused session created a recording")
	}
	if err := s.SetRemoteCodec(LegA, pa.LocalAddr(), CodecPCMU, 96); !errors.Is(err, ErrPayloadType) {
		t.Fatalf("PCMU with PT 96: %v", err)
	}
	if err := s.SetRemoteCodec(LegA, pa.LocalAddr(), Codec(9), 0); !errors.Is(err, ErrCodec) {
		t.Fatalf("unknown codec: %v", err)
	}
	if err := s.SetRemoteCodec(LegA, pa.LocalAddr(), CodecPCMA, PayloadPCMA); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("PCMA/PCMU: %v", err)
	}
	if err := s.SetRemoteCodec(LegB, pb.LocalAddr(), CodecOpus, 111); !errors.Is(err, ErrMixedCodecs) {
		t.Fatalf("re-INVITE to Opus on one leg: %v", err)
	}
}

// TestG711EncryptedWAVAndLevels records a PCMU/PCMA call (converted per
// packet) through recstore and checks the plaintext WAV, the absence of
// plaintext on disk, the telephone-event remap, and the level metadata
// of a known tone and of silence.
func TestG711EncryptedWAVAndLevels(t *testing.T) {
	dir := t.TempDir()
	key := testRecordKey(t)
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	m, err := NewManager(Config{RecordDir: dir, PortMin: 30000, PortMax: 39998, RecordKey: key, Clock: clk}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession("g711-call", true)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := newRawPeer(t), newRawPeer(t)
	s.SetRemote(LegA, pa.addr(), PayloadPCMU)
	s.SetRemote(LegB, pb.addr(), PayloadPCMA)
	s.SetEventPayloadType(LegA, 101)
	s.SetEventPayloadType(LegB, 96)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Leg A: a 1 kHz tone at amplitude 8000 (RMS 5657: -15.3 dBFS) for
	// 50 packets, then 50 packets of silence; leg B: silence throughout.
	const tone = 8000
	var rmsWant = 20 * math.Log10(tone/math.Sqrt2/32768)
	for i := range 100 {
		pay := make([]byte, 160)
		for j := range pay {
			v := 0.0
			if i < 50 {
				v = tone * math.Sin(2*math.Pi*1000*float64(i*160+j)/8000)
			}
			pay[j] = g711.Ulaw.Encode(int16(v))
		}
		pa.send(t, s.LocalAddr(LegA), rtp.Header{PayloadType: PayloadPCMU, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 1}, pay)
		got := pb.next(t)
		if got.PayloadType != PayloadPCMA || got.Payload[7] != g711.UlawToAlaw(pay[7]) {
			t.Fatalf("packet %d: pt %d, not converted to PCMA", i, got.PayloadType)
		}
		silence := bytes.Repeat([]byte{g711.Alaw.Silence()}, 160)
		pb.send(t, s.LocalAddr(LegB), rtp.Header{PayloadType: PayloadPCMA, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 2}, silence)
		if got := pa.next(t); got.PayloadType != PayloadPCMU {
			t.Fatalf("B->A pt %d", got.PayloadType)
		}
		clk.Advance(20 * time.Millisecond) // packets arrive in real time as far as the recorder knows
	}
	pb.send(t, s.LocalAddr(LegB), rtp.Header{PayloadType: 96, SequenceNumber: 100, Timestamp: 16000, SSRC: 2, Marker: true}, []byte{1, 10, 0, 160})
	if got := pa.next(t); got.PayloadType != 101 || got.Payload[0] != 1 {
		t.Fatalf("event B->A relayed with pt %d", got.PayloadType)
	}
	res, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatWAVPCMU || !res.Encrypted || filepath.Base(res.Path) != "g711-call.wav.enc" {
		t.Fatalf("result %+v", res)
	}
	raw, _ := os.ReadFile(res.Path)
	if bytes.Contains(raw, []byte("RIFF")) || bytes.Contains(raw, []byte("WAVE")) {
		t.Fatal("WAV header visible on disk: not encrypted")
	}
	r, err := recstore.Open(res.Path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	plain, _ := io.ReadAll(r)
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != res.SHA256 || res.Bytes != int64(len(plain)) {
		t.Fatal("SHA256/Bytes not of the plaintext")
	}
	rd, err := wav.NewReader(bytes.NewReader(plain))
	if err != nil {
		t.Fatalf("decrypted recording is not a WAV (header patch through recstore failed?): %v", err)
	}
	if h := rd.Header; h.Channels != 2 || h.DataSize < 2*100*160 || h.DataOffset+h.DataSize != int64(len(plain)) {
		t.Fatalf("header %+v", rd.Header)
	}
	a, b := res.Audio[0], res.Audio[1]
	t.Logf("leg A %+v (want %.1f dBFS), leg B %+v", a, rmsWant, b)
	if a.Frames != 100 || a.Silent != 50 || math.Abs(a.LevelDBFS-rmsWant) > 0.5 || a.SilenceRatio != 0.5 {
		t.Fatalf("leg A metadata %+v", a)
	}
	if b.Frames != 100 || b.SilenceRatio != 1 || b.LevelDBFS != MinDBFS {
		t.Fatalf("leg B metadata %+v", b)
	}
}
