package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// TestCallPageShowsTrunk: the call page names the SIP trunk that carried
// the call, and has no trunk row for a call whose record names none.
func TestCallPageShowsTrunk(t *testing.T) {
	st, srv, tok, _ := setup(t)
	ctx := context.Background()
	if err := st.UpsertAppliance(ctx, "appTr", "A"); err != nil {
		t.Fatal(err)
	}
	ans := t0.Add(4*time.Hour + 5*time.Second)
	b, _ := json.Marshal(wire.CallRecord{CallID: "trunk-call", PersonID: personID(t, st), Terminal: "t1", Number: "+4477", Start: t0.Add(4 * time.Hour),
		Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Trunk: "carrier-b"})
	ev := wire.Event{ApplianceID: "appTr", Seq: 1, Time: t0.Add(4 * time.Hour), Type: wire.EventCall, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "appTr", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitProjected(ctx, "appTr", 1); err != nil {
		t.Fatal(err)
	}
	adm := client(t)
	login(t, adm, srv, tok)
	resp, body := get(t, adm, srv.URL+"/calls/trunk-call")
	if resp.StatusCode != 200 || !strings.Contains(body, `<tr><th scope="row">Trunk</th><td>carrier-b</td></tr>`) {
		t.Fatalf("call page without its trunk: %d\n%s", resp.StatusCode, body)
	}
	if _, body := get(t, adm, srv.URL+"/calls/rec-call"); strings.Contains(body, `<th scope="row">Trunk</th>`) {
		t.Fatalf("a trunk row for a call without a trunk:\n%s", body)
	}
}
