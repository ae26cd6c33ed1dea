package sync_test

import (
	"crypto/rand"
	"io"
	"os"
	"sync/atomic"
	"testing"
)

// xorFile is a toy "encrypted" recording: every byte on disk is the plain
// byte XOR 0x5A. It stands for shared/recstore's encrypted files.
type xorFile struct{ f *os.File }

func (x xorFile) Read(p []byte) (int, error) {
	n, err := x.f.Read(p)
	for i := range p[:n] {
		p[i] ^= 0x5A
	}
	return n, err
}
func (x xorFile) Seek(off int64, whence int) (int64, error) { return x.f.Seek(off, whence) }
func (x xorFile) Close() error                              { return x.f.Close() }

// Every read of a recording goes through Config.OpenRecording: central
// gets the plain bytes of a recording stored transformed on disk.
func TestUploadReadsThroughOpenRecording(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	plain := make([]byte, 300<<10+17)
	if _, err := rand.Read(plain); err != nil {
		t.Fatal(err)
	}
	onDisk := make([]byte, len(plain))
	for i, b := range plain {
		onDisk[i] = b ^ 0x5A
	}
	path, ref := writeRecording(t, "call-enc", plain, onDisk)
	addCall(t, st, ref, path)
	var opened atomic.Int32
	cfg := h.config()
	cfg.ChunkSize = 64 << 10
	cfg.OpenRecording = func(p string) (io.ReadSeekCloser, int64, error) {
		opened.Add(1)
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return xorFile{f}, fi.Size(), nil
	}
	h.startClient(st, cfg)
	h.waitVerified(st, "call-enc", path, plain)
	if opened.Load() == 0 {
		t.Fatal("OpenRecording never called")
	}
}
