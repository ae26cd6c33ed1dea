package recstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
)

// stallFile is a disk that stalls: every WriteAt waits for release (or
// fails with fail once set).
type stallFile struct {
	*os.File
	release chan struct{}
	started chan struct{} // a write has begun waiting
	fail    error
}

func (s *stallFile) WriteAt(b []byte, off int64) (int, error) {
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-s.release
	if s.fail != nil {
		return 0, s.fail
	}
	return s.File.WriteAt(b, off)
}

// TestStalledDiskDoesNotBlockWrite checks that while the disk stalls,
// Write goes on returning at once until queueDepth sealed segments wait,
// and that once the disk comes back Close writes everything in order: the
// file decrypts to what was written.
func TestStalledDiskDoesNotBlockWrite(t *testing.T) {
	key := testKey(t, 3)
	path := filepath.Join(t.TempDir(), "stall.klrec")
	sf := &stallFile{release: make(chan struct{}), started: make(chan struct{}, 1)}
	w, err := create(path, key, func(f *os.File) segFile { sf.File = f; return sf })
	if err != nil {
		t.Fatal(err)
	}
	// Segment 0 stays in memory until Close (its provisional copy is
	// queued once it is full); segments 1.. are sealed and queued as the
	// next one starts. queueDepth+1 writes fit without blocking: one held
	// by the stalled write, queueDepth waiting.
	data := payload((queueDepth+4)*SegmentSize, 7)
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(data[:(queueDepth+1)*SegmentSize+1])
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked behind a stalled disk with the queue not full")
	}
	<-sf.started // the flusher is stuck in the disk
	// One more segment does not fit: Write waits for the disk.
	go func() {
		_, err := w.Write(data[(queueDepth+1)*SegmentSize+1:])
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Write returned (%v) with %d segments waiting for a stalled disk", err, queueDepth+1)
	case <-time.After(200 * time.Millisecond):
	}
	close(sf.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	size, _, err := w.Close()
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Close = %d, %v; want %d", size, err, len(data))
	}
	got, err := readAll(path, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(data))
	}
}

// TestFailedDiskWriteReported checks that a segment the disk refused is
// reported by a later Write and by Close, and that nothing blocks.
func TestFailedDiskWriteReported(t *testing.T) {
	key := testKey(t, 4)
	path := filepath.Join(t.TempDir(), "fail.klrec")
	sf := &stallFile{release: make(chan struct{}), started: make(chan struct{}, 1), fail: syscall.ENOSPC}
	close(sf.release)
	w, err := create(path, key, func(f *os.File) segFile { sf.File = f; return sf })
	if err != nil {
		t.Fatal(err)
	}
	chunk := payload(SegmentSize, 9)
	// The first Write fills segment 0, whose provisional copy goes to the
	// disk; the flusher meets the error in its own time, and the next
	// Write reports it.
	_, werr := w.Write(chunk)
	if werr == nil {
		testkit.Eventually(t, 10*time.Second, "the flusher to meet the disk's error", func() bool { return w.flushErr() != nil })
		_, werr = w.Write(chunk)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("Write after the disk refused a segment: %v, want ENOSPC", werr)
	}
	if _, _, err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close: %v, want ENOSPC", err)
	}
}
