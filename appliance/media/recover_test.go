package media

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/ogg"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
)

// killedRecording records secs seconds of a call (both legs) and returns
// what its .part file held while the call was still up (what kill -9
// leaves: everything the recorder had handed to the disk), with at least
// minBytes of it written, and the plaintext of the same recording
// finished normally.
func killedRecording(t *testing.T, m *Manager, callID string, secs, minBytes int) (part []byte, finished []byte) {
	t.Helper()
	key := m.cfg.RecordKey
	r, err := newRecorder(m.cfg.RecordDir, callID, g711.Ulaw, key)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1e9, 0))
	for i := range secs * 50 {
		r.write(0, g711.Ulaw, 1, uint16(i), uint32(i*160), frame(byte(i)), clk.Now())
		r.write(1, g711.Ulaw, 2, uint16(i), uint32(i*160), frame(byte(255-i)), clk.Now())
		clk.Advance(20 * time.Millisecond)
	}
	partPath := m.PartPaths(callID)[0]
	testkit.EventuallyNil(t, 30*time.Second, fmt.Sprintf("the .part to hold %d bytes", minBytes), func() error {
		b, err := os.ReadFile(partPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < minBytes {
			return fmt.Errorf(".part holds %d bytes", len(b))
		}
		part = b
		return nil
	})
	res, err := r.finish()
	if err != nil {
		t.Fatal(err)
	}
	finished = plaintext(t, res.Path, key)
	if err := os.Remove(res.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partPath, part, 0o640); err != nil {
		t.Fatal(err)
	}
	return part, finished
}

func plaintext(t *testing.T, path string, key recstore.Key) []byte {
	t.Helper()
	if key.IsZero() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r, err := recstore.Open(path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRecovered checks a recovered WAV: a valid header stating its real
// size, sample data that is the start of the finished call's, at least
// minFrames long, its SHA-256 and size as the Result says, no .part left.
func checkRecovered(t *testing.T, m *Manager, callID string, res Result, finished []byte, minFrames int64) {
	t.Helper()
	if res.Path != m.RecordingPath(callID, FormatWAVPCMU) || res.Format != FormatWAVPCMU {
		t.Fatalf("Result = %+v", res)
	}
	got := plaintext(t, res.Path, m.cfg.RecordKey)
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != res.SHA256 || int64(len(got)) != res.Bytes {
		t.Fatalf("Result SHA-256/size %s/%d, file %x/%d", res.SHA256, res.Bytes, sum, len(got))
	}
	rd, err := wav.NewReader(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Header.Channels != 2 || rd.Header.Encoding != wav.Mulaw || rd.Header.Frames != int64(len(data)/2) || rd.Header.Frames < minFrames {
		t.Fatalf("header %+v, %d data bytes, want at least %d frames", rd.Header, len(data), minFrames)
	}
	if want := finished[g711WAVHeader:]; !bytes.HasPrefix(want, data) {
		t.Fatal("recovered audio is not the start of the call's audio")
	}
	for _, p := range m.PartPaths(callID) {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left on disk (%v)", p, err)
		}
	}
}

func TestRecoverRecordingContent(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  bool
	}{{"encrypted", true}, {"plain", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var key recstore.Key
			minBytes := g711WAVHeader + 32<<10 // the plain recorder's buffer
			if tc.key {
				key, _ = recstore.NewKey(bytes.Repeat([]byte{3}, recstore.KeySize))
				minBytes = recstore.HeaderSize + 4*(recstore.SegmentSize+recstore.Overhead)
			}
			m, err := NewManager(Config{RecordDir: t.TempDir(), RecordKey: key}, nil)
			if err != nil {
				t.Fatal(err)
			}
			callID := "killed-" + tc.name
			_, finished := killedRecording(t, m, callID, 6, minBytes)
			res, err := m.RecoverRecording(callID)
			if err != nil {
				t.Fatal(err)
			}
			minFrames := int64(32<<10-g711WAVHeader) / 2
			if tc.key {
				minFrames = int64(4*recstore.SegmentSize-g711WAVHeader) / 2
			}
			checkRecovered(t, m, callID, res, finished, minFrames)
			// Died again before the record was written: the sealed file
			// is described as it is.
			again, err := m.RecoverRecording(callID)
			if err != nil || again.Path != res.Path || again.SHA256 != res.SHA256 || again.Bytes != res.Bytes || again.Format != res.Format {
				t.Fatalf("second RecoverRecording = %+v, %v; want %+v", again, err, res)
			}
			if _, err := m.RecoverRecording("never-recorded"); !errors.Is(err, ErrNoPart) {
				t.Fatalf("RecoverRecording of a call without a recording = %v, want ErrNoPart", err)
			}
		})
	}
}

// TestRecoverRecordingTooShort: a call cut before its first segment was
// full leaves nothing to keep; the .part goes all the same.
func TestRecoverRecordingTooShort(t *testing.T) {
	key, _ := recstore.NewKey(bytes.Repeat([]byte{4}, recstore.KeySize))
	m, err := NewManager(Config{RecordDir: t.TempDir(), RecordKey: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := recstore.Create(m.PartPaths("short")[0], key)
	if err != nil {
		t.Fatal(err)
	}
	_ = w // never closed: its segment 0 never reached the disk
	res, err := m.RecoverRecording("short")
	if err != nil || res.Path != "" {
		t.Fatalf("RecoverRecording = %+v, %v; want no recording", res, err)
	}
	if _, err := os.Stat(m.PartPaths("short")[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".part left: %v", err)
	}
}

func TestRepairOggCutPage(t *testing.T) {
	var buf bytes.Buffer
	ow := ogg.NewWriter(&buf)
	head := ogg.OpusHead{Channels: 1, InputRate: ogg.OpusRate}.Marshal()
	if err := ow.WritePacket(7, head, 0); err != nil {
		t.Fatal(err)
	}
	if err := ow.Flush(7); err != nil {
		t.Fatal(err)
	}
	var ends []int
	for i := range 5 {
		if err := ow.WritePacket(7, bytes.Repeat([]byte{byte(i)}, 300), int64(960*(i+1))); err != nil {
			t.Fatal(err)
		}
		if err := ow.Flush(7); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, buf.Len())
	}
	whole := buf.Bytes()
	cut := whole[:ends[3]+40] // page 5 cut in two
	var out bytes.Buffer
	if err := repairOgg(&out, bufio.NewReader(bytes.NewReader(cut))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), whole[:ends[3]]) {
		t.Fatalf("repaired %d bytes, want %d", out.Len(), ends[3])
	}
}

// FuzzRepair feeds arbitrary bytes to the WAV and Ogg repair of a
// partial recording: no panic, and whatever comes out is whole (a WAV
// whose header states its data; only Ogg pages that parse).
func FuzzRepair(f *testing.F) {
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x12\x00\x00\x00\x07\x00\x02\x00@\x1f\x00\x00\x80>\x00\x00\x02\x00\x08\x00\x00\x00fact\x04\x00\x00\x00\x00\x00\x00\x00data\x00\x00\x00\x00abcde"))
	f.Add([]byte("OggS\x00\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ws := &memFile{}
		if err := repairWAV(ws, bufio.NewReader(bytes.NewReader(b))); err == nil {
			rd, err := wav.NewReader(bytes.NewReader(ws.b))
			if err != nil {
				t.Fatalf("repaired WAV does not parse: %v", err)
			}
			data, _ := io.ReadAll(rd)
			if int64(len(data)) != rd.Header.Frames*2 {
				t.Fatalf("%d data bytes, header says %d frames", len(data), rd.Header.Frames)
			}
		}
		var out bytes.Buffer
		if err := repairOgg(&out, bufio.NewReader(bytes.NewReader(b))); err != nil {
			t.Fatal(err)
		}
		for rest := out.Bytes(); len(rest) > 0; {
			_, n, err := ogg.ParsePage(rest)
			if err != nil {
				t.Fatalf("repaired Ogg holds a bad page: %v", err)
			}
			rest = rest[n:]
		}
	})
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	pos int
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.pos + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[m.pos:], p)
	m.pos += len(p)
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.pos = int(off)
	case io.SeekCurrent:
		m.pos += int(off)
	case io.SeekEnd:
		m.pos = len(m.b) + int(off)
	}
	return int64(m.pos), nil
}
