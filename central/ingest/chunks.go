package ingest

// Chunked recording uploads (see wire.RecordingChunk for the protocol).
//
// Central keeps, per appliance, a directory under Config.ChunkDir holding
// the contiguous prefix received of each upload in progress, in a file
// named <call id>.<file sha256>.part: its size is the offset central
// acknowledges, so a restart of central resumes where the file ends. Chunks
// are appended only at that offset; a chunk before it is a duplicate, one
// after it a gap the appliance must fill first. Once the file has Ref.Bytes
// bytes its SHA-256 is checked and the complete bytes are handed to
// Store.StoreRecording, and the part file is removed. An appliance that
// missed the final RecordingAck asks again, finds no part file and uploads
// again: StoreRecording of the same bytes twice is harmless, whereas a
// "stored already" answer that central's store cannot vouch for could make
// an appliance delete a recording central does not hold.
//
// Bounds: at most Config.ChunkMaxBytes in part files in all (a chunk beyond
// is refused with an error; the appliance retries after its backoff), at
// most Config.MaxRecordingBytes per recording, at most maxPartsPerAppliance
// uploads in progress per appliance (the least recently written is dropped).
//
// Several central replicas sharing the ingest must share ChunkDir (a shared
// file system): the shared subscription may hand an appliance's chunks to
// any replica.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
)

// Defaults of the chunk store.
const (
	// DefaultChunkMaxBytes bounds the bytes held in part files.
	DefaultChunkMaxBytes = 4 << 30
	// DefaultMaxRecordingBytes bounds one recording (about 9 hours of
	// stereo G.711 as WAV).
	DefaultMaxRecordingBytes = 1 << 30
	maxPartsPerAppliance     = 2
	partSuffix               = ".part"
)

// Errors of the chunk store.
var (
	// ErrChunkSpace: the chunk directory holds ChunkMaxBytes already.
	ErrChunkSpace = errors.New("ingest: chunk space full")
	// ErrChunkDir: the chunk directory cannot be used.
	ErrChunkDir = errors.New("ingest: chunk directory")
)

// ParseRecordingChunk decodes an untrusted chunk received on the appliance's
// chunk topic (wire.DecodeRecordingChunk, with files of at most maxFile
// bytes). Every failure wraps ErrRefused; a chunk whose data does not match
// its hash is returned along with an error wrapping wire.ErrChunkHash, so
// that it can be asked for again.
func ParseRecordingChunk(applianceID string, payload []byte, maxFile int64) (*wire.RecordingChunk, error) {
	c, err := wire.DecodeRecordingChunk(payload, applianceID, maxFile)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return c, nil
}

// chunkStore is the chunk directory and its byte count.
type chunkStore struct {
	dir      string
	maxTotal int64
	maxFile  int64

	mu     sync.Mutex
	inited bool
	total  int64 // bytes in part files
}

// init creates the directory and counts the part files left by an earlier
// run; it is retried on the next chunk after a failure.
func (cs *chunkStore) init() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.inited {
		return nil
	}
	if err := os.MkdirAll(cs.dir, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrChunkDir, err)
	}
	var total int64
	err := filepath.WalkDir(cs.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), partSuffix) {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChunkDir, err)
	}
	cs.total, cs.inited = total, true
	return nil
}

func (cs *chunkStore) reserve(n int64) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.total+n > cs.maxTotal {
		return false
	}
	cs.total += n
	return true
}

func (cs *chunkStore) release(n int64) {
	cs.mu.Lock()
	cs.total = max(0, cs.total-n)
	cs.mu.Unlock()
}

// applianceDir returns the appliance's directory. The id has passed
// wire.ValidApplianceID (no separator); a leading dot ("." and "..") is
// refused here as well.
func (cs *chunkStore) applianceDir(id string) (string, error) {
	if wire.ValidApplianceID(id) != nil || strings.HasPrefix(id, ".") {
		return "", fmt.Errorf("%w: appliance id %q cannot name a directory", ErrRefused, id)
	}
	return filepath.Join(cs.dir, id), nil
}

// remove deletes a part file and gives its bytes back.
func (cs *chunkStore) remove(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if os.Remove(path) == nil {
		cs.release(fi.Size())
	}
}

// prune keeps at most keep-1 files with suffix in dir (oldest by
// modification time go first), making room for one more. Part files give
// their bytes back.
func (cs *chunkStore) prune(dir, suffix string, keep int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		mod  int64
	}
	var files []file
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{filepath.Join(dir, e.Name()), fi.ModTime().UnixNano()})
	}
	if len(files) < keep {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.mod, b.mod) })
	for _, f := range files[:len(files)-keep+1] {
		cs.remove(f.path)
	}
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// handleChunk takes one chunk (or query) of an appliance; it runs on the
// appliance's queue goroutine, so an appliance's chunks are handled in order
// and one at a time.
func (s *Service) handleChunk(ctx context.Context, id string, payload []byte) error {
	cs := s.chunks
	c, perr := ParseRecordingChunk(id, payload, cs.maxFile)
	if c == nil {
		return perr
	}
	if err := cs.init(); err != nil {
		return err
	}
	dir, err := cs.applianceDir(id)
	if err != nil {
		return err
	}
	part := filepath.Join(dir, c.CallID+"."+c.Ref.SHA256+partSuffix)
	ack := wire.RecordingChunkAck{V: wire.ProtocolVersion, ApplianceID: id, CallID: c.CallID, SHA256: c.Ref.SHA256, Attempt: c.Attempt}

	cur, err := fileSize(part)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChunkDir, err)
	}
	ack.Offset = cur
	switch {
	case perr != nil: // corrupted on the way: ask for it again
		s.log.Warn("ingest: recording chunk refused, asking again", "appliance", id, "call", c.CallID, "offset", c.Offset, "err", perr)
		ack.Resend, ack.Error = true, "chunk sha256 mismatch"
		return s.publish(wire.TopicRecordingChunkAck(id), ack)
	case cur > c.Ref.Bytes: // cannot happen with files this code wrote
		cs.remove(part)
		ack.Offset, ack.Resend = 0, true
		return s.publish(wire.TopicRecordingChunkAck(id), ack)
	case cur == c.Ref.Bytes:
		return s.finishChunks(ctx, id, c, part, ack)
	case c.Query:
		ack.Resend = true
		return s.publish(wire.TopicRecordingChunkAck(id), ack)
	case c.Offset != cur:
		// A duplicate (before cur) needs no action; a gap (after cur)
		// makes the appliance go back to cur.
		ack.Resend = c.Offset > cur
		return s.publish(wire.TopicRecordingChunkAck(id), ack)
	}

	n := int64(len(c.Data))
	if cur == 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("%w: %w", ErrChunkDir, err)
		}
		cs.prune(dir, partSuffix, maxPartsPerAppliance)
	}
	if !cs.reserve(n) {
		s.log.Error("ingest: chunk space full, recording chunk refused", "appliance", id, "call", c.CallID, "dir", cs.dir, "max_bytes", cs.maxTotal)
		ack.Error = "central chunk space full"
		return errors.Join(fmt.Errorf("%w: call %s of %s", ErrChunkSpace, c.CallID, id), s.publish(wire.TopicRecordingChunkAck(id), ack))
	}
	if err := appendAt(part, cur, c.Data); err != nil {
		cs.release(n)
		ack.Error = "chunk not stored"
		return errors.Join(fmt.Errorf("%w: %w", ErrChunkDir, err), s.publish(wire.TopicRecordingChunkAck(id), ack))
	}
	cur += n
	ack.Offset = cur
	if s.cfg.OnChunk != nil {
		s.cfg.OnChunk(id, c.CallID, cur)
	}
	if cur == c.Ref.Bytes {
		return s.finishChunks(ctx, id, c, part, ack)
	}
	return s.publish(wire.TopicRecordingChunkAck(id), ack)
}

// appendAt writes data at offset off of path, which must be the file's size;
// on failure the file is cut back to off.
func appendAt(path string, off int64, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteAt(data, off)
	if werr != nil {
		werr = errors.Join(werr, f.Truncate(off))
	}
	return errors.Join(werr, f.Close())
}

// finishChunks verifies the complete part file and stores it. A mismatch
// drops the part file (the appliance starts again after its backoff); a
// store failure keeps it, so that the appliance's next query finishes it.
func (s *Service) finishChunks(ctx context.Context, id string, c *wire.RecordingChunk, part string, ack wire.RecordingChunkAck) error {
	cs := s.chunks
	rack := wire.RecordingAck{V: wire.ProtocolVersion, ApplianceID: id, CallID: c.CallID}
	data, sum, err := readHashed(part)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChunkDir, err)
	}
	rack.SHA256 = sum
	var serr error
	switch {
	case sum != c.Ref.SHA256 || int64(len(data)) != c.Ref.Bytes:
		cs.remove(part)
		ack.Offset = 0
		rack.Error = "sha256 mismatch"
		serr = fmt.Errorf("%w: call %s: got %s (%d bytes), ref %s (%d bytes)", ErrHashMismatch, c.CallID, sum, len(data), c.Ref.SHA256, c.Ref.Bytes)
	default:
		up := &wire.RecordingUpload{V: wire.ProtocolVersion, ApplianceID: id, CallID: c.CallID, Ref: c.Ref, Data: data}
		if err := s.st.StoreRecording(ctx, id, up); err != nil {
			rack.Error = "not stored"
			if errors.Is(err, store.ErrPrivilegedRecording) {
				cs.remove(part) // no byte of a privileged call stays at central
				rack.Error = "refused: privileged call"
			}
			serr = fmt.Errorf("ingest: store recording %s of %s: %w", c.CallID, id, err)
			break
		}
		rack.OK = true
		s.m.recordings.Inc()
		s.m.recordingBytes.Add(float64(len(data)))
		cs.remove(part)
		s.log.Info("ingest: chunked recording verified and stored", "appliance", id, "call", c.CallID, "bytes", len(data))
	}
	return errors.Join(serr, s.publish(wire.TopicRecordingChunkAck(id), ack), s.publish(wire.TopicRecordingAck(id), rack))
}

// readHashed reads a file and returns its bytes and hex SHA-256.
func readHashed(path string) ([]byte, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) { // an empty recording: no chunk ever written
		sum := sha256.Sum256(nil)
		return nil, hex.EncodeToString(sum[:]), nil
	}
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}
