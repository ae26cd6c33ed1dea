package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kinline/kinline/shared/wire"
)

// bucketCommands remembers the commands taken from central, by id, with
// their expiry and answer, so a command delivered twice is executed once and
// answered the same way twice. keyLockdown in the meta bucket holds the
// lockdown state ("1" or absent).
var (
	bucketCommands = []byte("commands")
	keyLockdown    = []byte("lockdown")
	keyLockdownAt  = []byte("lockdown_issued") // issue time of the command that set keyLockdown
)

// rememberedCommand is the stored form of a command taken.
type rememberedCommand struct {
	Expires time.Time          `json:"expires"`
	Answer  wire.CommandAnswer `json:"answer"`
}

// CommandAnswer returns the answer stored for command id, or nil when the
// command was never taken (or its memory was pruned after it expired).
func (s *Store) CommandAnswer(id string) (*wire.CommandAnswer, error) {
	var out *wire.CommandAnswer
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCommands)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		var r rememberedCommand
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: command %q: %v", ErrCorrupt, id, err)
		}
		out = &r.Answer
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: command answer: %w", err)
	}
	return out, nil
}

// RememberCommand stores that the command id (valid until expires) was
// taken and answered with a, and forgets the commands that expired before
// pruneBefore (a replay of those is refused as expired).
func (tx *Tx) RememberCommand(id string, expires time.Time, a wire.CommandAnswer, pruneBefore time.Time) error {
	if err := wire.ValidCommandID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b, err := tx.tx.CreateBucketIfNotExists(bucketCommands)
	if err != nil {
		return err
	}
	var old [][]byte
	err = b.ForEach(func(k, v []byte) error {
		var r rememberedCommand
		if json.Unmarshal(v, &r) != nil || r.Expires.Before(pruneBefore) {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	data, err := json.Marshal(rememberedCommand{Expires: expires, Answer: a})
	if err != nil {
		return err
	}
	return b.Put([]byte(id), data)
}

// SetLockdown stores the block's lockdown state.
func (tx *Tx) SetLockdown(on bool) error {
	meta := tx.tx.Bucket(bucketMeta)
	if on {
		return meta.Put(keyLockdown, []byte("1"))
	}
	return meta.Delete(keyLockdown)
}

// SetLockdownAt stores the lockdown state set by a command central issued
// at issued, unless a command issued later has already set it: commands
// can arrive out of order after an outage (the broker redelivers queued
// messages in no fixed order), and a lockdown must not be lifted by an
// older "lift" arriving after it. applied reports whether the state was
// stored.
func (tx *Tx) SetLockdownAt(on bool, issued time.Time) (applied bool, err error) {
	meta := tx.tx.Bucket(bucketMeta)
	if prev := meta.Get(keyLockdownAt); len(prev) == 8 && issued.UnixNano() < int64(binary.BigEndian.Uint64(prev)) {
		return false, nil
	}
	if err := tx.SetLockdown(on); err != nil {
		return false, err
	}
	return true, meta.Put(keyLockdownAt, binary.BigEndian.AppendUint64(nil, uint64(issued.UnixNano())))
}

// Lockdown reports the stored lockdown state.
func (s *Store) Lockdown() (bool, error) {
	var on bool
	err := s.db.View(func(tx *bolt.Tx) error {
		on = string(tx.Bucket(bucketMeta).Get(keyLockdown)) == "1"
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: lockdown: %w", err)
	}
	return on, nil
}
