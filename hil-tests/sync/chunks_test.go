package sync_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/mqttproxy"
)

// chunkLog records the recording chunks published by the appliance, as a
// probe subscribed with central's credentials sees them.
type chunkLog struct {
	mu     sync.Mutex
	chunks []wire.RecordingChunk // data dropped, len kept in ChunkSHA256's place
	sizes  []int
}

func (l *chunkLog) add(_ mqtt.Client, m mqtt.Message) {
	c, err := wire.DecodeRecordingChunk(m.Payload(), appID, 1<<40)
	if c == nil {
		return
	}
	_ = err // a corrupted chunk is logged too
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sizes = append(l.sizes, len(c.Data))
	c.Data = nil
	l.chunks = append(l.chunks, *c)
}

// since returns the data chunks (not queries) of attempts >= minAttempt.
func (l *chunkLog) since(minAttempt uint32) (chunks []wire.RecordingChunk, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.chunks {
		if !c.Query && c.Attempt >= minAttempt {
			chunks = append(chunks, c)
			bytes += int64(l.sizes[i])
		}
	}
	return chunks, bytes
}

func (h *harness) probeChunks() *chunkLog {
	h.t.Helper()
	l := &chunkLog{}
	if tok := h.centralClient().Subscribe(wire.TopicRecordingChunks(appID), 1, l.add); !tok.WaitTimeout(patience) || tok.Error() != nil {
		h.t.Fatal("probe subscribe")
	}
	return l
}

// randomRecording writes n random bytes as callID's recording and records
// the call and the recording in st.
func randomRecording(t *testing.T, st *store.Store, callID string, n int) (string, []byte, wire.RecordingRef) {
	t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	path, ref := writeRecording(t, callID, data, data)
	addCall(t, st, ref, path)
	return path, data, ref
}

// waitVerified waits until the recording is no longer pending and its file
// is gone, then checks that central holds exactly data.
func (h *harness) waitVerified(st *store.Store, callID, path string, data []byte) {
	h.t.Helper()
	testkit.Eventually(h.t, patience, "recording "+callID+" verified and its file deleted", func() bool {
		recs, err := st.PendingRecordings()
		_, serr := os.Stat(path)
		return err == nil && len(recs) == 0 && errors.Is(serr, os.ErrNotExist)
	})
	up := h.fake.Recording(appID, callID)
	if up == nil || !bytes.Equal(up.Data, data) {
		h.t.Fatalf("central does not hold recording %s intact", callID)
	}
}

// keptUntilVerified asserts that the appliance still has the recording and
// its file.
func keptUntilVerified(t *testing.T, st *store.Store, callID, path string) {
	t.Helper()
	recs, err := st.PendingRecordings()
	if err != nil || len(recs) != 1 || recs[0].CallID != callID {
		t.Fatalf("pending recordings %+v, %v", recs, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("unverified recording's file gone: %v", err)
	}
}

func TestChunkedRecordingArrivesIntact(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	probe := h.probeChunks()
	st := h.openStore()
	const size, cs = 1<<20 + 12345, 64 << 10
	path, data, _ := randomRecording(t, st, "call-big", size)
	cfg := h.config()
	cfg.ChunkSize, cfg.ChunkWindow = cs, 3
	h.startClient(st, cfg)
	h.waitVerified(st, "call-big", path, data)
	chunks, sent := probe.since(0)
	want := (size + cs - 1) / cs
	if len(chunks) != want || sent != size {
		t.Fatalf("%d chunks of %d bytes sent, want %d of %d: no disruption, nothing may be sent twice", len(chunks), sent, want, size)
	}
}

// cutAt makes central's ingest stop at the first chunk that brings a
// recording to at least threshold bytes, until release is closed.
type cutAt struct {
	threshold int64
	once      sync.Once
	reached   chan int64
	release   chan struct{}
}

func newCutAt(threshold int64) *cutAt {
	return &cutAt{threshold: threshold, reached: make(chan int64, 1), release: make(chan struct{})}
}

func (c *cutAt) onChunk(_, _ string, offset int64) {
	if offset < c.threshold {
		return
	}
	first := false
	c.once.Do(func() { first = true })
	if first {
		c.reached <- offset
		<-c.release
	}
}

func (c *cutAt) wait(t *testing.T) int64 {
	t.Helper()
	select {
	case off := <-c.reached:
		return off
	case <-time.After(patience):
		t.Fatal("upload never reached the cut")
		return 0
	}
}

func TestChunkedUploadResumesAfterApplianceRestart(t *testing.T) {
	h := newHarness(t)
	const size, cs, window = 4 << 20, 64 << 10, 4
	cut := newCutAt(size / 2)
	h.ingestMod = func(c *ingest.Config) { c.OnChunk = cut.onChunk }
	h.startIngest()
	probe := h.probeChunks()
	st := h.openStore()
	path, data, _ := randomRecording(t, st, "call-r", size)
	cfg := h.config()
	cfg.ChunkSize, cfg.ChunkWindow = cs, window
	stopClient := h.startClient(st, cfg)

	held := cut.wait(t) // central holds this much, and is stalled
	stopClient()
	h.closeStore(st)
	close(cut.release)

	// The appliance restarts later (its attempts count from the clock).
	h.clk.Advance(time.Hour)
	restartAttempt := uint32(h.clk.Now().Unix())
	st = h.openStore()
	keptUntilVerified(t, st, "call-r", path)
	h.startClient(st, cfg)
	h.waitVerified(st, "call-r", path, data)

	chunks, sent := probe.since(restartAttempt)
	if len(chunks) == 0 {
		t.Fatal("no chunk seen after the restart")
	}
	for _, c := range chunks {
		if c.Offset < held {
			t.Fatalf("after the restart, chunk at %d sent although central held %d bytes", c.Offset, held)
		}
	}
	if sent > size-held {
		t.Fatalf("%d bytes sent after the restart, central lacked only %d", sent, size-held)
	}
	t.Logf("cut with %d of %d bytes at central; %d chunks (%d bytes) sent after the restart", held, size, len(chunks), sent)
}

func TestChunkedUploadResumesAfterBrokerRestart(t *testing.T) {
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	addr := b.Addr()
	user, pass := b.InternalCredentials()
	h := newHarnessURL(t, "tcp://"+addr, user, pass)
	const size, cs, window = 4 << 20, 64 << 10, 4
	cut := newCutAt(size / 2)
	h.ingestMod = func(c *ingest.Config) { c.OnChunk = cut.onChunk }
	stopIngest := h.startIngest()
	st := h.openStore()
	path, data, _ := randomRecording(t, st, "call-b", size)
	cfg := h.config()
	cfg.ChunkSize, cfg.ChunkWindow = cs, window
	// The query after the reconnect may reach the new broker before
	// central has subscribed again: it is lost, and only the timeout
	// (simulated time) makes the appliance ask again.
	cfg.AckTimeout = 30 * time.Second
	h.startClient(st, cfg)

	held := cut.wait(t)
	// The broker goes down (forgetting every session) and central with it.
	b.Close()
	close(cut.release)
	stopIngest()
	keptUntilVerified(t, st, "call-b", path)

	b2, err := broker.New(broker.Config{Listen: addr, Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	h.user, h.pass = b2.InternalCredentials()
	probe := h.probeChunks()
	h.tick(time.Second)
	h.ingestMod = nil
	h.startIngest() // same chunk directory: central restarted
	h.waitVerified(st, "call-b", path, data)

	chunks, sent := probe.since(0)
	if len(chunks) == 0 {
		t.Fatal("no chunk seen after the broker came back")
	}
	// paho resends the chunks that were in flight at the cut, which are
	// at most a window below what central held; nothing earlier is sent.
	for _, c := range chunks {
		if c.Offset < held-window*cs {
			t.Fatalf("after the outage, chunk at %d sent although central held %d bytes", c.Offset, held)
		}
	}
	if max := size - held + 2*window*cs; sent > max {
		t.Fatalf("%d bytes sent after the outage, want at most %d (central lacked %d)", sent, max, size-held)
	}
	t.Logf("cut with %d of %d bytes at central; %d chunks (%d bytes) sent after the outage", held, size, len(chunks), sent)
}

// corruptingProxy forwards MQTT between the appliance and the broker and
// flips one base64 character in the data of the first recording chunk
// published at offset target.
type corruptingProxy struct {
	ln      net.Listener
	backend string
	target  []byte
	mu      sync.Mutex
	done    bool
}

func startCorruptingProxy(t *testing.T, backend string, target int64) *corruptingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &corruptingProxy{ln: ln, backend: backend, target: []byte(`"offset":` + itoa(target) + `,`)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int64) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func (p *corruptingProxy) corrupted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

func (p *corruptingProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(c, up)
		c.Close()
	}()
	r := mqttproxy.NewReader(c, 0)
	for {
		pkt, err := r.Next()
		if err != nil {
			return
		}
		if pkt[0]>>4 == mqttproxy.TypePublish && bytes.Contains(pkt, []byte("/up/recording-chunks")) && bytes.Contains(pkt, p.target) {
			p.mu.Lock()
			if !p.done {
				if i := bytes.Index(pkt, []byte(`"data":"`)); i >= 0 && i+20 < len(pkt) {
					j := i + 8 + 10
					if pkt[j] == 'A' {
						pkt[j] = 'B'
					} else {
						pkt[j] = 'A'
					}
					p.done = true
				}
			}
			p.mu.Unlock()
		}
		if _, err := up.Write(pkt); err != nil {
			return
		}
	}
}

func TestCorruptedChunkRefusedAndResent(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	probe := h.probeChunks()
	const size, cs = 1 << 20, 64 << 10
	const target = 5 * cs
	proxy := startCorruptingProxy(t, h.url[len("tcp://"):], target)
	st := h.openStore()
	path, data, ref := randomRecording(t, st, "call-c", size)
	cfg := h.config()
	cfg.Broker = "tcp://" + proxy.ln.Addr().String()
	cfg.ChunkSize, cfg.ChunkWindow = cs, 4
	h.startClient(st, cfg)
	h.waitVerified(st, "call-c", path, data)
	if !proxy.corrupted() {
		t.Fatal("the proxy never corrupted a chunk")
	}
	chunks, sent := probe.since(0)
	atTarget := 0
	for _, c := range chunks {
		if c.Offset == target {
			atTarget++
		}
	}
	if atTarget < 2 {
		t.Fatalf("chunk at %d sent %d times; the corrupted one must be sent again", target, atTarget)
	}
	// Resent from the refused chunk on, not from zero.
	if sent >= 2*size {
		t.Fatalf("%d bytes sent for a recording of %d", sent, size)
	}
	if up := h.fake.Recording(appID, "call-c"); !reflect.DeepEqual(up.Ref, ref) {
		t.Fatalf("stored ref %+v, want %+v", up.Ref, ref)
	}
	t.Logf("%d chunks (%d bytes) sent for %d bytes, chunk at %d sent %d times", len(chunks), sent, size, target, atTarget)
}

// TestChunkedRecordingMismatchKeepsFile: a file that does not match its
// reference goes through in chunks but is refused as a whole; the appliance
// keeps it and tries again after its backoff.
func TestChunkedRecordingMismatchKeepsFile(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	probe := h.probeChunks()
	st := h.openStore()
	recorded := bytes.Repeat([]byte("audio"), 40000)
	onDisk := bytes.Clone(recorded)
	onDisk[150000] ^= 1
	path, ref := writeRecording(t, "call-m", recorded, onDisk)
	addCall(t, st, ref, path)
	cfg := h.config()
	cfg.ChunkSize = 32 << 10
	h.startClient(st, cfg)
	testkit.Eventually(t, patience, "the whole file sent", func() bool { _, n := probe.since(0); return n >= ref.Bytes })
	h.tick(500 * time.Millisecond)
	testkit.Eventually(t, patience, "a second try", func() bool { _, n := probe.since(0); return n >= 2*ref.Bytes })
	keptUntilVerified(t, st, "call-m", path)
	if h.fake.Recording(appID, "call-m") != nil {
		t.Fatal("central stored a recording whose hash does not match")
	}
	sum := sha256.Sum256(onDisk)
	if hex.EncodeToString(sum[:]) == ref.SHA256 {
		t.Fatal("test file not corrupted")
	}
	_ = filepath.Base(path)
}
