package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
)

// TestMoneySettingsCharging: the money settings say whether calls are
// charged. A fresh installation says "off"; finance turns it on (audited,
// every block's policy republished); a PUT that leaves charging out keeps
// it; an unknown value is refused and a read-only role may not change it.
func TestMoneySettingsCharging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fin := e.sessionFor("fin", store.RoleFinance, false)
	ro := e.sessionFor("ro", store.RoleReadOnly, false)
	e.n.take()

	var ms map[string]any
	if r := e.call(ro, false, "GET", "/api/v1/money/settings", nil, &ms); r.StatusCode != http.StatusOK || ms["charging"] != "off" {
		t.Fatalf("fresh installation's money settings: %d %v, want charging off", r.StatusCode, ms)
	}
	on := map[string]any{"currency": "EUR", "digits": 2, "time_zone": "UTC", "charging": "on"}
	if r := e.call(ro, true, "PUT", "/api/v1/money/settings", on, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only PUT: %d, want 403", r.StatusCode)
	}
	var eb struct{ Error string }
	bad := map[string]any{"currency": "EUR", "digits": 2, "time_zone": "UTC", "charging": "free"}
	if r := e.call(fin, true, "PUT", "/api/v1/money/settings", bad, &eb); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(eb.Error, "charging") {
		t.Fatalf("charging \"free\": %d %q, want 422 about charging", r.StatusCode, eb.Error)
	}
	if got := e.n.take(); len(got) != 0 {
		t.Fatalf("refused changes notified %v", got)
	}
	ms = nil
	if r := e.call(fin, true, "PUT", "/api/v1/money/settings", on, &ms); r.StatusCode != http.StatusOK || ms["charging"] != "on" {
		t.Fatalf("turn charging on: %d %v", r.StatusCode, ms)
	}
	if got, bs := e.n.take(), blockNames(t, e.st); len(got) == 0 || len(got) != len(bs) {
		t.Fatalf("turning charging on notified %v, want every block (%d)", got, len(bs))
	}
	// A client that does not know the setting keeps it.
	ms = nil
	if r := e.call(fin, true, "PUT", "/api/v1/money/settings", map[string]any{"currency": "EUR", "digits": 2, "time_zone": "Europe/Berlin"}, &ms); r.StatusCode != http.StatusOK || ms["charging"] != "on" || ms["time_zone"] != "Europe/Berlin" {
		t.Fatalf("PUT without charging: %d %v, want charging still on", r.StatusCode, ms)
	}
	au, err := e.st.AuditLog(ctx, store.AuditFilter{Action: "money.settings"})
	if err != nil || len(au) != 2 || !strings.Contains(au[1].Detail, "charging=on") {
		t.Fatalf("audit %+v, %v; want two money.settings entries with charging=on", au, err)
	}
}

func blockNames(t *testing.T, st *store.Store) []string {
	t.Helper()
	bs, err := st.Blocks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names
}
