package api

import (
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/version"
	"github.com/kinline/kinline/shared/wire"
)

// TestVersionRoute: GET /api/v1/version answers this build's versions to
// any signed-in role and nothing to an anonymous caller.
func TestVersionRoute(t *testing.T) {
	e := newEnv(t)
	var eb map[string]string
	if r := e.do("GET", "/api/v1/version", "", nil, &eb); r.StatusCode != 401 {
		t.Fatalf("unauthenticated: %d %v", r.StatusCode, eb)
	}
	se := e.sessionFor("reader", store.RoleReadOnly, false)
	var got version.Info
	if r := e.call(se, false, "GET", "/api/v1/version", nil, &got); r.StatusCode != 200 {
		t.Fatalf("session: %d", r.StatusCode)
	}
	if got != version.Get() || got.CapabilityVersion != int(wire.CurrentCapabilityVersion) || got.ProtocolVersion != wire.ProtocolVersion || got.Version == "" {
		t.Fatalf("version = %+v, want %+v", got, version.Get())
	}
}
