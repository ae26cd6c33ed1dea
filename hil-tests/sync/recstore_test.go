package sync_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

// sealRecording writes plain as callID's recording encrypted with key (as
// the media manager does with recording.key_file) and returns its path and
// the reference the call record carries: the plaintext's SHA-256 and size.
func sealRecording(t *testing.T, key recstore.Key, callID string, plain []byte) (string, wire.RecordingRef) {
	t.Helper()
	path := filepath.Join(t.TempDir(), callID+".wav.enc")
	w, err := recstore.Create(path, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	size, sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(plain); sum != want || size != int64(len(plain)) {
		t.Fatalf("writer reports %x (%d bytes), plaintext is %x (%d)", sum, size, want, len(plain))
	}
	return path, wire.RecordingRef{ID: callID, SHA256: hex.EncodeToString(sum[:]), Bytes: size, Format: "wav/pcmu-stereo"}
}

func newKey(t *testing.T) recstore.Key {
	t.Helper()
	raw := make([]byte, recstore.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	k, err := recstore.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The daemon's wiring with recording.key_file: OpenRecording is
// recstore.Opener(key). Central receives and verifies the plaintext (the
// SHA-256 in the call record), in several chunks, and only then is the
// encrypted file deleted.
func TestUploadDecryptsRecstoreRecording(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	key := newKey(t)
	plain := make([]byte, 3*recstore.SegmentSize+1234)
	if _, err := rand.Read(plain); err != nil {
		t.Fatal(err)
	}
	path, ref := sealRecording(t, key, "call-sealed", plain)
	addCall(t, st, ref, path)
	cfg := h.config()
	cfg.ChunkSize = 20 << 10 // not a multiple of the segment size
	cfg.OpenRecording = recstore.Opener(key)
	h.startClient(st, cfg)
	h.waitVerified(st, "call-sealed", path, plain)
}

// A recording sealed with another key cannot be read: it is not uploaded
// and, unverified, never deleted.
func TestRecordingWithAnotherKeyIsKept(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	plain := bytes.Repeat([]byte("RIFF-ish audio "), 1000)
	path, ref := sealRecording(t, newKey(t), "call-otherkey", plain)
	addCall(t, st, ref, path)
	cfg := h.config()
	open, opened := recstore.Opener(newKey(t)), make(chan struct{}, 1)
	cfg.OpenRecording = func(path string) (io.ReadSeekCloser, int64, error) {
		defer func() {
			select {
			case opened <- struct{}{}:
			default:
			}
		}()
		return open(path)
	}
	h.startClient(st, cfg)
	select {
	case <-opened:
	case <-time.After(patience):
		t.Fatal("the client never opened the recording")
	}
	time.Sleep(time.Second) // real time on purpose: a grace period in which it must not upload or delete it
	keptUntilVerified(t, st, "call-otherkey", path)
	if up := h.fake.Recording(appID, "call-otherkey"); up != nil {
		t.Fatalf("central holds %d bytes of a recording nobody could decrypt", len(up.Data))
	}
}
