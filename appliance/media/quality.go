package media

import (
	"time"

	"github.com/pion/rtp"
)

// rxQuality measures one leg's received stream as RFC 3550 (appendix A.1
// and A.8) does: packets lost from the sequence numbers, and the
// interarrival jitter from arrival times against RTP timestamps. It is
// updated under the session's lock, a few operations per packet.
type rxQuality struct {
	ssrc     uint32
	started  bool
	baseSeq  uint32 // extended sequence number of the first packet
	maxSeq   uint32 // extended highest sequence number seen
	received uint64 // packets of this SSRC (since it started)
	lostPrev uint64 // lost in the streams before an SSRC change

	prevArrival time.Time
	prevTS      uint32
	jitter      float64 // seconds
	jitterOK    bool    // two audio packets compared at least once
}

// packet takes one valid packet; rate is the audio codec's RTP clock
// (0: the packet is not audio, so it counts for loss only).
func (q *rxQuality) packet(p *rtp.Packet, now time.Time, rate float64) {
	seq := uint32(p.SequenceNumber)
	if !q.started || p.SSRC != q.ssrc {
		if q.started {
			q.lostPrev += q.lostNow()
		}
		q.ssrc, q.started = p.SSRC, true
		q.baseSeq, q.maxSeq, q.received = seq, seq, 0
		q.prevArrival = time.Time{}
	}
	q.received++
	// The extended sequence number nearest the highest seen (wraps at
	// 65536; a late packet lands below it).
	ext := q.maxSeq&^0xffff | seq
	switch diff := int32(ext - q.maxSeq); {
	case diff < -0x8000:
		ext += 0x10000
	case diff > 0x8000:
		ext -= 0x10000
	}
	if int32(ext-q.maxSeq) > 0 {
		q.maxSeq = ext
	}
	if rate <= 0 {
		return
	}
	if !q.prevArrival.IsZero() {
		d := now.Sub(q.prevArrival).Seconds() - float64(int32(p.Timestamp-q.prevTS))/rate
		if d < 0 {
			d = -d
		}
		q.jitter += (d - q.jitter) / 16
		q.jitterOK = true
	}
	q.prevArrival, q.prevTS = now, p.Timestamp
}

// lostNow is the current stream's loss: expected minus received, never
// below 0 (duplicates).
func (q *rxQuality) lostNow() uint64 {
	if !q.started {
		return 0
	}
	expected := uint64(q.maxSeq-q.baseSeq) + 1
	if q.received >= expected {
		return 0
	}
	return expected - q.received
}

// lost is every packet lost so far on the leg.
func (q *rxQuality) lost() uint64 { return q.lostPrev + q.lostNow() }

// clockRate is c's RTP clock rate.
func clockRate(c Codec) float64 {
	if c == CodecOpus {
		return 48000
	}
	return 8000
}
