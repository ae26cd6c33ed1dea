package media

import (
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/ogg"
	"github.com/kinline/kinline/shared/recstore"
)

// FuzzOpusRecorder feeds hostile RTP packets, as Opus audio, into one
// long-lived Ogg Opus recorder: pion/opus decoding them for the level
// metadata and the Ogg writing must never panic, every packet is either
// decoded or counted, and the file must stay a valid two-stream Ogg.
// Seeds (testdata/fuzz/FuzzOpusRecorder) are packets of the speech
// capture in RTP and malformed variants.
func FuzzOpusRecorder(f *testing.F) {
	r, err := newOpusRecorder(f.TempDir(), "fuzz", recstore.Key{}, nil)
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
		b, err := os.ReadFile(res.Path)
		if err != nil {
			f.Error(err)
			return
		}
		if streams, err := ogg.Read(b); err != nil || len(streams) != 2 {
			f.Errorf("recording unreadable: %d streams, %v", len(streams), err)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkt rtp.Packet
		if !validRTP(&pkt, data) {
			return
		}
		ch := int(pkt.SSRC & 1)
		before := r.meters[ch].level
		now := origin.Add(time.Duration(pkt.SequenceNumber) * 20 * time.Millisecond)
		r.packet(ch, CodecOpus, &pkt, now)
		if r.err != nil {
			t.Fatalf("recorder failed: %v", r.err)
		}
		after := r.meters[ch].level
		if after.frames+after.undecodable < before.frames+before.undecodable {
			t.Fatal("counters went back")
		}
	})
}
