package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketLiveCalls holds one checkpoint per call in progress, keyed by
// call id: what the appliance must know to close the call if it dies
// with it (its record, debit and recording, and a BYE for its dialogs).
// The checkpoint's content is the caller's (JSON); the store only keeps
// it, so that writing the call's record and deleting its checkpoint can
// be one transaction.
var bucketLiveCalls = []byte("live_calls")

// LiveCall is a stored checkpoint of a call in progress.
type LiveCall struct {
	CallID string
	Data   json.RawMessage
}

// PutLiveCall stores (or replaces) the checkpoint of call callID; v is
// marshalled to JSON.
func (tx *Tx) PutLiveCall(callID string, v any) error {
	if callID == "" {
		return fmt.Errorf("%w: live call without an id", ErrInvalid)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: live call %q: %v", ErrInvalid, callID, err)
	}
	b, err := tx.tx.CreateBucketIfNotExists(bucketLiveCalls)
	if err != nil {
		return fmt.Errorf("store: put live call: %w", err)
	}
	if err := b.Put([]byte(callID), data); err != nil {
		return fmt.Errorf("store: put live call: %w", err)
	}
	return nil
}

// DeleteLiveCall forgets the checkpoint of call callID (nothing when
// there is none).
func (tx *Tx) DeleteLiveCall(callID string) error {
	b := tx.tx.Bucket(bucketLiveCalls)
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(callID)); err != nil {
		return fmt.Errorf("store: delete live call: %w", err)
	}
	return nil
}

// LiveCall returns the checkpoint of call callID within the transaction,
// or nil when there is none.
func (tx *Tx) LiveCall(callID string) json.RawMessage {
	b := tx.tx.Bucket(bucketLiveCalls)
	if b == nil {
		return nil
	}
	if v := b.Get([]byte(callID)); v != nil {
		return append(json.RawMessage(nil), v...)
	}
	return nil
}

// LiveCalls returns every stored checkpoint, by call id.
func (s *Store) LiveCalls() ([]LiveCall, error) {
	var out []LiveCall
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLiveCalls)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out = append(out, LiveCall{CallID: string(k), Data: append(json.RawMessage(nil), v...)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: live calls: %w", err)
	}
	return out, nil
}
