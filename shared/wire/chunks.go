package wire

// Chunked recording uploads (CapabilityVersion 5; protocol 1, additive:
// new messages on new topics; a central without them never subscribes to
// the chunk topic, and the appliance keeps its recordings until a
// RecordingAck OK arrives).
//
// The appliance sends a recording as a sequence of RecordingChunk messages
// on TopicRecordingChunks, each naming the whole file (call id, SHA-256,
// size) and carrying one piece of it at Offset with the piece's own
// SHA-256. It starts every upload, and every resume after a reconnect, a
// restart or a timeout, with a Query chunk (no data). Central keeps only the
// contiguous prefix it has received and answers every chunk and query with
// a RecordingChunkAck on TopicRecordingChunkAck carrying that prefix's
// length (Offset). With Resend set, central did not take the chunk it
// answers (a query, a gap, a corrupted chunk) and the appliance continues
// from Offset. Once central holds Ref.Bytes bytes whose SHA-256 equals
// Ref.SHA256 it stores the recording and answers with the RecordingAck of
// the one-piece upload; only that lets the appliance delete its copy.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Chunk limits.
const (
	// DefaultChunkSize is the size of the chunks an appliance sends.
	DefaultChunkSize = 256 << 10
	// MaxChunkSize is the largest chunk either side accepts.
	MaxChunkSize = 1 << 20
	// MaxCallIDLen is the longest call id (it names files at central).
	MaxCallIDLen = 128
)

// Errors of the chunk validators.
var (
	// ErrBadCallID: a call id that cannot safely name a file.
	ErrBadCallID = errors.New("wire: bad call id")
	// ErrChunkHash: a chunk's data does not match its ChunkSHA256.
	ErrChunkHash = errors.New("wire: chunk SHA-256 does not match its data")
)

// TopicRecordingChunks is where an appliance publishes RecordingChunk.
func TopicRecordingChunks(appliance string) string {
	return TopicRoot + "/" + appliance + "/up/recording-chunks"
}

// TopicRecordingChunkAck is where central answers with RecordingChunkAck.
func TopicRecordingChunkAck(appliance string) string {
	return TopicRoot + "/" + appliance + "/down/recording-chunk-ack"
}

// TopicAllRecordingChunks is central's wildcard subscription for chunks.
const TopicAllRecordingChunks = TopicRoot + "/+/up/recording-chunks"

// RecordingChunk is one piece of a recording, or (Query) a request for
// central's current offset of it.
type RecordingChunk struct {
	V           int    `json:"v"`
	ApplianceID string `json:"appliance_id"`
	CallID      string `json:"call_id"`
	// Ref describes the whole file: SHA256 (hex) and Bytes identify the
	// upload together with CallID.
	Ref RecordingRef `json:"ref"`
	// Attempt numbers the appliance's passes over this upload; central
	// echoes it so that answers to chunks of an abandoned pass are told
	// apart from answers to the current one.
	Attempt uint32 `json:"attempt"`
	// Query asks for central's offset; it carries no data.
	Query bool `json:"query,omitempty"`
	// Offset is where Data starts in the file.
	Offset int64 `json:"offset"`
	// ChunkSHA256 is the hex SHA-256 of Data.
	ChunkSHA256 string `json:"chunk_sha256,omitempty"`
	Data        []byte `json:"data,omitempty"`
}

// RecordingChunkAck is central's answer to a RecordingChunk.
type RecordingChunkAck struct {
	V           int    `json:"v"`
	ApplianceID string `json:"appliance_id"`
	CallID      string `json:"call_id"`
	SHA256      string `json:"sha256"` // the upload's Ref.SHA256
	Attempt     uint32 `json:"attempt"`
	// Offset is how many bytes of the file, from its start, central holds.
	Offset int64 `json:"offset"`
	// Resend: central did not take the chunk answered (a query, a gap, a
	// corrupted chunk); the appliance continues from Offset.
	Resend bool `json:"resend,omitempty"`
	// Error, without Resend, is a refusal the appliance retries only after
	// its backoff (central out of chunk space, a recording too large, a
	// malformed chunk). With Resend it says why.
	Error string `json:"error,omitempty"`
}

// ValidCallID reports whether id can be a recording's call id: 1 to
// MaxCallIDLen characters of [A-Za-z0-9._-], not starting with a dot, so
// that it can be used in a file name without escaping its directory.
func ValidCallID(id string) error {
	if len(id) == 0 || len(id) > MaxCallIDLen {
		return fmt.Errorf("%w: length %d", ErrBadCallID, len(id))
	}
	if id[0] == '.' {
		return fmt.Errorf("%w: %q starts with a dot", ErrBadCallID, id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadCallID, id)
		}
	}
	return nil
}

// validSHA256 reports whether s is 64 hex digits.
func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// DecodeRecordingChunk unmarshals an untrusted chunk and checks it: version,
// appliance (when wantAppliance is not empty), and the rest as Validate
// does. The hex hashes are returned lower-case. With ErrChunkHash
// (wrapped), the chunk is returned too, so that central can ask for it
// again.
func DecodeRecordingChunk(data []byte, wantAppliance string, maxFile int64) (*RecordingChunk, error) {
	var c RecordingChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersion(c.V); err != nil {
		return nil, err
	}
	if wantAppliance != "" && c.ApplianceID != wantAppliance {
		return nil, fmt.Errorf("%w: chunk for appliance %q on %q's topic", ErrMalformed, c.ApplianceID, wantAppliance)
	}
	c.Ref.SHA256 = strings.ToLower(c.Ref.SHA256)
	c.ChunkSHA256 = strings.ToLower(c.ChunkSHA256)
	if err := c.check(maxFile); err != nil {
		if errors.Is(err, ErrChunkHash) {
			return &c, err
		}
		return nil, err
	}
	return &c, nil
}

// Validate checks a chunk: its version, call id (ValidCallID), the file's
// SHA-256 and size (0 to maxFile bytes), the chunk's place inside the file
// and size (at most MaxChunkSize), that a query carries no data, and the
// chunk's data against its SHA-256 (ErrChunkHash). Hex digits may be of
// either case.
func (c *RecordingChunk) Validate(maxFile int64) error {
	if err := checkVersion(c.V); err != nil {
		return err
	}
	return c.check(maxFile)
}

func (c *RecordingChunk) check(maxFile int64) error {
	if err := ValidCallID(c.CallID); err != nil {
		return err
	}
	if !validSHA256(c.Ref.SHA256) {
		return fmt.Errorf("%w: call %s: file SHA-256 %q", ErrMalformed, c.CallID, c.Ref.SHA256)
	}
	if c.Ref.Bytes < 0 || c.Ref.Bytes > maxFile {
		return fmt.Errorf("%w: call %s: file size %d not in [0, %d]", ErrMalformed, c.CallID, c.Ref.Bytes, maxFile)
	}
	if c.Query {
		if len(c.Data) != 0 || c.Offset != 0 || c.ChunkSHA256 != "" {
			return fmt.Errorf("%w: call %s: query with data", ErrMalformed, c.CallID)
		}
		return nil
	}
	n := int64(len(c.Data))
	if n == 0 || n > MaxChunkSize {
		return fmt.Errorf("%w: call %s: chunk of %d bytes", ErrMalformed, c.CallID, n)
	}
	if c.Offset < 0 || c.Offset > c.Ref.Bytes-n {
		return fmt.Errorf("%w: call %s: chunk [%d, +%d) outside the file of %d bytes", ErrMalformed, c.CallID, c.Offset, n, c.Ref.Bytes)
	}
	if !validSHA256(c.ChunkSHA256) {
		return fmt.Errorf("%w: call %s: chunk SHA-256 %q", ErrMalformed, c.CallID, c.ChunkSHA256)
	}
	sum := sha256.Sum256(c.Data)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), c.ChunkSHA256) {
		return fmt.Errorf("%w: call %s at %d", ErrChunkHash, c.CallID, c.Offset)
	}
	return nil
}

// DecodeRecordingChunkAck unmarshals an untrusted chunk ack and checks its
// version, appliance (when wantAppliance is not empty), call id and offset.
// The SHA-256 is returned lower-case.
func DecodeRecordingChunkAck(data []byte, wantAppliance string) (*RecordingChunkAck, error) {
	var a RecordingChunkAck
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersion(a.V); err != nil {
		return nil, err
	}
	if wantAppliance != "" && a.ApplianceID != wantAppliance {
		return nil, fmt.Errorf("%w: chunk ack for appliance %q on %q's topic", ErrMalformed, a.ApplianceID, wantAppliance)
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	a.SHA256 = strings.ToLower(a.SHA256)
	return &a, nil
}

// Validate checks a chunk ack's version, call id (ValidCallID) and offset.
func (a *RecordingChunkAck) Validate() error {
	if err := checkVersion(a.V); err != nil {
		return err
	}
	return a.check()
}

func (a *RecordingChunkAck) check() error {
	if err := ValidCallID(a.CallID); err != nil {
		return err
	}
	if a.Offset < 0 {
		return fmt.Errorf("%w: call %s: negative offset %d", ErrMalformed, a.CallID, a.Offset)
	}
	return nil
}
