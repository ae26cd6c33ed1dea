// Package ingesttest provides an in-memory ingest.Store for tests: it upserts
// events on (appliance, seq), counts redelivered duplicates, computes the
// contiguous acknowledgement, and holds policies and recordings.
package ingesttest

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/kinline/kinline/shared/wire"
)

// ErrInjected is returned by StoreEvents/StoreRecording when a test asks for
// a failure with FailNext.
var ErrInjected = errors.New("ingesttest: injected failure")

// Store is an in-memory ingest.Store. The zero value is not usable; use New.
type Store struct {
	mu         sync.Mutex
	events     map[string]map[uint64]wire.Event
	contiguous map[string]uint64
	dups       map[string]int
	conflicts  map[string]int
	recordings map[string]map[string]*wire.RecordingUpload
	policies   map[string]*wire.Policy
	blocks     map[string]string
	failNext   int
	changed    chan struct{}
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		events:     map[string]map[uint64]wire.Event{},
		contiguous: map[string]uint64{},
		dups:       map[string]int{},
		conflicts:  map[string]int{},
		recordings: map[string]map[string]*wire.RecordingUpload{},
		policies:   map[string]*wire.Policy{},
		blocks:     map[string]string{},
		changed:    make(chan struct{}),
	}
}

// StoreEvents upserts the events and returns the contiguous high-water mark.
func (s *Store) StoreEvents(_ context.Context, applianceID string, evs []wire.Event) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return 0, ErrInjected
	}
	m := s.events[applianceID]
	if m == nil {
		m = map[uint64]wire.Event{}
		s.events[applianceID] = m
	}
	for _, ev := range evs {
		if old, ok := m[ev.Seq]; ok {
			s.dups[applianceID]++
			if old.Hash != ev.Hash {
				s.conflicts[applianceID]++
			}
			continue
		}
		m[ev.Seq] = ev
	}
	c := s.contiguous[applianceID]
	for {
		if _, ok := m[c+1]; !ok {
			break
		}
		c++
	}
	s.contiguous[applianceID] = c
	s.signal()
	return c, nil
}

// StoreRecording keeps the upload.
func (s *Store) StoreRecording(_ context.Context, applianceID string, up *wire.RecordingUpload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return ErrInjected
	}
	m := s.recordings[applianceID]
	if m == nil {
		m = map[string]*wire.RecordingUpload{}
		s.recordings[applianceID] = m
	}
	m[up.CallID] = up
	s.signal()
	return nil
}

// PolicyFor returns the policy set with SetPolicy, or nil.
func (s *Store) PolicyFor(_ context.Context, applianceID string) (*wire.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policies[applianceID]
	if p == nil {
		return nil, nil
	}
	cp := *p
	return &cp, nil
}

// AppliancesInBlock lists the appliances with a policy in block ("" = all),
// sorted.
func (s *Store) AppliancesInBlock(_ context.Context, block string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, b := range s.blocks {
		if block == "" || b == block {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// SetPolicy makes p the current policy of p.ApplianceID, in p.Block.
func (s *Store) SetPolicy(p *wire.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *p
	s.policies[p.ApplianceID] = &cp
	s.blocks[p.ApplianceID] = p.Block
}

// FailNext makes the next n StoreEvents/StoreRecording calls fail.
func (s *Store) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Events returns the stored events of an appliance, by seq.
func (s *Store) Events(applianceID string) []wire.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]wire.Event, 0, len(s.events[applianceID]))
	for _, ev := range s.events[applianceID] {
		out = append(out, ev)
	}
	slices.SortFunc(out, func(a, b wire.Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out
}

// Count returns how many distinct events of the appliance are stored.
func (s *Store) Count(applianceID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events[applianceID])
}

// Contiguous returns the appliance's contiguous high-water mark.
func (s *Store) Contiguous(applianceID string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contiguous[applianceID]
}

// Duplicates returns how many redelivered events were received (and
// ignored); Conflicts how many of them differed from the stored one.
func (s *Store) Duplicates(applianceID string) (dups, conflicts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups[applianceID], s.conflicts[applianceID]
}

// Recording returns a stored recording, or nil.
func (s *Store) Recording(applianceID, callID string) *wire.RecordingUpload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordings[applianceID][callID]
}

// Changed returns a channel closed at the next change of stored data; use
// it to wait for a condition without polling on a fixed sleep.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitFor blocks until cond (called with no lock held) is true or ctx ends;
// it reports whether cond became true.
func (s *Store) WaitFor(ctx context.Context, cond func() bool) bool {
	for {
		ch := s.Changed()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cond()
		}
	}
}
