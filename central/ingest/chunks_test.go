package ingest_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/shared/wire"
)

// down reads the appliance's down topics, keeping messages of the topics not
// asked for yet.
type down struct {
	e       *env
	pending map[string][][]byte
}

func (d *down) next(t *testing.T, topic string) []byte {
	t.Helper()
	if q := d.pending[topic]; len(q) > 0 {
		d.pending[topic] = q[1:]
		return q[0]
	}
	deadline := time.After(wait)
	for {
		select {
		case m := <-d.e.down:
			if m.Topic() == topic {
				return m.Payload()
			}
			d.pending[m.Topic()] = append(d.pending[m.Topic()], m.Payload())
		case <-deadline:
			t.Fatalf("nothing on %s", topic)
		}
	}
}

// none asserts that nothing arrives on topic for a short while.
func (d *down) none(t *testing.T, topic string) {
	t.Helper()
	if len(d.pending[topic]) > 0 {
		t.Fatalf("unexpected message on %s: %s", topic, d.pending[topic][0])
	}
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case m := <-d.e.down:
			if m.Topic() == topic {
				t.Fatalf("unexpected message on %s: %s", topic, m.Payload())
			}
			d.pending[m.Topic()] = append(d.pending[m.Topic()], m.Payload())
		case <-deadline:
			return
		}
	}
}

func (d *down) chunkAck(t *testing.T) *wire.RecordingChunkAck {
	t.Helper()
	a, err := wire.DecodeRecordingChunkAck(d.next(t, wire.TopicRecordingChunkAck("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (d *down) recordingAck(t *testing.T) *wire.RecordingAck {
	t.Helper()
	a, err := wire.Decode[wire.RecordingAck](d.next(t, wire.TopicRecordingAck("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// upload is a recording to send in chunks of size cs.
type upload struct {
	data []byte
	ref  wire.RecordingRef
	cs   int
}

func newUpload(t *testing.T, callID string, n, cs int) *upload {
	t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return &upload{data: data, cs: cs, ref: wire.RecordingRef{ID: callID, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(n), Format: "wav/pcmu-stereo"}}
}

func (u *upload) query(attempt uint32) wire.RecordingChunk {
	return wire.RecordingChunk{V: 1, ApplianceID: "blk-a", CallID: u.ref.ID, Ref: u.ref, Attempt: attempt, Query: true}
}

// chunk i of the upload, with its correct hash.
func (u *upload) chunk(i int, attempt uint32) wire.RecordingChunk {
	off := i * u.cs
	data := u.data[off:min(off+u.cs, len(u.data))]
	sum := sha256.Sum256(data)
	return wire.RecordingChunk{V: 1, ApplianceID: "blk-a", CallID: u.ref.ID, Ref: u.ref, Attempt: attempt,
		Offset: int64(off), ChunkSHA256: hex.EncodeToString(sum[:]), Data: bytes.Clone(data)}
}

func chunkEnv(t *testing.T, prepare func(*ingesttest.Store), mod func(*ingest.Config)) (*env, *down, string) {
	t.Helper()
	dir := t.TempDir()
	e := setupCfg(t, prepare, func(c *ingest.Config) {
		c.ChunkDir = dir
		if mod != nil {
			mod(c)
		}
	})
	return e, &down{e: e, pending: map[string][][]byte{}}, dir
}

func wantAck(t *testing.T, a *wire.RecordingChunkAck, offset int64, resend bool, attempt uint32) {
	t.Helper()
	if a.Offset != offset || a.Resend != resend || a.Attempt != attempt {
		t.Fatalf("chunk ack %+v, want offset %d resend %v attempt %d", a, offset, resend, attempt)
	}
}

func TestChunkedRecording(t *testing.T) {
	e, d, dir := chunkEnv(t, nil, nil)
	topic := wire.TopicRecordingChunks("blk-a")
	u := newUpload(t, "call-7", 10*1000+123, 1000) // 11 chunks, the last short

	e.publish(t, topic, u.query(1))
	wantAck(t, d.chunkAck(t), 0, true, 1)
	e.publish(t, topic, u.chunk(0, 2))
	wantAck(t, d.chunkAck(t), 1000, false, 2)
	e.publish(t, topic, u.chunk(1, 2))
	wantAck(t, d.chunkAck(t), 2000, false, 2)

	// A chunk corrupted on the way is refused and asked for again.
	bad := u.chunk(2, 2)
	bad.Data[17] ^= 0xff
	e.publish(t, topic, bad)
	a := d.chunkAck(t)
	wantAck(t, a, 2000, true, 2)
	if a.Error == "" {
		t.Fatal("corrupted chunk refused without a reason")
	}
	// A gap is refused too; a duplicate is merely acknowledged.
	e.publish(t, topic, u.chunk(4, 2))
	wantAck(t, d.chunkAck(t), 2000, true, 2)
	e.publish(t, topic, u.chunk(0, 2))
	wantAck(t, d.chunkAck(t), 2000, false, 2)

	// Central holds exactly the prefix it acknowledged, on disk.
	part := filepath.Join(dir, "blk-a", "call-7."+u.ref.SHA256+".part")
	if got, err := os.ReadFile(part); err != nil || !bytes.Equal(got, u.data[:2000]) {
		t.Fatalf("part file: %d bytes, %v", len(got), err)
	}
	// A query (say after a restart of the appliance) answers that offset.
	e.publish(t, topic, u.query(3))
	wantAck(t, d.chunkAck(t), 2000, true, 3)

	for i := 2; i < 10; i++ {
		e.publish(t, topic, u.chunk(i, 4))
		wantAck(t, d.chunkAck(t), int64(i+1)*1000, false, 4)
	}
	d.none(t, wire.TopicRecordingAck("blk-a"))
	if e.st.Recording("blk-a", "call-7") != nil {
		t.Fatal("stored before the last chunk")
	}
	e.publish(t, topic, u.chunk(10, 4))
	wantAck(t, d.chunkAck(t), u.ref.Bytes, false, 4)
	ra := d.recordingAck(t)
	if !ra.OK || ra.CallID != "call-7" || ra.SHA256 != u.ref.SHA256 {
		t.Fatalf("recording ack %+v", ra)
	}
	up := e.st.Recording("blk-a", "call-7")
	if up == nil || !bytes.Equal(up.Data, u.data) || !reflect.DeepEqual(up.Ref, u.ref) || up.ApplianceID != "blk-a" {
		t.Fatal("recording not stored intact")
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Fatalf("part file left after storing: %v", err)
	}
}

func TestChunkedRecordingWholeFileMismatch(t *testing.T) {
	e, d, dir := chunkEnv(t, nil, nil)
	topic := wire.TopicRecordingChunks("blk-a")
	u := newUpload(t, "call-8", 3000, 1000)
	// Every chunk matches its own hash, but the file is not the one the
	// reference names (corrupted on the appliance's disk).
	u.data[2500] ^= 1
	for i := 0; i < 3; i++ {
		e.publish(t, topic, u.chunk(i, 1))
		d.chunkAck(t)
	}
	ra := d.recordingAck(t)
	if ra.OK || ra.SHA256 == u.ref.SHA256 || ra.Error == "" {
		t.Fatalf("mismatching recording acked %+v", ra)
	}
	if e.st.Recording("blk-a", "call-8") != nil {
		t.Fatal("mismatching recording stored")
	}
	// The bad bytes are dropped: the next try starts from zero.
	e.publish(t, topic, u.query(2))
	wantAck(t, d.chunkAck(t), 0, true, 2)
	if ents, _ := os.ReadDir(filepath.Join(dir, "blk-a")); len(ents) != 0 {
		t.Fatalf("left in the chunk directory: %v", ents)
	}
}

func TestChunkedRecordingStoreFailureResumes(t *testing.T) {
	e, d, _ := chunkEnv(t, nil, nil)
	topic := wire.TopicRecordingChunks("blk-a")
	u := newUpload(t, "call-9", 2500, 1000)
	e.publish(t, topic, u.chunk(0, 1))
	d.chunkAck(t)
	e.publish(t, topic, u.chunk(1, 1))
	d.chunkAck(t)
	e.st.FailNext(1)
	e.publish(t, topic, u.chunk(2, 1))
	wantAck(t, d.chunkAck(t), 2500, false, 1)
	if ra := d.recordingAck(t); ra.OK || ra.Error == "" {
		t.Fatalf("failed store acked %+v", ra)
	}
	// The appliance asks again later: central still holds every byte and
	// stores them now, without another chunk.
	e.publish(t, topic, u.query(2))
	wantAck(t, d.chunkAck(t), 2500, false, 2)
	if ra := d.recordingAck(t); !ra.OK {
		t.Fatalf("retry: %+v", ra)
	}
	if up := e.st.Recording("blk-a", "call-9"); up == nil || !bytes.Equal(up.Data, u.data) {
		t.Fatal("not stored")
	}
}

func TestChunkSpaceBounded(t *testing.T) {
	e, d, _ := chunkEnv(t, nil, func(c *ingest.Config) { c.ChunkMaxBytes = 1500 })
	topic := wire.TopicRecordingChunks("blk-a")
	u := newUpload(t, "call-10", 3000, 1000)
	e.publish(t, topic, u.chunk(0, 1))
	wantAck(t, d.chunkAck(t), 1000, false, 1)
	e.publish(t, topic, u.chunk(1, 1))
	a := d.chunkAck(t)
	wantAck(t, a, 1000, false, 1)
	if !strings.Contains(a.Error, "space") {
		t.Fatalf("chunk beyond the space bound: %+v", a)
	}
	// A recording larger than MaxRecordingBytes is refused outright.
	e2, d2, _ := chunkEnv(t, nil, func(c *ingest.Config) { c.MaxRecordingBytes = 2000 })
	e2.publish(t, topic, u.query(1))
	d2.none(t, wire.TopicRecordingChunkAck("blk-a"))
}

func TestChunkCallIDsNeverPaths(t *testing.T) {
	e, d, dir := chunkEnv(t, nil, nil)
	topic := wire.TopicRecordingChunks("blk-a")
	for _, id := range []string{"../escape", "..", ".hidden", "a/b", `a\b`, "", strings.Repeat("x", 129), "nul\x00"} {
		u := newUpload(t, "x", 100, 100)
		c := u.chunk(0, 1)
		c.CallID = id
		e.publish(t, topic, c)
	}
	d.none(t, wire.TopicRecordingChunkAck("blk-a"))
	var files []string
	filepath.WalkDir(filepath.Dir(dir), func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("files written for refused call ids: %v", files)
	}
	// A chunk naming another appliance, on blk-a's topic, is refused too.
	u := newUpload(t, "call-11", 100, 100)
	c := u.chunk(0, 1)
	c.ApplianceID = "blk-b"
	e.publish(t, topic, c)
	d.none(t, wire.TopicRecordingChunkAck("blk-a"))
}
