package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/tables"
)

// TestContactApprovalAccessMatrix: a block officer decides their block's
// contacts, is refused another block's person and contact; investigators
// and read-only users cannot decide; the decision is recorded.
func TestContactApprovalAccessMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pa, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	officerA := e.sessionFor("amy", store.RoleBlockOfficer, false, "A")
	ivy := e.sessionFor("ivy", store.RoleInvestigator, true)
	ro := e.sessionFor("rita", store.RoleReadOnly, false)

	var ca, cb people.Contact
	if r := e.call(officerA, true, "POST", "/api/v1/inmates/"+pa.ID+"/contacts", map[string]any{"number": "+44 1111", "name": "Mum", "status": "requested", "identity": "passport 1"}, &ca); r.StatusCode != 201 {
		t.Fatalf("add: %d", r.StatusCode)
	}
	if ca.Status != people.ContactRequested || ca.Identity != "passport 1" || ca.RequestedBy != "user:amy" {
		t.Fatalf("contact %+v", ca)
	}
	if r := e.call(officerA, true, "POST", "/api/v1/inmates/"+pb.ID+"/contacts", map[string]any{"number": "+44 2222", "name": "Dad", "status": "requested"}, nil); r.StatusCode != 403 {
		t.Fatalf("other block's person: %d", r.StatusCode)
	}
	e.do("POST", "/api/v1/inmates/"+pb.ID+"/contacts", e.admin, map[string]any{"number": "+44 2222", "name": "Dad", "status": "requested"}, &cb)
	e.n.take()

	decide := func(se session, id string, body map[string]any) int {
		var eb struct{ Error string }
		r := e.call(se, true, "POST", "/api/v1/contacts/"+id+"/decision", body, &eb)
		return r.StatusCode
	}
	ok := map[string]any{"status": "approved", "reason": "ID checked"}
	if s := decide(officerA, cb.ID, ok); s != 403 {
		t.Fatalf("officer A decides B's contact: %d", s)
	}
	if s := decide(ivy, ca.ID, ok); s != 403 {
		t.Fatalf("investigator decides: %d", s)
	}
	if s := decide(ro, ca.ID, ok); s != 403 {
		t.Fatalf("read-only decides: %d", s)
	}
	if s := decide(officerA, ca.ID, map[string]any{"status": "approved"}); s != 422 {
		t.Fatalf("no reason: %d", s)
	}
	if s := decide(officerA, "c_nobody", ok); s != 404 {
		t.Fatalf("unknown contact: %d", s)
	}
	var got people.Contact
	if r := e.call(officerA, true, "POST", "/api/v1/contacts/"+ca.ID+"/decision", ok, &got); r.StatusCode != 200 {
		t.Fatalf("approve: %d", r.StatusCode)
	}
	if got.Status != people.ContactApproved || got.DecidedBy != "user:amy" || got.DecisionReason != "ID checked" {
		t.Fatalf("decided %+v", got)
	}
	if n := e.n.take(); len(n) != 1 || n[0] != "A" {
		t.Fatalf("notified %v", n)
	}
	if s := decide(officerA, ca.ID, ok); s != 409 {
		t.Fatalf("approve twice: %d", s)
	}
	// PIN reset: own block only, the PIN is returned once.
	var pinOut struct{ PIN string }
	if r := e.call(officerA, true, "POST", "/api/v1/inmates/"+pa.ID+"/pin", nil, &pinOut); r.StatusCode != 200 || len(pinOut.PIN) != 6 {
		t.Fatalf("pin reset: %d %+v", r.StatusCode, pinOut)
	}
	if r := e.call(officerA, true, "POST", "/api/v1/inmates/"+pb.ID+"/pin", nil, nil); r.StatusCode != 403 {
		t.Fatalf("other block's pin: %d", r.StatusCode)
	}
}

func TestMaxContactsAPI(t *testing.T) {
	e := newEnv(t)
	pa, _ := people.New(e.st).CreatePerson(context.Background(), "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	var set people.PrisonSettings
	if r := e.do("PUT", "/api/v1/settings", e.admin, map[string]any{"prison_name": "HMP Test", "time_zone": "Europe/Paris", "max_contacts": 1}, &set); r.StatusCode != 200 || set.MaxContacts != 1 {
		t.Fatalf("settings %d %+v", r.StatusCode, set)
	}
	if got := e.n.take(); len(got) != 2 {
		t.Fatalf("settings notified %v", got)
	}
	if s := e.status("PUT", "/api/v1/settings", e.admin, map[string]any{"time_zone": "Atlantis/Deep", "max_contacts": 1}); s != 422 {
		t.Fatalf("bad zone %d", s)
	}
	if s := e.status("PUT", "/api/v1/settings", e.viewer, map[string]any{"max_contacts": 3}); s != 403 {
		t.Fatalf("viewer settings %d", s)
	}
	e.do("POST", "/api/v1/inmates/"+pa.ID+"/contacts", e.admin, map[string]any{"number": "+44 1111", "name": "Mum"}, nil)
	var eb struct{ Error string }
	r := e.do("POST", "/api/v1/inmates/"+pa.ID+"/contacts", e.admin, map[string]any{"number": "+44 2222", "name": "Dad"}, &eb)
	if r.StatusCode != 422 || !strings.Contains(eb.Error, "maximum is 1") {
		t.Fatalf("over max: %d %q", r.StatusCode, eb.Error)
	}
}

func TestNumbersWindowsTerminalsAPI(t *testing.T) {
	e := newEnv(t)
	if s := e.status("POST", "/api/v1/numbers", e.admin, map[string]any{"number": "+44 800 1", "kind": "free"}); s != 422 {
		t.Fatalf("no note: %d", s)
	}
	if s := e.status("POST", "/api/v1/numbers", e.admin, map[string]any{"number": "+44 800*", "kind": "free", "note": "free-phone"}); s != 201 {
		t.Fatalf("add: %d", s)
	}
	if got := e.n.take(); len(got) != 2 {
		t.Fatalf("notified %v", got)
	}
	if s := e.status("POST", "/api/v1/numbers", e.viewer, map[string]any{"number": "+44 1", "kind": "free", "note": "x"}); s != 403 {
		t.Fatalf("viewer add: %d", s)
	}
	var nl struct{ Numbers []people.GlobalNumber }
	e.do("GET", "/api/v1/numbers", e.viewer, nil, &nl)
	if len(nl.Numbers) != 1 || nl.Numbers[0].Number != "+44800*" || nl.Numbers[0].Note != "free-phone" {
		t.Fatalf("numbers %+v", nl)
	}
	if s := e.status("POST", "/api/v1/numbers/remove", e.admin, map[string]any{"number": "+44 800*", "kind": "free", "note": "tariff changed"}); s != 200 {
		t.Fatalf("remove: %d", s)
	}
	if s := e.status("PUT", "/api/v1/blocks/A/windows", e.admin, map[string]any{"windows": []map[string]any{{"days": []int{7}, "start": "08:00", "end": "09:00"}}}); s != 422 {
		t.Fatalf("bad window: %d", s)
	}
	var wo struct{ Windows []map[string]any }
	if r := e.do("PUT", "/api/v1/blocks/A/windows", e.admin, map[string]any{"windows": []map[string]any{{"days": []int{1, 2}, "start": "08:00", "end": "20:00"}}}, &wo); r.StatusCode != 200 || len(wo.Windows) != 1 {
		t.Fatalf("windows: %d %+v", r.StatusCode, wo)
	}
	pol, err := policysnap.New(e.st).PolicyFor(context.Background(), "appA")
	if err != nil || len(pol.Windows) != 1 || pol.Windows[0].End != "20:00" {
		t.Fatalf("policy windows %+v %v", pol, err)
	}
	var tl struct{ Terminals []store.Terminal }
	if r := e.do("GET", "/api/v1/terminals", e.viewer, nil, &tl); r.StatusCode != 200 || tl.Terminals == nil {
		t.Fatalf("terminals %d %+v", r.StatusCode, tl)
	}
}

func TestImportExportAPI(t *testing.T) {
	e := newEnv(t)
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "text/csv")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	bad := "prison_number,name,block\nA1,Ann,A\nA2,,Q\n"
	if s, b := post("/api/v1/import/people?dry_run=true", bad); s != 200 || !strings.Contains(b, `"row": 3`) || !strings.Contains(b, `"applied": 0`) {
		t.Fatalf("dry run %d %s", s, b)
	}
	if s, b := post("/api/v1/import/people", bad); s != 422 || !strings.Contains(b, "nothing imported") {
		t.Fatalf("rejected %d %s", s, b)
	}
	if s, b := post("/api/v1/import/people", "\x00\x01binary"); s != 422 || !strings.Contains(b, "not a CSV") {
		t.Fatalf("binary %d %s", s, b)
	}
	if s, _ := post("/api/v1/import/cats", bad); s != 400 {
		t.Fatalf("kind %d", s)
	}
	if s, b := post("/api/v1/import/people", "prison_number,name,block\nA1,Ann,A\nA2,Bo,B\n"); s != 200 || !strings.Contains(b, `"applied": 2`) {
		t.Fatalf("import %d %s", s, b)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/export/people.xlsx", nil)
	req.Header.Set("Authorization", "Bearer "+e.viewer)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !bytes.HasPrefix(data, []byte("PK")) {
		t.Fatalf("export %d", r.StatusCode)
	}
	tb, err := tables.ReadTable(data)
	if err != nil || len(tb) != 3 || tb[1][0] != "A1" {
		t.Fatalf("exported %v %v", tb, err)
	}
	// Exports need a verified second factor, like playback.
	weak := e.sessionFor("amy-weak", store.RoleBlockOfficer, false, "A")
	var eb struct{ Error string }
	if r := e.call(weak, false, "GET", "/api/v1/export/people.csv", nil, &eb); r.StatusCode != 403 || !strings.Contains(eb.Error, "second factor") {
		t.Fatalf("export without a second factor: %d %q", r.StatusCode, eb.Error)
	}
	// A block officer exports their block only.
	amy := e.sessionFor("amy", store.RoleBlockOfficer, true, "A")
	req, _ = http.NewRequest("GET", e.srv.URL+"/api/v1/export/people.csv", nil)
	req.AddCookie(&http.Cookie{Name: "kinline_session", Value: amy.id})
	r, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(data), "A1,Ann,A") || strings.Contains(string(data), "A2") {
		t.Fatalf("scoped export %d %q", r.StatusCode, data)
	}
	if s := e.status("GET", "/api/v1/export/calls.csv?block=B", "", nil); s != 401 {
		t.Fatalf("anonymous export %d", s)
	}
	if s := e.status("GET", "/api/v1/export/secrets.csv", e.admin, nil); s != 400 {
		t.Fatalf("bad export %d", s)
	}
	log, _ := e.st.AuditLog(context.Background(), store.AuditFilter{Action: "export.people"})
	if len(log) != 2 {
		t.Fatalf("exports audited %d", len(log))
	}
}
