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

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/wav"
)

const (
	sampleRate = 8000
	// ringFrames is how far (in sample frames) the recorder keeps audio
	// before writing it: packets up to this late are still placed.
	ringFrames = 2 * sampleRate
	// maxSkew is how far a stream's RTP-timestamp position may drift from
	// its arrival position before it is re-anchored to the arrival time
	// (sender restarts, timestamp jumps, clock skew on long calls).
	maxSkew = sampleRate
	// flushChunk bounds each write of silence when a long gap is skipped.
	flushChunk = 4096
)

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
	part    string // file being written
	final   string // name after finalising
	f       *os.File
	w       *wav.Writer
	err     error

	started bool
	origin  time.Time // arrival of the first recorded packet: frame 0
	streams [2]stream
	ring    []byte // ringFrames interleaved stereo frames
	base    int64  // file frame held at ring index base%ringFrames
	end     int64  // one past the last frame written by any leg
	zeros   []byte // flushChunk bytes of silence for long gaps
	conv    [2]*[256]byte
}

// newRecorder creates <dir>/<callID>.wav.part. It refuses to overwrite an
// existing recording.
func newRecorder(dir, callID string, law g711.Law) (*recorder, error) {
	final := filepath.Join(dir, callID+".wav")
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%w: %s already exists", ErrRecording, final)
	}
	part := final + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	w, err := wav.NewWriter(f, wav.Format{Encoding: wavEncoding(law), Channels: 2, SampleRate: sampleRate})
	if err != nil {
		f.Close()
		os.Remove(part)
		return nil, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	r := &recorder{
		law: law, silence: law.Silence(), part: part, final: final, f: f, w: w,
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
	res := Result{Format: "wav/" + r.law.String() + "-stereo"}
	err := r.err
	if err == nil {
		err = r.flushTo(r.end)
	}
	if cerr := r.w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrRecording, cerr)
	}
	if serr := r.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("%w: sync: %w", ErrRecording, serr)
	}
	if cerr := r.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: close: %w", ErrRecording, cerr)
	}
	r.w = nil
	if err != nil {
		// Keep the .part file for forensics; it is not a finished recording.
		return res, err
	}
	if err := os.Rename(r.part, r.final); err != nil {
		return res, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	if d, err := os.Open(filepath.Dir(r.final)); err == nil {
		_ = d.Sync() // make the rename durable; best effort on odd filesystems
		d.Close()
	}
	sum, size, err := hashFile(r.final)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	res.Path, res.SHA256, res.Bytes = r.final, sum, size
	return res, nil
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
