package policysnap

import (
	"context"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// IngestStore is the store central/ingest is given (ingest.Store, and
// ingest.BatchStore and ingest.SelfBlocker through the core and the
// people): the core (events, batches, recordings, appliances), the
// policies it publishes built by a Builder, and the called parties'
// self-blocks it records as a batch arrives, by the people's store.
type IngestStore struct {
	*store.Store
	policy *Builder
	people *people.Store
}

// NewIngestStore returns the store ingest is given on core and ppl (the
// people's store on core).
func NewIngestStore(core *store.Store, ppl *people.Store) *IngestStore {
	return &IngestStore{Store: core, policy: New(core), people: ppl}
}

// PolicyFor builds the appliance's current policy (Builder.PolicyFor).
func (s *IngestStore) PolicyFor(ctx context.Context, applianceID string) (*wire.Policy, error) {
	return s.policy.PolicyFor(ctx, applianceID)
}

// SelfBlockReported records a called party's self-block
// (people.Store.SelfBlockReported).
func (s *IngestStore) SelfBlockReported(ctx context.Context, applianceID string, nb wire.NumberBlocked) (string, error) {
	return s.people.SelfBlockReported(ctx, applianceID, nb)
}
