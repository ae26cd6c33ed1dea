// Package reports answers the questions asked of what central has stored:
// the call search and the calls export (calls.go), call statistics over a
// period (stats.go), billing reports from the ledger (billing.go), and the
// review of calls, with reviewers' notes and bookmarks in recordings
// (review.go). It is built on the core store
// (central/store): it reads the core's tables through the core's readers
// and writes (notes, bookmarks) in the core's transactions, audited in the
// core's chain.
package reports

import (
	"errors"

	"github.com/kinline/kinline/central/store"
)

// ErrNotAuthor: a bookmark is removed only by its author or a system
// administrator.
var ErrNotAuthor = errors.New("store: only its author or a system administrator may remove it")

// Store is the reports' part of central's store. It is safe for
// concurrent use.
type Store struct {
	core *store.Store
}

// New returns the reports on core.
func New(core *store.Store) *Store { return &Store{core: core} }
