package recstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// die writes data to a new file and leaves the Writer as a killed process
// does: the segments it sealed reach the file (the page cache survives
// kill -9), Close never runs. It returns the file's path.
func die(t *testing.T, key Key, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.wav.enc.part")
	w, err := Create(path, key)
	if err != nil {
		t.Fatal(err)
	}
	for rest, i := data, 1; len(rest) > 0; i++ {
		k := min(len(rest), i*1531)
		if _, err := w.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	close(w.queue)
	<-w.done
	if err := w.flushErr(); err != nil {
		t.Fatal(err)
	}
	if err := w.f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func recoverAll(t *testing.T, path string, key Key) ([]byte, error) {
	t.Helper()
	r, err := Recover(path, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestRecoverKilledWriter(t *testing.T) {
	key := testKey(t, 7)
	data := payload(5*SegmentSize+SegmentSize/2, 3)
	path := die(t, key, data)
	if _, err := Open(path, key); err == nil {
		t.Fatal("Open accepted a file whose writer never closed")
	}
	got, err := recoverAll(t, path, key)
	if err != nil {
		t.Fatal(err)
	}
	// Segment 5 was still in memory: everything before it is recovered,
	// segment 0 from its provisional copy.
	if want := data[:5*SegmentSize]; !bytes.Equal(got, want) {
		t.Fatalf("recovered %d bytes, want the first %d", len(got), len(want))
	}
}

func TestRecoverCutMidSegment(t *testing.T) {
	key := testKey(t, 8)
	data := payload(6*SegmentSize+100, 4)
	path := die(t, key, data)
	// The disk took only part of segment 3's write.
	cut := int64(HeaderSize) + 3*int64(SegmentSize+Overhead) + 999
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	got, err := recoverAll(t, path, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := data[:3*SegmentSize]; !bytes.Equal(got, want) {
		t.Fatalf("recovered %d bytes, want the first %d", len(got), len(want))
	}
}

func TestRecoverStopsAtTamperedSegment(t *testing.T) {
	key := testKey(t, 9)
	data := payload(4*SegmentSize+1, 5)
	path := die(t, key, data)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, int64(HeaderSize)+2*int64(SegmentSize+Overhead)+5); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := recoverAll(t, path, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := data[:2*SegmentSize]; !bytes.Equal(got, want) {
		t.Fatalf("recovered %d bytes, want the first %d", len(got), len(want))
	}
}

func TestRecoverClosedFile(t *testing.T) {
	key := testKey(t, 10)
	for _, n := range []int{1, SegmentSize, SegmentSize + 1, 3*SegmentSize + 17} {
		data := payload(n, uint64(n))
		path := write(t, t.TempDir(), key, data)
		got, err := recoverAll(t, path, key)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: recovered %d", n, len(got))
		}
	}
}

func TestRecoverNothing(t *testing.T) {
	key := testKey(t, 11)
	path := die(t, key, payload(SegmentSize-1, 6))
	if _, err := Recover(path, key); !errors.Is(err, ErrNothingRecovered) {
		t.Fatalf("Recover = %v, want ErrNothingRecovered", err)
	}
	path = die(t, key, payload(3*SegmentSize, 6))
	if _, err := Recover(path, testKey(t, 12)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Recover with another key = %v, want ErrWrongKey", err)
	}
	if _, err := NewRecovered(bytes.NewReader([]byte("RIFF")), 4, key); !errors.Is(err, ErrFormat) {
		t.Fatalf("Recover of a short file = %v, want ErrFormat", err)
	}
}

// A finished file's segment 0 is the final one: the provisional copy
// (sealed with a nonce no final segment uses) is gone, and the reader
// never takes one for the real thing.
func TestProvisionalSegmentNotReadable(t *testing.T) {
	key := testKey(t, 13)
	data := payload(2*SegmentSize, 7)
	path := die(t, key, data)
	// A file cut after segment 0: a reader must refuse it even though
	// its only segment is complete (it is the provisional copy).
	if err := os.Truncate(path, HeaderSize+SegmentSize+Overhead); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, key); !errors.Is(err, ErrAuth) {
		t.Fatalf("Open of a provisional-only file = %v, want ErrAuth", err)
	}
}
