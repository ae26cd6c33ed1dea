package web

import (
	"testing"

	"github.com/kinline/kinline/central/store/pgtest"
)

// TestPostgres runs every test of this package again with its stores on a
// throwaway PostgreSQL server (setupClock opens them through storetest).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }
