package recstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func testKey(t testing.TB, seed byte) Key {
	t.Helper()
	raw := bytes.Repeat([]byte{seed}, KeySize)
	raw[0] ^= 0x5a
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b9))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// write stores data in a new file, in uneven chunks, and returns its path.
func write(t testing.TB, dir string, key Key, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, "rec.klrec")
	w, err := Create(path, key)
	if err != nil {
		t.Fatal(err)
	}
	for rest, i := data, 1; len(rest) > 0; i++ {
		k := min(len(rest), i*977)
		if _, err := w.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	size, sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(data)) || sum != sha256.Sum256(data) {
		t.Fatalf("Close = %d %x, want %d %x", size, sum, len(data), sha256.Sum256(data))
	}
	return path
}

func readAll(path string, key Key) ([]byte, error) {
	r, err := Open(path, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestRoundTripSizes(t *testing.T) {
	key := testKey(t, 1)
	for _, n := range []int{0, 1, 100, SegmentSize - 1, SegmentSize, SegmentSize + 1, 2 * SegmentSize, 3*SegmentSize + 12345} {
		data := payload(n, uint64(n))
		path := write(t, t.TempDir(), key, data)
		st, _ := os.Stat(path)
		nseg := max(1, (n+SegmentSize-1)/SegmentSize)
		if want := int64(HeaderSize + n + nseg*Overhead); st.Size() != want {
			t.Errorf("n=%d: file is %d bytes, want %d", n, st.Size(), want)
		}
		got, err := readAll(path, key)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("n=%d: plaintext differs", n)
		}
	}
}

func TestRewriteFirstSegment(t *testing.T) {
	key := testKey(t, 2)
	path := filepath.Join(t.TempDir(), "r")
	w, err := Create(path, key)
	if err != nil {
		t.Fatal(err)
	}
	data := payload(3*SegmentSize+7, 3)
	w.Write(data)
	if _, err := w.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("HEAD"))
	copy(data[4:], "HEAD")
	if _, err := w.Seek(SegmentSize-2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("xyz")); !errors.Is(err, ErrSeek) {
		t.Fatalf("write across the first segment: %v, want ErrSeek", err)
	}
	if _, err := w.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("tail"))
	data = append(data, "tail"...)
	if _, _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(path, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v, equal=%v", err, bytes.Equal(got, data))
	}
}

func TestRandomAccess(t *testing.T) {
	key := testKey(t, 3)
	data := payload(5*SegmentSize+999, 4)
	r, err := Open(write(t, t.TempDir(), key, data), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) {
		t.Fatalf("Size %d", r.Size())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		off := rng.Int64N(int64(len(data)))
		n := rng.IntN(3 * SegmentSize)
		buf := make([]byte, n)
		got, err := r.ReadAt(buf, off)
		want := min(n, len(data)-int(off))
		if got != want || !bytes.Equal(buf[:got], data[off:off+int64(got)]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
		}
		if want < n && err != io.EOF {
			t.Fatalf("short ReadAt without EOF: %v", err)
		}
		if want == n && err != nil {
			t.Fatalf("ReadAt: %v", err)
		}
	}
	// Seek + Read resumes anywhere, as the chunked upload does.
	off := int64(2*SegmentSize + 17)
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, data[off:]) {
		t.Fatalf("Seek+Read: %v", err)
	}
}

func TestTamperEveryRegion(t *testing.T) {
	key := testKey(t, 4)
	data := payload(2*SegmentSize+500, 5)
	path := write(t, t.TempDir(), key, data)
	orig, _ := os.ReadFile(path)
	full := SegmentSize + Overhead
	offsets := map[string]int{
		"magic": 0, "version": 8, "key id": 10, "segment size": 18, "nonce prefix": 25,
		"segment 0 start": HeaderSize, "segment 0 tag": HeaderSize + full - 1,
		"segment 1 middle": HeaderSize + full + SegmentSize/2,
		"last segment":     HeaderSize + 2*full + 10, "last tag": len(orig) - 1,
	}
	for name, off := range offsets {
		bad := bytes.Clone(orig)
		bad[off] ^= 0x01
		os.WriteFile(path, bad, 0o600)
		got, err := readAll(path, key)
		if err == nil {
			t.Errorf("%s flipped: read %d bytes without error", name, len(got))
		}
	}
	// Swapping two full segments is detected (counter in the nonce).
	bad := bytes.Clone(orig)
	copy(bad[HeaderSize:], orig[HeaderSize+full:HeaderSize+2*full])
	copy(bad[HeaderSize+full:], orig[HeaderSize:HeaderSize+full])
	os.WriteFile(path, bad, 0o600)
	if _, err := readAll(path, key); !errors.Is(err, ErrAuth) {
		t.Errorf("reordered segments: %v, want ErrAuth", err)
	}
}

func TestTruncation(t *testing.T) {
	key := testKey(t, 5)
	data := payload(3*SegmentSize, 6)
	path := write(t, t.TempDir(), key, data)
	orig, _ := os.ReadFile(path)
	full := SegmentSize + Overhead
	for _, n := range []int{0, 5, HeaderSize, HeaderSize + 10, HeaderSize + full, HeaderSize + 2*full, len(orig) - 1, HeaderSize + full + Overhead} {
		os.WriteFile(path, orig[:n], 0o600)
		if _, err := Open(path, key); err == nil {
			t.Errorf("truncated to %d bytes: Open succeeded", n)
		}
	}
	// Appending a copy of a segment is refused too.
	os.WriteFile(path, append(bytes.Clone(orig), orig[HeaderSize:HeaderSize+full]...), 0o600)
	if _, err := readAll(path, key); err == nil {
		t.Error("extended file read without error")
	}
}

func TestWrongKey(t *testing.T) {
	path := write(t, t.TempDir(), testKey(t, 6), payload(1000, 7))
	if _, err := Open(path, testKey(t, 7)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v, want ErrWrongKey", err)
	}
	// Same key id but different key material cannot be forged here; a
	// header claiming the right id with a wrong key fails authentication.
	orig, _ := os.ReadFile(path)
	other := testKey(t, 7)
	id := other.ID()
	copy(orig[9:17], id[:])
	os.WriteFile(path, orig, 0o600)
	if _, err := Open(path, other); !errors.Is(err, ErrAuth) {
		t.Fatalf("header rewritten to another key id: %v, want ErrAuth", err)
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	key := testKey(t, 8)
	pattern := []byte("KINLINE-PLAINTEXT-MARKER-0123456789")
	var data []byte
	for len(data) < 3*SegmentSize {
		data = append(data, pattern...)
	}
	path := write(t, t.TempDir(), key, data)
	raw, _ := os.ReadFile(path)
	for _, needle := range [][]byte{pattern, pattern[:12], pattern[20:32]} {
		if bytes.Contains(raw, needle) {
			t.Fatalf("file contains plaintext %q", needle)
		}
	}
	if got, err := readAll(path, key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	raw := payload(KeySize, 9)
	good := filepath.Join(dir, "good.key")
	os.WriteFile(good, raw, 0o600)
	k, err := LoadKey(good)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := NewKey(raw)
	if k != want {
		t.Fatal("loaded key differs")
	}
	cases := map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"group readable": {raw, 0o640},
		"world readable": {raw, 0o604},
		"short":          {raw[:31], 0o600},
		"long":           {append(bytes.Clone(raw), '\n'), 0o600},
		"empty":          {nil, 0o600},
	}
	for name, c := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, c.data, c.mode)
		os.Chmod(p, c.mode)
		if _, err := LoadKey(p); !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: %v, want ErrKeyFile", name, err)
		}
	}
	if _, err := LoadKey(dir); !errors.Is(err, ErrKeyFile) {
		t.Errorf("directory: %v, want ErrKeyFile", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); !errors.Is(err, ErrKeyFile) {
		t.Errorf("missing: %v", err)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	key := testKey(t, 10)
	path := write(t, t.TempDir(), key, []byte("x"))
	if _, err := Create(path, key); err == nil {
		t.Fatal("Create overwrote an existing file")
	}
	if _, err := Create(path+"2", Key{}); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("zero key: %v", err)
	}
}

// BenchmarkWrite measures encryption throughput (plaintext MB/s) of a
// recording written in 320-byte pieces (one 20 ms stereo G.711 frame).
func BenchmarkWrite(b *testing.B) {
	key := testKey(b, 11)
	chunk := payload(320, 12)
	const perFile = 8 << 20
	dir := b.TempDir()
	b.SetBytes(perFile)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, "bench")
		w, err := Create(path, key)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < perFile; n += len(chunk) {
			w.Write(chunk)
		}
		if _, _, err := w.Close(); err != nil {
			b.Fatal(err)
		}
		os.Remove(path)
	}
}

// BenchmarkReadAt measures random-access decryption of 64 KiB reads.
func BenchmarkReadAt(b *testing.B) {
	key := testKey(b, 13)
	data := payload(16*SegmentSize, 14)
	r, err := Open(write(b, b.TempDir(), key, data), key)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, SegmentSize)
	b.SetBytes(SegmentSize)
	for i := 0; b.Loop(); i++ {
		off := int64(i%15)*SegmentSize + int64(i%1000)
		if _, err := r.ReadAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOpener(t *testing.T) {
	key := testKey(t, 12)
	data := payload(SegmentSize+10, 13)
	open := Opener(key)
	rc, size, err := open(write(t, t.TempDir(), key, data))
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Opener: %d %v", size, err)
	}
	defer rc.Close()
	if _, err := rc.Seek(SegmentSize-5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(rest, data[SegmentSize-5:]) {
		t.Fatalf("resume read: %v", err)
	}
	if _, _, err := Opener(testKey(t, 14))(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("missing file opened")
	}
}

// BenchmarkSeal measures Write alone (segment sealing and pwrite, no
// fsync or verification), 320 bytes at a time.
func BenchmarkSeal(b *testing.B) {
	key := testKey(b, 15)
	chunk := payload(320, 16)
	w, err := Create(filepath.Join(b.TempDir(), "seal"), key)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, _, err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
