package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// TestBlockOfficerEstateReadsScoped: blocks, their rules and windows,
// appliances, their alarms and terminals are read by a block officer for
// their blocks only.
func TestBlockOfficerEstateReadsScoped(t *testing.T) {
	e := newEnv(t)
	seedCalls(t, e, nil) // calls on t1 (appA, block A) and t9 (appB, block B)
	ctx := context.Background()
	for _, app := range []string{"appA", "appB"} {
		if _, err := e.st.RaiseAlarm(ctx, app, store.AlarmBatchRefused, "signature", "forged batch from "+app); err != nil {
			t.Fatal(err)
		}
	}
	bo := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	var blocks struct{ Blocks []store.Block }
	var apps struct{ Appliances []store.Appliance }
	var alarms struct{ Alarms []store.Alarm }
	var terms struct{ Terminals []store.Terminal }
	for path, out := range map[string]any{"/api/v1/blocks": &blocks, "/api/v1/appliances": &apps, "/api/v1/alarms": &alarms, "/api/v1/terminals": &terms} {
		if r := e.call(bo, false, "GET", path, nil, out); r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
	}
	if len(blocks.Blocks) != 1 || blocks.Blocks[0].Name != "B" || len(apps.Appliances) != 1 || apps.Appliances[0].ID != "appB" ||
		len(alarms.Alarms) != 1 || alarms.Alarms[0].ApplianceID != "appB" || len(terms.Terminals) != 1 || terms.Terminals[0].Terminal != "t9" {
		t.Fatalf("officer of B reads %+v %+v %+v %+v", blocks, apps, alarms, terms)
	}
	for _, p := range []string{"/api/v1/blocks/A/rules", "/api/v1/blocks/A/windows"} {
		if r := e.call(bo, false, "GET", p, nil, nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}
	for _, p := range []string{"/api/v1/blocks/B/rules", "/api/v1/blocks/B/windows"} {
		if r := e.call(bo, false, "GET", p, nil, nil); r.StatusCode != 200 {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}
	// Everyone else reads everything.
	var all struct{ Alarms []store.Alarm }
	e.do("GET", "/api/v1/alarms", e.viewer, nil, &all)
	if len(all.Alarms) != 2 {
		t.Fatalf("viewer's alarms %+v", all)
	}
	e.do("GET", "/api/v1/terminals", e.viewer, nil, &terms)
	if len(terms.Terminals) != 2 {
		t.Fatalf("viewer's terminals %+v", terms)
	}
}

func TestAlarmsListAndClear(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.st.RaiseAlarm(ctx, "appA", store.AlarmBatchRefused, "signature", "forged"); err != nil {
		t.Fatal(err)
	}
	if s := e.status("GET", "/api/v1/alarms?colour=red", e.admin, nil); s != 400 {
		t.Fatalf("unknown parameter: %d", s)
	}
	if s := e.status("GET", "/api/v1/alarms?open=maybe", e.admin, nil); s != 400 {
		t.Fatalf("bad open: %d", s)
	}
	var list struct{ Alarms []store.Alarm }
	e.do("GET", "/api/v1/alarms?open=true&appliance=appA", e.admin, nil, &list)
	if len(list.Alarms) != 1 || list.Alarms[0].Code != store.AlarmBatchRefused || list.Alarms[0].Block != "A" {
		t.Fatalf("alarms %+v", list)
	}
	id := url.PathEscape(list.Alarms[0].ID)
	if s := e.status("POST", "/api/v1/alarms/"+id+"/clear", e.viewer, map[string]string{"note": "x"}); s != 403 {
		t.Fatalf("viewer clears: %d", s)
	}
	if s := e.status("POST", "/api/v1/alarms/"+id+"/clear", e.admin, map[string]string{"note": ""}); s != 422 {
		t.Fatalf("clear without note: %d", s)
	}
	var a store.Alarm
	if r := e.do("POST", "/api/v1/alarms/"+id+"/clear", e.admin, map[string]string{"note": "new key installed"}, &a); r.StatusCode != 200 || a.Cleared == nil {
		t.Fatalf("clear: %d %+v", r.StatusCode, a)
	}
	if s := e.status("POST", "/api/v1/alarms/"+id+"/clear", e.admin, map[string]string{"note": "again"}); s != 409 {
		t.Fatalf("clear twice: %d", s)
	}
	e.do("GET", "/api/v1/alarms?open=true", e.admin, nil, &list)
	if len(list.Alarms) != 0 {
		t.Fatalf("open after clear %+v", list)
	}
}

func TestHiddenAndPrivilegedCallsAPI(t *testing.T) {
	e := newEnv(t)
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt some audio bytes")
	seedCalls(t, e, wav) // c1 (+441, recorded), c2 (+442), block A
	ctx := context.Background()
	if _, _, err := people.New(e.st).AddGlobalNumber(ctx, "test", "+442", wire.NumberKindHidden, "investigation"); err != nil {
		t.Fatal(err)
	}
	ids := func(tok string) []string {
		var out struct{ Calls []store.Call }
		e.do("GET", "/api/v1/calls", tok, nil, &out)
		var s []string
		for _, c := range out.Calls {
			s = append(s, c.ID)
		}
		sort.Strings(s)
		return s
	}
	if got := ids(e.viewer); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Fatalf("viewer sees %v", got)
	}
	if got := ids(e.admin); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("admin sees %v", got)
	}
	if s := e.status("GET", "/api/v1/calls/c2", e.viewer, nil); s != 404 {
		t.Fatalf("viewer reads the hidden call: %d", s)
	}
	inv := e.sessionFor("ivy", store.RoleInvestigator, true)
	var c store.Call
	if r := e.call(inv, false, "GET", "/api/v1/calls/c2", nil, &c); r.StatusCode != 200 || !c.Hidden {
		t.Fatalf("investigator reads the hidden call: %d %+v", r.StatusCode, c)
	}
	bo := e.sessionFor("officer-a", store.RoleBlockOfficer, true, "A")
	if r := e.call(bo, false, "GET", "/api/v1/calls/c2", nil, nil); r.StatusCode != 404 {
		t.Fatalf("block officer reads the hidden call: %d", r.StatusCode)
	}
	// The recorded call becomes privileged: its recording is never served.
	if r := e.do("GET", "/api/v1/calls/c1/recording", e.admin, nil, nil); r.StatusCode != 200 {
		t.Fatalf("recording before: %d", r.StatusCode)
	}
	if _, _, err := people.New(e.st).AddGlobalNumber(ctx, "test", "+441", wire.NumberKindPrivileged, "legal aid"); err != nil {
		t.Fatal(err)
	}
	var eb struct{ Error string }
	if r := e.do("GET", "/api/v1/calls/c1/recording", e.admin, nil, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, "privileged") {
		t.Fatalf("privileged recording: %d %q", r.StatusCode, eb.Error)
	}
	if r := e.do("GET", "/api/v1/calls/c1", e.admin, nil, &c); r.StatusCode != 200 || !c.Privileged {
		t.Fatalf("call flags %+v", c)
	}
	if l, _ := e.st.AuditLog(ctx, store.AuditFilter{Action: "recording.refused"}); len(l) != 1 {
		t.Fatalf("refusal audit %+v", l)
	}
}

func TestAuditFiltersAndCSVNeedSecondFactor(t *testing.T) {
	e := newEnv(t)
	weak := e.sessionFor("ada", store.RoleSystemAdmin, false)
	var eb struct{ Error string }
	if r := e.call(weak, false, "GET", "/api/v1/audit.csv", nil, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, "second factor") {
		t.Fatalf("audit.csv without a second factor: %d %q", r.StatusCode, eb.Error)
	}
	if r := e.call(weak, false, "GET", "/api/v1/audit", nil, nil); r.StatusCode != 200 {
		t.Fatalf("audit list: %d", r.StatusCode)
	}
	if s := e.status("GET", "/api/v1/audit?from=yesterday", e.admin, nil); s != 400 {
		t.Fatalf("bad from: %d", s)
	}
	var l struct{ Audit []store.AuditEntry }
	e.do("GET", "/api/v1/audit?to=2025-03-01", e.admin, nil, &l)
	if len(l.Audit) != 0 {
		t.Fatalf("entries before the fake clock's day %+v", l.Audit)
	}
	e.do("GET", "/api/v1/audit?from=2025-03-01&action=token.create", e.admin, nil, &l)
	if len(l.Audit) == 0 {
		t.Fatal("no entries from today")
	}
	strong := e.sessionFor("adam", store.RoleSystemAdmin, true)
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/audit.csv?action=token.create&from=2025-03-01", nil)
	req.AddCookie(&http.Cookie{Name: authz.SessionCookie, Value: strong.id})
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.HasPrefix(string(b), "id,time,actor") || !strings.Contains(string(b), "token.create") || strings.Contains(string(b), "user.create") {
		t.Fatalf("audit.csv: %d %q", r.StatusCode, b)
	}
}

func TestAccountsListAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	bob, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if _, _, err := money.New(e.st).Recharge(ctx, "test", bob.ID, 550, "R-1"); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Currency string
		Accounts []struct {
			Account     string `json:"account"`
			Balance     int64  `json:"balance"`
			BalanceText string `json:"balance_text"`
		}
	}
	if r := e.do("GET", "/api/v1/accounts", e.viewer, nil, &out); r.StatusCode != 200 || len(out.Accounts) != 2 || out.Accounts[0].Account != ann.ID ||
		out.Accounts[1].Balance != 550 || out.Accounts[1].BalanceText != "5.50 EUR" {
		t.Fatalf("accounts %d %+v", r.StatusCode, out)
	}
	bo := e.sessionFor("officer-a", store.RoleBlockOfficer, true, "A")
	if r := e.call(bo, false, "GET", "/api/v1/accounts", nil, &out); r.StatusCode != 200 || len(out.Accounts) != 1 || out.Accounts[0].Account != ann.ID {
		t.Fatalf("officer's accounts %+v", out)
	}
	if r := e.call(bo, false, "GET", "/api/v1/accounts?block=B", nil, nil); r.StatusCode != 403 {
		t.Fatalf("officer filtering another block: %d", r.StatusCode)
	}
	if s := e.status("GET", "/api/v1/accounts?sort=name", e.admin, nil); s != 400 {
		t.Fatalf("unknown parameter: %d", s)
	}
}

func TestUnblockContactAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	ct, _, err := people.New(e.st).AddContact(ctx, "test", ann.ID, people.NewContact{Number: "+44 20 1111", Name: "Mum"})
	if err != nil {
		t.Fatal(err)
	}
	p := "/api/v1/contacts/" + ct.ID + "/unblock"
	if s := e.status("POST", p, e.admin, map[string]string{"reason": "asked"}); s != 409 {
		t.Fatalf("unblock a contact not blocked: %d", s)
	}
	if _, err := people.New(e.st).SelfBlockReported(ctx, "appA", wire.NumberBlocked{PersonID: ann.ID, Number: ct.Number, CallID: "c1"}); err != nil {
		t.Fatal(err)
	}
	e.n.take()
	ob := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	if r := e.call(ob, true, "POST", p, map[string]string{"reason": "asked"}, nil); r.StatusCode != 403 {
		t.Fatalf("officer of another block: %d", r.StatusCode)
	}
	if s := e.status("POST", p, e.admin, map[string]string{"reason": ""}); s != 422 {
		t.Fatalf("no reason: %d", s)
	}
	oa := e.sessionFor("officer-a", store.RoleBlockOfficer, true, "A")
	var got people.Contact
	if r := e.call(oa, true, "POST", p, map[string]string{"reason": "the family asked"}, &got); r.StatusCode != 200 || got.SelfBlocked {
		t.Fatalf("unblock: %d %+v", r.StatusCode, got)
	}
	if n := e.n.take(); !slices.Equal(n, []string{"A"}) {
		t.Fatalf("notified %v", n)
	}
}
