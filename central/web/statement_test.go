package web

import (
	"context"
	"encoding/json"
	"html"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/shared/wire"
)

// TestStatementWithholdsHiddenCalls: the account page shows a role that
// may not see hidden calls the hidden call's charge (the money adds up)
// but not its id; investigators and system administrators see it all.
func TestStatementWithholdsHiddenCalls(t *testing.T) {
	st, srv := privEnv(t)
	ctx := context.Background()
	person := personID(t, st)
	if err := st.UpsertAppliance(ctx, "appL", "A"); err != nil {
		t.Fatal(err)
	}
	var evs []wire.Event
	for i, d := range []struct {
		call   string
		amount int64
	}{{"rec-call", -20}, {"hidden-call", -35}} {
		le := wire.LedgerEntry{ID: "d-" + d.call, Account: person, Kind: wire.LedgerCallDebit, Amount: d.amount, Currency: "EUR", Ref: d.call, At: t0, Origin: "appL"}
		b, _ := json.Marshal(le)
		ev := wire.Event{ApplianceID: "appL", Seq: uint64(1 + i), Time: t0, Type: wire.EventLedger, Payload: b}
		if i > 0 {
			ev.PrevHash = evs[i-1].Hash
		}
		ev.Seal()
		evs = append(evs, ev)
	}
	if _, err := st.StoreEvents(ctx, "appL", evs); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitProjected(ctx, "appL", 2); err != nil {
		t.Fatal(err)
	}
	for _, role := range store.UserRoles {
		var blocks []string
		if role == store.RoleBlockOfficer {
			blocks = []string{"A"}
		}
		c, _ := rawSession(t, st, srv.URL, strings.ReplaceAll(role, "_", "-"), role, true, blocks...)
		sees := role == store.RoleInvestigator || role == store.RoleSystemAdmin
		resp, body := get(t, c, srv.URL+"/accounts/"+person)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: account page %d", role, resp.StatusCode)
		}
		if strings.Contains(body, "hidden-call") != sees || !strings.Contains(body, "rec-call") {
			t.Errorf("%s: hidden call id shown=%v, want %v", role, !sees, sees)
		}
		if strings.Contains(body, html.EscapeString(money.WithheldReason)) == sees {
			t.Errorf("%s: withheld line described=%v, want %v", role, sees, !sees)
		}
		if !strings.Contains(body, "0.35") || !strings.Contains(body, "-0.55") {
			t.Errorf("%s: the hidden call's charge or the balance is missing: %s", role, body)
		}
	}
}
