package store

import (
	"context"
	"database/sql"

	"github.com/kinline/kinline/shared/wire"
)

// policyMoney fills p.Money (rates, balances, quotas and the IncludedSeq
// watermark for applianceID) inside PolicyFor's read transaction. It
// leaves p.Money nil while no rate is set: calls are then not rated.
func (s *Store) policyMoney(ctx context.Context, tx *sql.Tx, applianceID string, p *wire.Policy) error {
	return nil
}
