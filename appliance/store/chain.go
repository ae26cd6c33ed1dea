package store

// The outbox's chain, and what central's acknowledgements say about it.
//
// Every data directory writes its own event chain, named by a random
// epoch (wire.Event.Epoch) chosen when the store file is created; a store
// from before epochs keeps epoch "". Central keeps an appliance's chains
// apart, so a replacement box provisioned under the same id (a new data
// directory, seq 1 again) is not mistaken for conflicting copies of the
// old box's events.
//
// A data directory put back from a backup keeps the old epoch and
// numbering, so its new events reuse seqs central already holds. Central's
// Ack tells: it names the chain, its own hash of event UpTo and the lowest
// seq at which it holds other events (Conflict). AckChain refuses such an
// ack with ErrFork, deleting nothing; the caller then calls Restart, which
// moves every event still in the outbox into a new chain (a new epoch,
// the first event without prev_hash, the same seqs, sealed again) for
// central to take as a chain of its own. Central stores the events it
// already had from the old chain as copies, not counted twice.
//
// Recordings: a recording's local copy is deleted only when central has
// verified its upload and acknowledged the event of its call record
// (RecordingUploaded, ReleaseRecordings), so that a record central did
// not keep never leaves an orphaned recording behind with the only copy of
// the call's record still to come.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kinline/kinline/shared/wire"
)

// ErrFork: central's acknowledgement is about another chain than the
// outbox's under the same epoch (see AckChain); the store should Restart.
var ErrFork = errors.New("store: central holds other events than this store under its chain")

// newEpoch returns a random epoch.
func newEpoch() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: new epoch: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Epoch returns the outbox's current chain ("" for a store from before
// epochs that has not started a new chain).
func (s *Store) Epoch() (string, error) {
	var e string
	err := s.db.View(func(tx *bolt.Tx) error {
		e = string(tx.Bucket(bucketMeta).Get(keyEpoch))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: epoch: %w", err)
	}
	return e, nil
}

// AckChain applies central's acknowledgement a: when a names the outbox's
// chain and central's hash of event a.UpTo is the outbox's own, every event
// up to a.UpTo leaves the outbox (as Ack). It returns ErrFork, deleting
// nothing, when central's chain is not the outbox's: a.UpTo beyond the last
// appended event, another hash for event a.UpTo, or a.Conflict naming an
// event still in the outbox. An ack of another chain, or one at or below
// what is acknowledged already, changes nothing. An ack without a hash
// (from a central before epochs) is applied as Ack(a.UpTo).
func (s *Store) AckChain(a wire.Ack) (removed int, err error) {
	if a.Hash == "" && a.Conflict == 0 {
		return s.Ack(a.UpTo)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta, ob := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		if a.Epoch != string(meta.Get(keyEpoch)) {
			return nil
		}
		if a.Conflict != 0 && ob.Get(seqKey(a.Conflict)) != nil {
			return fmt.Errorf("%w: central refused seq %d", ErrFork, a.Conflict)
		}
		acked, last := getUint(meta, keyAcked), getUint(meta, keyLastSeq)
		if a.UpTo == 0 {
			return nil
		}
		if a.UpTo > last {
			return fmt.Errorf("%w: central acknowledges seq %d, the last appended is %d", ErrFork, a.UpTo, last)
		}
		if a.UpTo <= acked {
			return nil
		}
		v := ob.Get(seqKey(a.UpTo))
		if v == nil {
			return nil
		}
		var ev wire.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("%w: outbox seq %d: %v", ErrCorrupt, a.UpTo, err)
		}
		if ev.Hash != a.Hash {
			return fmt.Errorf("%w: central's seq %d has hash %.12s, the outbox's %.12s", ErrFork, a.UpTo, a.Hash, ev.Hash)
		}
		c := ob.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= a.UpTo; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			removed++
		}
		return putUint(meta, keyAcked, a.UpTo)
	})
	if err != nil {
		return 0, fmt.Errorf("store: ack: %w", err)
	}
	return removed, nil
}

// Restart starts a new chain: a new epoch, and every event still in the
// outbox sealed again into it, in order, under its seq (the first without
// prev_hash). It returns the new epoch and how many events moved. Events
// appended later continue the new chain; with an empty outbox the next one
// starts it.
func (s *Store) Restart() (epoch string, moved int, err error) {
	epoch, err = newEpoch()
	if err != nil {
		return "", 0, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta, ob := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		var evs []wire.Event
		err := ob.ForEach(func(k, v []byte) error {
			var ev wire.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("%w: outbox seq %d: %v", ErrCorrupt, binary.BigEndian.Uint64(k), err)
			}
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			return err
		}
		prev := ""
		for _, ev := range evs {
			ev.Epoch, ev.PrevHash = epoch, prev
			ev.Seal()
			prev = ev.Hash
			data, err := json.Marshal(&ev)
			if err != nil {
				return err
			}
			if err := ob.Put(seqKey(ev.Seq), data); err != nil {
				return err
			}
			moved++
		}
		if err := meta.Put(keyLastHash, []byte(prev)); err != nil {
			return err
		}
		return meta.Put(keyEpoch, []byte(epoch))
	})
	if err != nil {
		return "", 0, fmt.Errorf("store: restart chain: %w", err)
	}
	s.signal()
	return epoch, moved, nil
}

// RecordingUploaded notes that central verified the recording's upload
// while its call record is not acknowledged yet: it is not uploaded again,
// and ReleaseRecordings gives it up once the record is acknowledged.
func (s *Store) RecordingUploaded(callID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecordings)
		v := b.Get([]byte(callID))
		if v == nil {
			return fmt.Errorf("%w: recording %q", ErrNotFound, callID)
		}
		var r Recording
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: recording %q: %v", ErrCorrupt, callID, err)
		}
		r.Uploaded = true
		data, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		return b.Put([]byte(callID), data)
	})
	if err != nil {
		return fmt.Errorf("store: recording uploaded: %w", err)
	}
	return nil
}

// RecordAcked reports whether the recording's call record is acknowledged
// by central (or not known to this store: RecordSeq 0).
func (s *Store) RecordAcked(r Recording) (bool, error) {
	if r.RecordSeq == 0 {
		return true, nil
	}
	acked, err := s.Acked()
	return r.RecordSeq <= acked, err
}

// ReleaseRecordings forgets the uploaded recordings whose call records
// central has now acknowledged and returns them: the caller deletes their
// files.
func (s *Store) ReleaseRecordings() ([]Recording, error) {
	var out []Recording
	err := s.db.Update(func(tx *bolt.Tx) error {
		acked := getUint(tx.Bucket(bucketMeta), keyAcked)
		b := tx.Bucket(bucketRecordings)
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var r Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: recording %q: %v", ErrCorrupt, k, err)
			}
			if r.Uploaded && r.RecordSeq <= acked {
				out = append(out, r)
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: release recordings: %w", err)
	}
	return out, nil
}
