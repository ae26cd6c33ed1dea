package media

import (
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/recstore"
)

// FuzzPacket feeds hostile datagrams through the relay's validation and,
// when accepted as G.711 audio, into one long-lived recorder: neither may
// panic, validation must agree with the RTP rules, and the recording must
// stay a valid WAV. Seeds live in testdata/fuzz/FuzzPacket.
func FuzzPacket(f *testing.F) {
	r, err := newRecorder(f.TempDir(), "fuzz", g711.Ulaw, recstore.Key{})
	if err != nil {
		f.Fatal(err)
	}
	origin := time.Unix(1e9, 0)
	f.Cleanup(func() {
		res, err := r.finish()
		if err != nil {
			f.Errorf("finish: %v", err)
			return
		}
		fh, err := os.Open(res.Path)
		if err != nil {
			f.Error(err)
			return
		}
		defer fh.Close()
		rd, err := wav.NewReader(fh)
		if err != nil {
			f.Errorf("recording does not parse: %v", err)
			return
		}
		if rd.Channels != 2 || rd.DataSize != res.Bytes-58 {
			f.Errorf("recording header %+v for %d bytes", rd.Header, res.Bytes)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkt rtp.Packet
		if !validRTP(&pkt, data) {
			return
		}
		if data[0]>>6 != 2 || len(data) < 12 || (pkt.PayloadType >= 72 && pkt.PayloadType <= 76) {
			t.Fatalf("accepted a non-RTP datagram % x", data)
		}
		if len(pkt.Payload) > len(data)-12 {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(pkt.Payload), len(data))
		}
		if pkt.PayloadType != PayloadPCMU && pkt.PayloadType != PayloadPCMA {
			return
		}
		// Arrival time follows the sequence number, as if paced.
		now := origin.Add(time.Duration(pkt.SequenceNumber) * 20 * time.Millisecond)
		r.write(int(pkt.SSRC&1), lawOf(pkt.PayloadType), pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, pkt.Payload, now)
		if r.err != nil {
			t.Fatalf("recorder failed: %v", r.err)
		}
		if r.base < 0 || len(r.ring) != 2*ringFrames {
			t.Fatalf("recorder state broken: base %d ring %d", r.base, len(r.ring))
		}
	})
}
