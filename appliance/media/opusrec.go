package media

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/ogg"
	"github.com/kinline/kinline/shared/recstore"
)

const (
	// maxFill bounds the silence inserted for one gap (samples at 48 kHz):
	// longer gaps (a sender restart) are not filled.
	maxFill = 30 * ogg.OpusRate
	// vendor is the OpusTags vendor string.
	vendor = "kinline"
)

// opusStream is one leg's logical stream in the Ogg file.
type opusStream struct {
	serial  uint32
	active  bool   // a packet was written
	ssrc    uint32 // RTP stream being followed
	seq     uint16 // highest sequence number written
	nextTS  uint32 // RTP timestamp expected after the last packet
	granule int64  // samples (48 kHz) written so far, fill included
	toc     byte   // TOC of the last packet, for fill packets
	late    uint64 // packets dropped as late or duplicate
}

// opusRecorder writes both legs' Opus packets, as received, to an Ogg
// Opus file with one logical stream per leg (RFC 7845, grouped). Gaps in
// a leg (packet loss, DTX, a leg that starts later than the other) are
// filled with TOC-only packets, which decoders render as concealment or
// silence (RFC 6716 section 3.2.1), so both streams keep time.
type opusRecorder struct {
	mu      sync.Mutex
	file    *recFile
	ow      *ogg.Writer
	err     error
	started bool
	origin  time.Time
	streams [2]opusStream
	meters  [2]opusMeter
	fill    [1]byte
}

func newOpusRecorder(dir, callID string, key recstore.Key, log *slog.Logger) (*opusRecorder, error) {
	rf, err := createRecFile(dir, recordingName(callID, FormatOggOpus, !key.IsZero()), key)
	if err != nil {
		return nil, err
	}
	r := &opusRecorder{file: rf, ow: ogg.NewWriter(rf.w())}
	base := rand.Uint32()
	for i := range r.streams {
		r.streams[i].serial = base + uint32(i)
		r.meters[i].log = log
	}
	// Grouped streams: every BOS page first, then the comment headers.
	head := ogg.OpusHead{Channels: 1, InputRate: ogg.OpusRate}.Marshal()
	for i := range r.streams {
		if err := r.header(i, head); err != nil {
			rf.abort()
			return nil, err
		}
	}
	for i, leg := range []string{"A", "B"} {
		tags := ogg.OpusTags(vendor, "KINLINE_CALL="+callID, "KINLINE_LEG="+leg)
		if err := r.header(i, tags); err != nil {
			rf.abort()
			return nil, err
		}
	}
	return r, nil
}

func (r *opusRecorder) header(i int, packet []byte) error {
	serial := r.streams[i].serial
	if err := r.ow.WritePacket(serial, packet, 0); err != nil {
		return fmt.Errorf("%w: %w", ErrRecording, err)
	}
	if err := r.ow.Flush(serial); err != nil {
		return fmt.Errorf("%w: %w", ErrRecording, err)
	}
	return nil
}

// packet records one Opus packet of leg ch and measures it.
func (r *opusRecorder) packet(ch int, _ Codec, pkt *rtp.Packet, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	ch &= 1
	st := &r.streams[ch]
	dur, err := ogg.OpusSamples(pkt.Payload)
	if err != nil {
		r.meters[ch].level.undecodable++
		return // not an Opus packet: nothing a player could use
	}
	if !r.started {
		r.started, r.origin = true, now
	}
	var gap int64
	switch {
	case !st.active:
		// The first packet of the leg: place it at its arrival time.
		gap = int64(now.Sub(r.origin)) * ogg.OpusRate / int64(time.Second)
	case pkt.SSRC != st.ssrc:
		gap = 0 // a new RTP stream: continue without a hole
	case int16(pkt.SequenceNumber-st.seq) <= 0:
		st.late++ // late or duplicate: the stream has moved past it
		return
	default:
		gap = int64(int32(pkt.Timestamp - st.nextTS))
	}
	if gap > 0 && gap <= maxFill {
		r.fillGap(st, gap)
	}
	st.active, st.ssrc, st.seq = true, pkt.SSRC, pkt.SequenceNumber
	st.nextTS = pkt.Timestamp + uint32(dur)
	st.toc = pkt.Payload[0]
	st.granule += int64(dur)
	if err := r.ow.WritePacket(st.serial, pkt.Payload, st.granule); err != nil {
		r.err = fmt.Errorf("%w: %w", ErrRecording, err)
		return
	}
	r.meters[ch].packet(pkt.Payload)
}

// fillGap writes TOC-only packets (code 0, empty frame: concealment) to
// cover gap samples, in frames of the last packet's configuration (20 ms
// SILK narrowband for a leg's leading silence).
func (r *opusRecorder) fillGap(st *opusStream, gap int64) {
	toc := st.toc &^ 3
	if !st.active {
		toc = 1 << 3 // SILK NB 20 ms, mono
	}
	r.fill[0] = toc
	per, _ := ogg.OpusSamples(r.fill[:])
	for ; gap >= int64(per); gap -= int64(per) {
		st.granule += int64(per)
		if err := r.ow.WritePacket(st.serial, r.fill[:], st.granule); err != nil {
			r.err = fmt.Errorf("%w: %w", ErrRecording, err)
			return
		}
	}
}

// finish ends both streams (EOS pages), closes the file and describes it.
func (r *opusRecorder) finish() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.err
	if cerr := r.ow.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrRecording, cerr)
	}
	res, err := r.file.finish(err)
	res.Format = FormatOggOpus
	res.Audio = [2]AudioStats{r.meters[0].level.stats(), r.meters[1].level.stats()}
	return res, err
}
