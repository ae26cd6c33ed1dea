// Package store is the appliance's local, durable state in one bbolt file:
// the block's policy as last received, the outbox of events waiting for
// central's application-level acknowledgement, the recordings waiting to
// be uploaded and verified, and the appliance's own call debits and answered
// calls that the newest policy does not include yet (its usable balance and
// quotas, see Own).
//
// The outbox is an append-only, hash-chained stream (see wire.Event). Its
// sequence numbers start at 1, have no gaps and never repeat, also across
// restarts and after Ack has emptied the outbox: the last sequence number and
// hash are kept in the meta bucket, independent of the outbox's content.
//
// Everything that must happen together (a call record, its ledger debit and
// its recording) goes into one Update, which is one bbolt transaction.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Errors returned by the store.
var (
	ErrStalePolicy    = errors.New("store: policy is not newer than the stored one")
	ErrWrongAppliance = errors.New("store: data belongs to another appliance")
	ErrAckAhead       = errors.New("store: ack beyond the last appended event")
	ErrNotFound       = errors.New("store: not found")
	ErrInvalid        = errors.New("store: invalid argument")
	ErrCorrupt        = errors.New("store: corrupt data")
)

// Bucket names and meta keys. They are part of the on-disk format.
var (
	bucketMeta       = []byte("meta")
	bucketPolicy     = []byte("policy")
	bucketOutbox     = []byte("outbox")
	bucketRecordings = []byte("recordings")

	keyApplianceID = []byte("appliance_id")
	keyLastSeq     = []byte("last_seq")
	keyLastHash    = []byte("last_hash")
	keyAcked       = []byte("acked")
	keyEpoch       = []byte("epoch")
	keyPolicy      = []byte("current")
)

// Options configures Open.
type Options struct {
	// ApplianceID is this appliance's id (wire.ValidApplianceID). A file
	// created for one id refuses to open for another.
	ApplianceID string
	// Clock stamps events. Nil means the wall clock.
	Clock clock.Clock
	// LockTimeout bounds the wait for the file lock held by another
	// process. Zero means 5 s.
	LockTimeout time.Duration
}

// Store is the appliance's bbolt database. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	id     string
	clock  clock.Clock
	notify chan struct{}
	// ownCache holds the last Own computed (ledger.go).
	ownCache ownCache
}

// Recording is a recording waiting for central to verify its upload.
type Recording struct {
	// CallID is the key the recording is known by: the call id sent in
	// wire.RecordingUpload.CallID and answered in wire.RecordingAck. It is
	// the RecordingRef.ID given to AddRecording.
	CallID string            `json:"call_id"`
	Ref    wire.RecordingRef `json:"ref"`
	Path   string            `json:"path"`
	Added  time.Time         `json:"added"`
	// RecordSeq is the seq of the call's record in the outbox when it was
	// appended in the same transaction (0: not known, as in stores from
	// before the field). The local copy is deleted only once central has
	// acknowledged that event, as well as verified the upload (chain.go).
	RecordSeq uint64 `json:"record_seq,omitempty"`
	// Uploaded: central verified the upload, and the copy waits for the
	// record's acknowledgement before it is deleted.
	Uploaded bool `json:"uploaded,omitempty"`
}

// Open opens (creating if needed) the store at path.
func Open(path string, opts Options) (*Store, error) {
	if err := wire.ValidApplianceID(opts.ApplianceID); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, id: opts.ApplianceID, clock: opts.Clock, notify: make(chan struct{}, 1)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketPolicy, bucketOutbox, bucketRecordings} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch got := meta.Get(keyApplianceID); {
		case got == nil:
			// A new data directory starts its own event chain (chain.go).
			epoch, err := newEpoch()
			if err != nil {
				return err
			}
			if err := meta.Put(keyEpoch, []byte(epoch)); err != nil {
				return err
			}
			return meta.Put(keyApplianceID, []byte(opts.ApplianceID))
		case string(got) != opts.ApplianceID:
			return fmt.Errorf("%w: file is %q's, opened as %q", ErrWrongAppliance, got, opts.ApplianceID)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// ApplianceID returns the id the store was opened for.
func (s *Store) ApplianceID() string { return s.id }

// Check runs bbolt's consistency check and returns the first problem found.
// It runs in a write transaction, rolled back: bbolt's check in a read-only
// transaction is not safe beside concurrent writers (pages a newer write
// freed look "unreachable unfreed"), and the sync client or a call may be
// writing while a test or an operator checks.
func (s *Store) Check() error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	defer tx.Rollback()
	for err := range tx.Check() {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// Notify returns a channel that receives a value after a transaction that
// appended events has committed. It holds at most one pending signal, so a
// reader must drain Pending after each receive.
func (s *Store) Notify() <-chan struct{} { return s.notify }

// Tx is one read-write transaction, passed to the function given to Update.
// It must not be used after that function returns.
type Tx struct {
	s          *Store
	tx         *bolt.Tx
	appended   bool
	ownChanged bool // the own ledger was written: invalidate its cache on commit
	// calls are the seqs of the call records appended in this
	// transaction, by call id, for AddRecording.
	calls map[string]uint64
}

// Update runs fn in one bbolt read-write transaction: everything fn does is
// committed together, or nothing if fn returns an error.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.write("update", s.db.Update, fn)
}

// Batch is Update for callers that may run many at once (a call record
// per call attempt): concurrent Batch calls are committed together in one
// bbolt transaction and one fsync (bbolt's DB.Batch), so the store keeps
// up with many attempts a second. Each returns once its changes are
// durable, as with Update. fn may run more than once (bbolt reruns the
// functions of a batch that failed, each alone), so it must have no
// effect outside tx.
func (s *Store) Batch(fn func(tx *Tx) error) error {
	return s.write("batch", s.db.Batch, fn)
}

// write runs fn through bbolt's Update or Batch (run), waking the sync
// client on commit when fn appended events.
func (s *Store) write(what string, run func(func(*bolt.Tx) error) error, fn func(tx *Tx) error) error {
	err := run(func(btx *bolt.Tx) error {
		tx := &Tx{s: s, tx: btx}
		if err := fn(tx); err != nil {
			return err
		}
		if tx.appended {
			btx.OnCommit(s.signal)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

func (s *Store) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Append adds an event to the outbox in its own transaction.
func (s *Store) Append(typ wire.EventType, payload any) (wire.Event, error) {
	var ev wire.Event
	err := s.Update(func(tx *Tx) error {
		var err error
		ev, err = tx.Append(typ, payload)
		return err
	})
	return ev, err
}

// Append adds an event with the next sequence number, chained to the
// previous event's hash and sealed. payload is marshalled to JSON (a
// json.RawMessage is taken as is).
func (tx *Tx) Append(typ wire.EventType, payload any) (wire.Event, error) {
	if typ == "" {
		return wire.Event{}, fmt.Errorf("%w: empty event type", ErrInvalid)
	}
	var raw json.RawMessage
	switch p := payload.(type) {
	case json.RawMessage:
		if !json.Valid(p) {
			return wire.Event{}, fmt.Errorf("%w: payload is not valid JSON", ErrInvalid)
		}
		raw = append(json.RawMessage(nil), p...)
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return wire.Event{}, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
		}
		raw = b
	}
	// encoding/json compacts and HTML-escapes a RawMessage it embeds; do
	// both now so that the hash survives a JSON round trip byte for byte.
	var compact, buf bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return wire.Event{}, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	json.HTMLEscape(&buf, compact.Bytes())
	meta := tx.tx.Bucket(bucketMeta)
	last := getUint(meta, keyLastSeq)
	ev := wire.Event{
		ApplianceID: tx.s.id,
		Epoch:       string(meta.Get(keyEpoch)),
		Seq:         last + 1,
		Time:        tx.s.clock.Now().UTC().Round(0),
		Type:        typ,
		Payload:     buf.Bytes(),
		PrevHash:    string(meta.Get(keyLastHash)),
	}
	ev.Seal()
	data, err := json.Marshal(&ev)
	if err != nil {
		return wire.Event{}, fmt.Errorf("store: append: %w", err)
	}
	if err := tx.tx.Bucket(bucketOutbox).Put(seqKey(ev.Seq), data); err != nil {
		return wire.Event{}, fmt.Errorf("store: append: %w", err)
	}
	if err := putUint(meta, keyLastSeq, ev.Seq); err != nil {
		return wire.Event{}, fmt.Errorf("store: append: %w", err)
	}
	if err := meta.Put(keyLastHash, []byte(ev.Hash)); err != nil {
		return wire.Event{}, fmt.Errorf("store: append: %w", err)
	}
	tx.appended = true
	return ev, nil
}

// AddRecording records a recording file waiting for upload. ref.ID is the
// key (the call id of RecordingUpload/RecordingAck and RecordingVerified).
func (tx *Tx) AddRecording(ref wire.RecordingRef, path string) error {
	if ref.ID == "" || path == "" || len(ref.SHA256) != 64 {
		return fmt.Errorf("%w: recording needs an id, a path and a hex SHA-256", ErrInvalid)
	}
	rec := Recording{CallID: ref.ID, Ref: ref, Path: path, Added: tx.s.clock.Now().UTC().Round(0), RecordSeq: tx.calls[ref.ID]}
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("store: add recording: %w", err)
	}
	if err := tx.tx.Bucket(bucketRecordings).Put([]byte(ref.ID), data); err != nil {
		return fmt.Errorf("store: add recording: %w", err)
	}
	return nil
}

// SavePolicy stores p as the current policy within the transaction; it
// returns ErrStalePolicy when p.Version is not newer than the stored one.
func (tx *Tx) SavePolicy(p *wire.Policy) error {
	if p == nil {
		return fmt.Errorf("%w: nil policy", ErrInvalid)
	}
	if p.ApplianceID != tx.s.id {
		return fmt.Errorf("%w: policy for %q", ErrWrongAppliance, p.ApplianceID)
	}
	b := tx.tx.Bucket(bucketPolicy)
	if cur, err := decodePolicy(b.Get(keyPolicy)); err != nil {
		return err
	} else if cur != nil && p.Version <= cur.Version {
		return fmt.Errorf("%w: version %d, stored %d", ErrStalePolicy, p.Version, cur.Version)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: save policy: %w", err)
	}
	if err := b.Put(keyPolicy, data); err != nil {
		return fmt.Errorf("store: save policy: %w", err)
	}
	return nil
}

// Policy returns the stored policy, or nil, nil when none was saved yet.
func (s *Store) Policy() (*wire.Policy, error) {
	var p *wire.Policy
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		p, err = decodePolicy(tx.Bucket(bucketPolicy).Get(keyPolicy))
		return err
	})
	return p, err
}

// SavePolicy stores p in its own transaction; see Tx.SavePolicy.
func (s *Store) SavePolicy(p *wire.Policy) error {
	return s.Update(func(tx *Tx) error { return tx.SavePolicy(p) })
}

func decodePolicy(data []byte) (*wire.Policy, error) {
	if data == nil {
		return nil, nil
	}
	var p wire.Policy
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: policy: %v", ErrCorrupt, err)
	}
	return &p, nil
}

// Pending returns up to max events of the outbox with Seq > after, in order.
func (s *Store) Pending(after uint64, max int) ([]wire.Event, error) {
	if max <= 0 {
		return nil, nil
	}
	var out []wire.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var ev wire.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("%w: outbox seq %d: %v", ErrCorrupt, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	return out, nil
}

// Ack records that central has durably stored every event up to and
// including upTo, and deletes them from the outbox. The watermark only moves
// forward: an older or equal upTo removes nothing. An upTo beyond the last
// appended event is refused with ErrAckAhead.
func (s *Store) Ack(upTo uint64) (removed int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		acked := getUint(meta, keyAcked)
		if upTo <= acked {
			return nil
		}
		if last := getUint(meta, keyLastSeq); upTo > last {
			return fmt.Errorf("%w: ack %d, last seq %d", ErrAckAhead, upTo, last)
		}
		ob := tx.Bucket(bucketOutbox)
		c := ob.Cursor()
		end := seqKey(upTo)
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
			removed++
		}
		return putUint(meta, keyAcked, upTo)
	})
	if err != nil {
		return 0, fmt.Errorf("store: ack: %w", err)
	}
	return removed, nil
}

// Acked returns the highest sequence number central has acknowledged.
func (s *Store) Acked() (uint64, error) {
	return s.metaUint(keyAcked)
}

// LastSeq returns the sequence number of the last appended event (0 if none).
func (s *Store) LastSeq() (uint64, error) {
	return s.metaUint(keyLastSeq)
}

func (s *Store) metaUint(key []byte) (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v = getUint(tx.Bucket(bucketMeta), key)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", key, err)
	}
	return v, nil
}

// PendingRecordings returns the recordings waiting for verification, by call id.
func (s *Store) PendingRecordings() ([]Recording, error) {
	var out []Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecordings).ForEach(func(k, v []byte) error {
			var r Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: recording %q: %v", ErrCorrupt, k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending recordings: %w", err)
	}
	return out, nil
}

// RecordingVerified forgets a recording central has verified. It returns
// ErrNotFound when no such recording is pending. Deleting the file is the
// caller's job, after this returns.
func (s *Store) RecordingVerified(callID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecordings)
		if b.Get([]byte(callID)) == nil {
			return fmt.Errorf("%w: recording %q", ErrNotFound, callID)
		}
		return b.Delete([]byte(callID))
	})
	if err != nil {
		return fmt.Errorf("store: recording verified: %w", err)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func getUint(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, key []byte, v uint64) error {
	return b.Put(key, seqKey(v))
}
