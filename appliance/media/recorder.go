package media

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/recstore"
)

const (
	sampleRate = 8000
	// ringFrames is how far (in sample frames) the recorder keeps audio
	// before writing it: packets up to this late are still placed. One
	// second: a packet later than that is no use to the conversation
	// either, and each call holds the ring (16 KB) while it is up.
	ringFrames = sampleRate
	// maxSkew is how far a stream's RTP-timestamp position may drift from
	// its arrival position before it is re-anchored to the arrival time
	// (sender restarts, timestamp jumps, clock skew on long calls).
	maxSkew = sampleRate
	// flushChunk bounds each write of silence when a long gap is skipped.
	flushChunk = 4096
)

// recSink is a session's recorder: the stereo WAV recorder for G.711
// calls, the Ogg Opus one for Opus calls.
type recSink interface {
	// packet records a leg's audio packet (ch 0: leg A, 1: leg B).
	packet(ch int, c Codec, pkt *rtp.Packet, now time.Time)
	// finish finalises the file and describes it.
	finish() (Result, error)
}

// recFile is the file a recorder writes: plain, or through recstore.
type recFile struct {
	part, final string
	f           *os.File         // plain file, or nil
	enc         *recstore.Writer // encrypted file, or nil
}

// createRecFile creates the .part file of <dir>/<name>, refusing to
// overwrite an existing recording.
func createRecFile(dir, name string, key recstore.Key) (*recFile, error) {
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%w: %s already exists", ErrRecording, final)
	}
	rf := &recFile{part: final + ".part", final: final}
	var err error
	if key.IsZero() {
		rf.f, err = os.OpenFile(rf.part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	} else {
		rf.enc, err = recstore.Create(rf.part, key)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	return rf, nil
}

// w is where the recording's plaintext goes.
func (rf *recFile) w() io.WriteSeeker {
	if rf.enc != nil {
		return rf.enc
	}
	return rf.f
}

// abort closes and removes a file that never became a recording.
func (rf *recFile) abort() {
	if rf.f != nil {
		rf.f.Close()
	} else {
		rf.enc.Close()
	}
	os.Remove(rf.part)
}

// finish syncs and closes the file (err: the writer's own error, which
// keeps the .part file for forensics), renames it to its final name and
// returns its path, plaintext SHA-256 and size.
func (rf *recFile) finish(err error) (Result, error) {
	var res Result
	var size int64
	var sum [32]byte
	if rf.enc != nil {
		if err != nil {
			rf.enc.Close()
			return res, err
		}
		size, sum, err = rf.enc.Close()
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrRecording, err)
		}
	} else {
		if serr := rf.f.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("%w: sync: %w", ErrRecording, serr)
		}
		if cerr := rf.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%w: close: %w", ErrRecording, cerr)
		}
		if err != nil {
			return res, err
		}
	}
	if err := os.Rename(rf.part, rf.final); err != nil {
		return res, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	if d, err := os.Open(filepath.Dir(rf.final)); err == nil {
		_ = d.Sync() // make the rename durable; best effort on odd filesystems
		d.Close()
	}
	if rf.enc == nil {
		var hexSum string
		hexSum, size, err = hashFile(rf.final)
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		res.SHA256 = hexSum
	} else {
		res.SHA256, res.Encrypted = hex.EncodeToString(sum[:]), true
	}
	res.Path, res.Bytes = rf.final, size
	return res, nil
}

// stream tracks one leg's RTP stream inside the recording.
type stream struct {
	active bool
	ssrc   uint32
	ts0    uint32 // RTP timestamp of the anchor packet
	off    int64  // file frame where the anchor packet goes
	seq    uint16 // highest sequence number seen
}

// recorder places both legs' G.711 samples into a stereo WAV by RTP
// timestamp. Channel 0 (left) is leg A, channel 1 (right) is leg B.
type recorder struct {
	mu sync.Mutex

	law     g711.Law // law of the file
	silence byte
	file    *recFile
	w       *wav.Writer
	err     error
	meters  [2]levelMeter

	started bool
	origin  time.Time // arrival of the first recorded packet: frame 0
	streams [2]stream
	ring    []byte // ringFrames interleaved stereo frames
	base    int64  // file frame held at ring index base%ringFrames
	end     int64  // one past the last frame written by any leg
	zeros   []byte // flushChunk bytes of silence for long gaps
	conv    [2]*[256]byte
}

// newRecorder creates <dir>/<callID>.wav.part (.wav.enc.part, encrypted,
// when key is set). It refuses to overwrite an existing recording.
func newRecorder(dir, callID string, law g711.Law, key recstore.Key) (*recorder, error) {
	format := FormatWAVPCMU
	if law == g711.Alaw {
		format = FormatWAVPCMA
	}
	rf, err := createRecFile(dir, recordingName(callID, format, !key.IsZero()), key)
	if err != nil {
		return nil, err
	}
	// recstore buffers a segment before sealing it: a second buffer in
	// front of it would cost each call 32 KiB and a copy of every byte.
	buf := 32 << 10
	if rf.enc != nil {
		buf = 0
	}
	w, err := wav.NewWriterSize(rf.w(), wav.Format{Encoding: wavEncoding(law), Channels: 2, SampleRate: sampleRate}, buf)
	if err != nil {
		rf.abort()
		return nil, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	r := &recorder{
		law: law, silence: law.Silence(), file: rf, w: w,
		ring:  make([]byte, 2*ringFrames),
		zeros: make([]byte, flushChunk),
	}
	fill(r.ring, r.silence)
	fill(r.zeros, r.silence)
	return r, nil
}

func wavEncoding(l g711.Law) wav.Encoding {
	if l == g711.Alaw {
		return wav.Alaw
	}
	return wav.Mulaw
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

var identity = func() *[256]byte {
	var t [256]byte
	for i := range t {
		t[i] = byte(i)
	}
	return &t
}()

var ulawToAlaw, alawToUlaw = func() (*[256]byte, *[256]byte) {
	var u, a [256]byte
	for i := range 256 {
		u[i] = g711.UlawToAlaw(byte(i))
		a[i] = g711.AlawToUlaw(byte(i))
	}
	return &u, &a
}()

// table returns the code-word conversion from src to the file's law.
func (r *recorder) table(src g711.Law) *[256]byte {
	switch {
	case src == r.law:
		return identity
	case src == g711.Ulaw:
		return ulawToAlaw
	default:
		return alawToUlaw
	}
}

// packet records a G.711 packet and measures its level.
func (r *recorder) packet(ch int, c Codec, pkt *rtp.Packet, now time.Time) {
	law := g711.Ulaw
	if c == CodecPCMA {
		law = g711.Alaw
	}
	r.write(ch, law, pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, pkt.Payload, now)
	r.mu.Lock()
	r.meters[ch&1].g711(law, pkt.Payload)
	r.mu.Unlock()
}

// write records one packet's payload, in law src, for channel ch.
func (r *recorder) write(ch int, src g711.Law, ssrc uint32, seq uint16, ts uint32, payload []byte, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil || r.w == nil {
		return
	}
	if !r.started {
		r.started, r.origin = true, now
	}
	arrival := int64(now.Sub(r.origin)) * sampleRate / int64(time.Second)
	st := &r.streams[ch]
	if !st.active || st.ssrc != ssrc {
		*st = stream{active: true, ssrc: ssrc, ts0: ts, off: arrival, seq: seq}
	}
	newer := int16(seq-st.seq) > 0
	if newer {
		st.seq = seq
	}
	pos := st.off + int64(int32(ts-st.ts0))
	// A timestamp far ahead of the arrival time, or far behind it on a
	// packet that is not merely late (its sequence number is the newest),
	// means the sender's timeline jumped: re-anchor at the arrival time.
	if d := pos - arrival; d > maxSkew || (d < -maxSkew && newer) {
		st.ts0, st.off, pos = ts, arrival, arrival
	}
	n := int64(len(payload))
	if pos < r.base { // older than the ring holds: keep only the part still placeable
		skip := r.base - pos
		if skip >= n {
			return
		}
		payload, pos, n = payload[skip:], r.base, n-skip
	}
	if pos+n > r.base+ringFrames {
		if err := r.flushTo(pos + n - ringFrames); err != nil {
			r.err = err
			return
		}
	}
	conv := r.table(src)
	i := (pos % ringFrames) * 2
	for _, b := range payload {
		r.ring[i+int64(ch)] = conv[b]
		i += 2
		if i == int64(len(r.ring)) {
			i = 0
		}
	}
	r.end = max(r.end, pos+n)
}

// flushTo writes frames [base, upTo) to the file and resets them to silence.
func (r *recorder) flushTo(upTo int64) error {
	for r.base < upTo {
		if r.base >= r.end {
			// Nothing buffered from here on: the ring is all silence.
			n := min(upTo-r.base, int64(len(r.zeros)/2))
			if _, err := r.w.Write(r.zeros[:2*n]); err != nil {
				return fmt.Errorf("%w: %w", ErrRecording, err)
			}
			r.base += n
			r.end = max(r.end, r.base)
			continue
		}
		start := r.base % ringFrames
		n := min(upTo-r.base, ringFrames-start)
		seg := r.ring[2*start : 2*(start+n)]
		if _, err := r.w.Write(seg); err != nil {
			return fmt.Errorf("%w: %w", ErrRecording, err)
		}
		fill(seg, r.silence)
		r.base += n
	}
	return nil
}

// finish writes what is buffered, finalises the header, syncs, renames
// the file to its final name and hashes it.
func (r *recorder) finish() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	format := FormatWAVPCMU
	if r.law == g711.Alaw {
		format = FormatWAVPCMA
	}
	err := r.err
	if err == nil {
		err = r.flushTo(r.end)
	}
	if cerr := r.w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrRecording, cerr)
	}
	r.w = nil
	// On error the .part file stays for forensics: it is not a finished
	// recording.
	res, err := r.file.finish(err)
	res.Format = format
	res.Audio = [2]AudioStats{r.meters[0].stats(), r.meters[1].stats()}
	return res, err
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
