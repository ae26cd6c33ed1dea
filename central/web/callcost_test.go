package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/wire"
)

// TestCallPageChargedAsMoney: the call page writes a call's cost as the
// money pages do, in the currency's major unit with its digits ("0.06
// GBP"), never as minor units ("6 (GBP minor units)").
func TestCallPageChargedAsMoney(t *testing.T) {
	st, srv, _, _ := setup(t)
	ctx := context.Background()
	if err := money.New(st).SetMoneySettings(ctx, "test", store.MoneySettings{Currency: "GBP", Digits: 2, TimeZone: "UTC", Charging: store.ChargingOn}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertAppliance(ctx, "appC", "A"); err != nil {
		t.Fatal(err)
	}
	ans := t0.Add(3 * time.Hour)
	call := func(id string, cost int64, cur string) wire.CallRecord {
		return wire.CallRecord{CallID: id, PrisonNumber: "A100", Terminal: "t1", Number: "+441", Start: ans, Answer: &ans,
			End: ans.Add(time.Second), Disposition: wire.DispCompleted, Cost: cost, Currency: cur}
	}
	storetest.MustStore(t, st, "appC", storetest.Events("appC", 1, "", t0,
		call("cost-gbp", 6, "GBP"), call("cost-big", 123456, "GBP"), call("cost-kwd", 6, "KWD"), call("cost-free", 0, "")))
	c, _ := rawSession(t, st, srv.URL, "ada", store.RoleSystemAdmin, true)
	for id, want := range map[string]string{"cost-gbp": "0.06 GBP", "cost-big": "1234.56 GBP", "cost-kwd": "0.006 KWD"} {
		resp, body := get(t, c, srv.URL+"/calls/"+id)
		if resp.StatusCode != 200 || !strings.Contains(body, `<th scope="row">Charged</th><td>`+want+`</td>`) || strings.Contains(body, "minor units") {
			t.Errorf("%s: %d, want charged %q: %s", id, resp.StatusCode, want, body)
		}
	}
	if _, body := get(t, c, srv.URL+"/calls/cost-free"); strings.Contains(body, "Charged") {
		t.Error("a call that cost nothing shows a charge")
	}
}
