package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// The appliance's own ledger and calls, kept beside the outbox so that the
// usable balance and the quotas do not depend on central having
// acknowledged anything: bucketOwnDebits holds every call debit this
// appliance wrote and bucketOwnCalls every answered call it recorded, each
// keyed by the sequence number of the event that carried it. A policy
// whose Money.IncludedSeq is at or past that sequence already counts them;
// PruneOwn then drops them.
var (
	bucketOwnDebits = []byte("own_debits")
	bucketOwnCalls  = []byte("own_calls")
)

// OwnDebit is a call debit this appliance wrote, with the sequence number
// of its EventLedger event.
type OwnDebit struct {
	Seq   uint64           `json:"seq"`
	Entry wire.LedgerEntry `json:"entry"`
}

// OwnCall is an answered call this appliance recorded, with the sequence
// number of its EventCall event.
type OwnCall struct {
	Seq     uint64    `json:"seq"`
	CallID  string    `json:"call_id"`
	Account string    `json:"account"` // person id
	At      time.Time `json:"at"`      // answer time
}

// NextSeq is the sequence number the next Append in this transaction
// will get.
func (tx *Tx) NextSeq() uint64 { return getUint(tx.tx.Bucket(bucketMeta), keyLastSeq) + 1 }

// DebitID is the ledger entry id of the debit carried by event seq of
// appliance id: "<appliance>-<seq>-<nonce>", unique system-wide. The
// nonce keeps it unique across the appliance's event chains too: a
// replacement box numbers its events from 1 again, and a data directory
// put back from a backup numbers them as the backup left off (chain.go),
// and their debits must not take the ids of the old run's.
func DebitID(applianceID string, seq uint64, nonce string) string {
	return fmt.Sprintf("%s-%d-%s", applianceID, seq, nonce)
}

// AppendCall appends rec as an EventCall and, when the call was answered
// (Answer set) and has a person, remembers it for quota counting.
func (tx *Tx) AppendCall(rec wire.CallRecord) (wire.Event, error) {
	ev, err := tx.Append(wire.EventCall, rec)
	if err != nil {
		return ev, err
	}
	if tx.calls == nil {
		tx.calls = map[string]uint64{}
	}
	tx.calls[rec.CallID] = ev.Seq
	if rec.Answer == nil || rec.PersonID == "" || rec.CallID == "" {
		return ev, nil
	}
	c := OwnCall{Seq: ev.Seq, CallID: rec.CallID, Account: rec.PersonID, At: rec.Answer.UTC()}
	if err := tx.putOwn(bucketOwnCalls, ev.Seq, c); err != nil {
		return wire.Event{}, fmt.Errorf("store: append call: %w", err)
	}
	return ev, nil
}

// AppendDebit appends a call debit as an EventLedger and keeps it in the
// own ledger. The store sets e.ID to DebitID(appliance, seq, a random
// nonce) and e.Origin
// to the appliance id; e must otherwise be a valid call debit (Kind
// wire.LedgerCallDebit, Amount <= 0, Account, Ref = call id, At, a
// currency), or ErrInvalid.
func (tx *Tx) AppendDebit(e wire.LedgerEntry) (wire.LedgerEntry, wire.Event, error) {
	seq := tx.NextSeq()
	var nonce [4]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return e, wire.Event{}, fmt.Errorf("store: debit id: %w", err)
	}
	e.ID, e.Origin = DebitID(tx.s.id, seq, hex.EncodeToString(nonce[:])), tx.s.id
	e.At = e.At.UTC()
	le := ledger.Entry{ID: e.ID, Account: e.Account, Kind: ledger.Kind(e.Kind), Amount: ledger.Money(e.Amount),
		Ref: e.Ref, At: e.At, Origin: e.Origin}
	if err := le.Validate(); err != nil || le.Kind != ledger.CallDebit {
		return e, wire.Event{}, fmt.Errorf("%w: debit: %v (kind %q)", ErrInvalid, err, e.Kind)
	}
	if e.Currency == "" {
		return e, wire.Event{}, fmt.Errorf("%w: debit %q without currency", ErrInvalid, e.ID)
	}
	ev, err := tx.Append(wire.EventLedger, e)
	if err != nil {
		return e, ev, err
	}
	if ev.Seq != seq {
		return e, wire.Event{}, fmt.Errorf("%w: debit seq %d, event seq %d", ErrCorrupt, seq, ev.Seq)
	}
	if err := tx.putOwn(bucketOwnDebits, seq, OwnDebit{Seq: seq, Entry: e}); err != nil {
		return e, wire.Event{}, fmt.Errorf("store: append debit: %w", err)
	}
	return e, ev, nil
}

func (tx *Tx) putOwn(bucket []byte, seq uint64, v any) error {
	if !tx.ownChanged {
		tx.ownChanged = true
		tx.tx.OnCommit(tx.s.ownCache.invalidate)
	}
	b, err := tx.tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), data)
}

// OwnDebits returns the own debits carried by events with Seq > after, in
// order.
func (s *Store) OwnDebits(after uint64) ([]OwnDebit, error) {
	var out []OwnDebit
	err := s.db.View(func(tx *bolt.Tx) error {
		return scanOwn(tx, bucketOwnDebits, after, func(data []byte) error {
			var d OwnDebit
			if err := json.Unmarshal(data, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: own debits: %w", err)
	}
	return out, nil
}

// OwnCalls returns the own answered calls carried by events with Seq >
// after, in order.
func (s *Store) OwnCalls(after uint64) ([]OwnCall, error) {
	var out []OwnCall
	err := s.db.View(func(tx *bolt.Tx) error {
		return scanOwn(tx, bucketOwnCalls, after, func(data []byte) error {
			var c OwnCall
			if err := json.Unmarshal(data, &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: own calls: %w", err)
	}
	return out, nil
}

func scanOwn(tx *bolt.Tx, bucket []byte, after uint64, fn func([]byte) error) error {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
		if err := fn(v); err != nil {
			return fmt.Errorf("%w: %s seq %x: %v", ErrCorrupt, bucket, k, err)
		}
	}
	return nil
}

// PruneOwn forgets the own debits and calls carried by events up to and
// including includedSeq: a policy with that Money.IncludedSeq counts them
// already. It returns how many were dropped. A watermark beyond the last
// appended event is about another chain of the appliance (chain.go: a box
// replaced, or a data directory put back, whose new chain central has not
// seen yet) and prunes nothing.
func (s *Store) PruneOwn(includedSeq uint64) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		if includedSeq > getUint(tx.Bucket(bucketMeta), keyLastSeq) {
			return nil
		}
		for _, name := range [][]byte{bucketOwnDebits, bucketOwnCalls} {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= includedSeq; k, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
		}
		if n > 0 {
			tx.OnCommit(s.ownCache.invalidate)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune own ledger: %w", err)
	}
	return n, nil
}

// Own is the appliance's own activity a policy does not include yet, per
// account: it satisfies policy.Own.
type Own struct {
	debits map[string]ledger.Money
	calls  map[string][]ledger.Call
}

// Debits is the sum of the account's own debits not yet included (<= 0).
func (o *Own) Debits(account string) ledger.Money {
	if o == nil {
		return 0
	}
	return o.debits[account]
}

// Calls are the account's own answered calls not yet included.
func (o *Own) Calls(account string) []ledger.Call {
	if o == nil {
		return nil
	}
	return o.calls[account]
}

// ownCache keeps the last Own computed, so that deciding a call reads no
// bbolt page and decodes nothing until the own ledger changes. An Own is
// never modified once built, so it is shared between callers.
type ownCache struct {
	mu       sync.Mutex
	gen      uint64 // bumped by every commit that changes the own ledger
	valid    bool
	seq      uint64
	currency string
	own      *Own
}

func (c *ownCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.valid = false
	c.mu.Unlock()
}

func (c *ownCache) get(seq uint64, currency string) *Own {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.seq == seq && c.currency == currency {
		return c.own
	}
	return nil
}

// generation returns the current generation, read before building.
func (c *ownCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches o if nothing changed the own ledger since gen was read.
func (c *ownCache) put(gen, seq uint64, currency string, o *Own) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.valid, c.seq, c.currency, c.own = true, seq, currency, o
	}
}

// Own returns the own debits and calls that a policy with
// Money.IncludedSeq = includedSeq does not include (0 when the policy has
// no money: all of them). Debits in a currency other than currency are
// left out ("" takes all). The result is cached until the own ledger
// changes; callers must not modify it.
func (s *Store) Own(includedSeq uint64, currency string) (*Own, error) {
	if o := s.ownCache.get(includedSeq, currency); o != nil {
		return o, nil
	}
	gen := s.ownCache.generation()
	o, err := s.buildOwn(includedSeq, currency)
	if err != nil {
		return nil, err
	}
	s.ownCache.put(gen, includedSeq, currency, o)
	return o, nil
}

func (s *Store) buildOwn(includedSeq uint64, currency string) (*Own, error) {
	// A watermark beyond the last appended event is another chain's (see
	// PruneOwn): none of this store's own entries are included.
	if last, err := s.LastSeq(); err != nil {
		return nil, err
	} else if includedSeq > last {
		includedSeq = 0
	}
	o := &Own{debits: map[string]ledger.Money{}, calls: map[string][]ledger.Call{}}
	byAccount := map[string][]ledger.Entry{}
	seqOf := map[string]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := scanOwn(tx, bucketOwnDebits, 0, func(data []byte) error {
			var d OwnDebit
			if err := json.Unmarshal(data, &d); err != nil {
				return err
			}
			if currency != "" && d.Entry.Currency != currency {
				return nil
			}
			seqOf[d.Entry.ID] = d.Seq
			byAccount[d.Entry.Account] = append(byAccount[d.Entry.Account],
				ledger.Entry{ID: d.Entry.ID, Amount: ledger.Money(d.Entry.Amount)})
			return nil
		}); err != nil {
			return err
		}
		return scanOwn(tx, bucketOwnCalls, includedSeq, func(data []byte) error {
			var c OwnCall
			if err := json.Unmarshal(data, &c); err != nil {
				return err
			}
			o.calls[c.Account] = append(o.calls[c.Account], ledger.Call{ID: c.CallID, At: c.At})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: own: %w", err)
	}
	included := ledger.IncludedUpTo(includedSeq, func(id string) (uint64, bool) {
		s, ok := seqOf[id]
		return s, ok
	})
	for account, entries := range byAccount {
		if d := ledger.Usable(0, included, entries); d != 0 {
			o.debits[account] = d
		}
	}
	return o, nil
}
