package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
)

// Everything links to what it names: a call to its person, account and
// contacts; a statement line to its call; a person to their calls (the
// calls search with the person filter), account and contacts.
func TestPagesLinkToWhatTheyName(t *testing.T) {
	st, srv, _, _ := setup(t)
	ctx := context.Background()
	pid := personID(t, st)
	if err := st.UpsertAppliance(ctx, "appL", "A"); err != nil {
		t.Fatal(err)
	}
	le := wire.LedgerEntry{ID: "d1", Account: pid, Kind: wire.LedgerCallDebit, Amount: -20, Currency: "EUR", Ref: "rec-call", At: t0, Origin: "appL"}
	b, _ := json.Marshal(le)
	ev := wire.Event{ApplianceID: "appL", Seq: 1, Time: t0, Type: wire.EventLedger, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "appL", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitProjected(ctx, "appL", 1); err != nil {
		t.Fatal(err)
	}
	mkUser(t, st, "rita", store.RoleReadOnly)
	c := client(t)
	passwordLogin(t, c, srv.URL, "rita")
	for path, links := range map[string][]string{
		"/calls": {`href="/people/` + pid + `"`, `href="/calls/rec-call"`},
		"/calls/rec-call": {`id="call-person" href="/people/` + pid + `"`, `id="call-account" href="/accounts/` + pid + `"`,
			`id="call-person-calls" href="/calls?inmate=` + pid + `"`, `id="call-contact" href="/people/` + pid + `#contacts"`,
			`href="/calls?inmate=` + pid + `&amp;number=%2b441"`},
		"/people/" + pid: {`id="person-calls" href="/calls?inmate=` + pid + `"`, `id="person-account" href="/accounts/` + pid + `"`,
			`id="person-contacts" href="#contacts"`, `<h3 id="contacts">`, `href="/calls?inmate=` + pid + `&amp;number=%2b44800111"`},
		"/accounts/" + pid: {`<a href="/calls/rec-call">rec-call</a>`, `id="account-person" href="/people/` + pid + `"`,
			`id="account-calls" href="/calls?inmate=` + pid + `"`},
	} {
		resp, body := get(t, c, srv.URL+path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		for _, l := range links {
			if !strings.Contains(body, l) {
				t.Errorf("%s lacks %s", path, l)
			}
		}
	}
	// Each link followed answers (the person filter finds the call).
	if _, body := get(t, c, srv.URL+"/calls?inmate="+pid+"&number=%2b441"); !strings.Contains(body, `href="/calls/rec-call"`) || strings.Contains(body, "priv-call") {
		t.Errorf("the person's calls to +441: %s", body)
	}
}
