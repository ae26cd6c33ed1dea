package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/shared/wire"
)

// reviewEnv: Ann (A1, block A) and Bob (B1, block B) as people central
// knows, with calls on 1 March 2025: ann-1 (recorded, 90 s), ann-2 (no
// answer), ann-priv (privileged), ann-hidden (hidden), bob-1 (refused).
type reviewEnv struct {
	*env
	ann, bob *people.Person
}

func newReviewEnv(t *testing.T) *reviewEnv {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	ann, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann Lee", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob Lee", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := people.New(e.st).AddContact(ctx, "test", ann.ID, people.NewContact{Number: "+4411", Name: "Mum", Relationship: "mother"}); err != nil {
		t.Fatal(err)
	}
	ans := t0.Add(5 * time.Second)
	rec := &wire.RecordingRef{ID: "r1", SHA256: strings.Repeat("ab", 32), Bytes: 100, Format: "wav/pcmu-stereo"}
	calls := map[string][]wire.CallRecord{
		"appA": {
			{CallID: "ann-1", PersonID: ann.ID, PrisonNumber: "A1", Terminal: "t1", Number: "+4411", Start: t0, Answer: &ans, End: ans.Add(90 * time.Second), Disposition: wire.DispCompleted, Recording: rec},
			{CallID: "ann-2", PersonID: ann.ID, PrisonNumber: "A1", Terminal: "t1", Number: "+4411", Start: t0.Add(time.Hour), End: t0.Add(time.Hour + time.Second), Disposition: wire.DispNoAnswer},
			{CallID: "ann-priv", PersonID: ann.ID, PrisonNumber: "A1", Terminal: "t2", Number: "+4480", Start: t0.Add(2 * time.Hour), Answer: &ans, End: ans.Add(time.Hour), Disposition: wire.DispCompleted, Privileged: true},
			{CallID: "ann-hidden", PersonID: ann.ID, PrisonNumber: "A1", Terminal: "t2", Number: "+4466", Start: t0.Add(3 * time.Hour), Answer: &ans, End: ans.Add(time.Hour), Disposition: wire.DispCompleted, Hidden: true, Recording: rec},
		},
		"appB": {
			{CallID: "bob-1", PersonID: bob.ID, PrisonNumber: "B1", Terminal: "t9", Number: "+4499", Start: t0.Add(4 * time.Hour), End: t0.Add(4 * time.Hour), Disposition: wire.DispRefused, Reason: "number not approved"},
		},
	}
	for app, recs := range calls {
		var evs []wire.Event
		prev := ""
		for i, c := range recs {
			b, _ := json.Marshal(c)
			ev := wire.Event{ApplianceID: app, Seq: uint64(i + 1), Time: c.End, Type: wire.EventCall, Payload: b, PrevHash: prev}
			ev.Seal()
			prev = ev.Hash
			evs = append(evs, ev)
		}
		if _, err := e.st.StoreEvents(ctx, app, evs); err != nil {
			t.Fatal(err)
		}
		if err := e.st.WaitProjected(ctx, app, uint64(len(recs))); err != nil {
			t.Fatal(err)
		}
	}
	return &reviewEnv{env: e, ann: ann, bob: bob}
}

func (e *reviewEnv) audited(action string) []store.AuditEntry {
	e.t.Helper()
	log, err := e.st.AuditLog(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return log
}

func TestCallSearchByNameAndContactAPI(t *testing.T) {
	e := newReviewEnv(t)
	ids := func(se *session, q string) (int, string) {
		var out struct{ Calls []store.Call }
		var r *http.Response
		if se == nil {
			r = e.do("GET", "/api/v1/calls?"+q, e.admin, nil, &out)
		} else {
			r = e.call(*se, false, "GET", "/api/v1/calls?"+q, nil, &out)
		}
		var s []string
		for _, c := range out.Calls {
			s = append(s, c.ID)
		}
		return r.StatusCode, strings.Join(s, ",")
	}
	for q, want := range map[string]string{
		"name=lee":                           "bob-1,ann-hidden,ann-priv,ann-2,ann-1",
		"name=ANN":                           "ann-hidden,ann-priv,ann-2,ann-1",
		"contact=mum":                        "ann-2,ann-1",
		"name=lee&block=B":                   "bob-1",
		"name=lee&from=2025-03-01T10:30:00Z": "bob-1,ann-hidden,ann-priv",
		"name=lee&to=2025-03-01T10:01":       "ann-2,ann-1",
		"number=%2B4411&name=bob":            "",
		"inmate=B1":                          "bob-1",
	} {
		if st, got := ids(nil, q); st != 200 || got != want {
			t.Errorf("%s: %d %q, want %q", q, st, got, want)
		}
	}
	// A read-only auditor does not get hidden calls; a block officer gets
	// their block's.
	ro := e.sessionFor("ro", store.RoleReadOnly, false)
	if st, got := ids(&ro, "name=lee"); st != 200 || got != "bob-1,ann-priv,ann-2,ann-1" {
		t.Fatalf("read-only: %d %q", st, got)
	}
	bo := e.sessionFor("bo", store.RoleBlockOfficer, false, "B")
	if st, got := ids(&bo, "name=lee"); st != 200 || got != "bob-1" {
		t.Fatalf("officer: %d %q", st, got)
	}
	if st, _ := ids(nil, "name="+strings.Repeat("x", 201)); st != 400 {
		t.Fatalf("long name: %d", st)
	}
	if log := e.audited("calls.search"); len(log) != 10 || log[0].Actor != "user:bo" || log[0].Detail != "name=lee" {
		t.Fatalf("searches audited: %+v", log)
	}
}

func TestReviewNotesAPI(t *testing.T) {
	e := newReviewEnv(t)
	inv := e.sessionFor("ivy", store.RoleInvestigator, false)
	ro := e.sessionFor("ro", store.RoleReadOnly, false)
	fin := e.sessionFor("fin", store.RoleFinance, true)
	bo := e.sessionFor("bo", store.RoleBlockOfficer, true, "A")
	var n reports.ReviewNote
	r := e.call(inv, true, "POST", "/api/v1/calls/ann-1/notes", map[string]any{"reason": "intelligence", "note": "Mentions a visit.", "follow_up": true}, &n)
	if r.StatusCode != 201 || n.Reviewer != "user:ivy" || !n.FollowUp || n.CallID != "ann-1" || r.Header.Get("Location") != "/api/v1/calls/ann-1/notes" {
		t.Fatalf("add note: %d %+v", r.StatusCode, n)
	}
	if s := e.status("POST", "/api/v1/calls/ann-priv/notes", e.admin, map[string]any{"reason": "legal", "note": "Not listened to."}); s != 201 {
		t.Fatalf("note on a privileged call: %d", s)
	}
	var list struct {
		CallID string `json:"call_id"`
		Notes  []reports.ReviewNote
	}
	if r := e.call(ro, false, "GET", "/api/v1/calls/ann-1/notes", nil, &list); r.StatusCode != 200 || len(list.Notes) != 1 || list.Notes[0].Note != "Mentions a visit." {
		t.Fatalf("read-only reads: %d %+v", r.StatusCode, list)
	}
	for _, c := range []struct {
		se     session
		method string
		want   int
	}{{ro, "POST", 403}, {fin, "GET", 403}, {fin, "POST", 403}, {bo, "GET", 403}, {bo, "POST", 403}} {
		path := "/api/v1/calls/ann-1/notes"
		if c.se.user.Role == store.RoleBlockOfficer {
			path = "/api/v1/calls/bob-1/notes" // another block's call
		}
		if r := e.call(c.se, true, c.method, path, map[string]any{"reason": "x", "note": "y"}, nil); r.StatusCode != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.se.user.Role, c.method, path, r.StatusCode, c.want)
		}
	}
	// Bad input: a clear error, nothing stored.
	for _, bad := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/calls/ann-1/notes", map[string]any{"reason": "", "note": "y"}, 422},
		{"/api/v1/calls/ann-1/notes", map[string]any{"reason": "x", "note": strings.Repeat("n", reports.MaxReviewNote+1)}, 422},
		{"/api/v1/calls/ann-1/notes", map[string]any{"reason": "x", "note": "y", "colour": "red"}, 400},
		{"/api/v1/calls/ann-1/notes", "{not json", 400},
		{"/api/v1/calls/nope/notes", map[string]any{"reason": "x", "note": "y"}, 404},
	} {
		if s := e.status("POST", bad.path, e.admin, bad.body); s != bad.want {
			t.Errorf("%s %v: %d, want %d", bad.path, bad.body, s, bad.want)
		}
	}
	e.do("GET", "/api/v1/calls/ann-1/notes", e.admin, nil, &list)
	if len(list.Notes) != 1 {
		t.Fatalf("refused notes stored: %+v", list.Notes)
	}
	if log := e.audited("call.note"); len(log) != 2 || log[1].Actor != "user:ivy" || log[1].Target != "ann-1" {
		t.Fatalf("audit %+v", log)
	}
	// A block officer reads and writes the notes of their blocks' calls.
	if r := e.call(bo, true, "POST", "/api/v1/calls/ann-1/notes", map[string]any{"reason": "welfare", "note": "Upset after the call."}, &n); r.StatusCode != 201 || n.Reviewer != "user:bo" {
		t.Fatalf("block officer's note on their block's call: %d %+v", r.StatusCode, n)
	}
	if r := e.call(bo, false, "GET", "/api/v1/calls/ann-1/notes", nil, &list); r.StatusCode != 200 || len(list.Notes) != 2 {
		t.Fatalf("block officer reads their block's notes: %d %+v", r.StatusCode, list)
	}
	// A hidden call's notes exist only for those who may see the call.
	if r := e.call(inv, true, "POST", "/api/v1/calls/ann-hidden/notes", map[string]any{"reason": "x", "note": "y"}, nil); r.StatusCode != 201 {
		t.Fatalf("investigator on hidden call: %d", r.StatusCode)
	}
	if r := e.call(ro, false, "GET", "/api/v1/calls/ann-hidden/notes", nil, nil); r.StatusCode != 404 {
		t.Fatalf("read-only on hidden call: %d", r.StatusCode)
	}
}

func TestBookmarksAPI(t *testing.T) {
	e := newReviewEnv(t)
	inv := e.sessionFor("ivy", store.RoleInvestigator, false)
	var b reports.Bookmark
	if r := e.call(inv, true, "POST", "/api/v1/calls/ann-1/bookmarks", map[string]any{"at": "1:23", "label": "threat"}, &b); r.StatusCode != 201 || b.OffsetMS != 83000 || b.Author != "user:ivy" {
		t.Fatalf("add: %d %+v", r.StatusCode, b)
	}
	if s := e.status("POST", "/api/v1/calls/ann-1/bookmarks", e.admin, map[string]any{"offset_ms": 1500, "label": "hello"}); s != 201 {
		t.Fatalf("offset_ms: %d", s)
	}
	for _, bad := range []struct {
		call string
		body map[string]any
		want int
	}{
		{"ann-1", map[string]any{"offset_ms": 1000, "at": "1", "label": "x"}, 400},
		{"ann-1", map[string]any{"label": "x"}, 400},
		{"ann-1", map[string]any{"at": "1:99", "label": "x"}, 400},
		{"ann-1", map[string]any{"at": "1:31", "label": "x"}, 422},
		{"ann-1", map[string]any{"offset_ms": -1, "label": "x"}, 422},
		{"ann-1", map[string]any{"at": "1", "label": ""}, 422},
		{"ann-2", map[string]any{"at": "0", "label": "x"}, 422},
		{"ann-priv", map[string]any{"at": "1", "label": "x"}, 422},
		{"nope", map[string]any{"at": "1", "label": "x"}, 404},
	} {
		if s := e.status("POST", "/api/v1/calls/"+bad.call+"/bookmarks", e.admin, bad.body); s != bad.want {
			t.Errorf("%s %v: %d, want %d", bad.call, bad.body, s, bad.want)
		}
	}
	var list struct{ Bookmarks []reports.Bookmark }
	ro := e.sessionFor("ro", store.RoleReadOnly, false)
	if r := e.call(ro, false, "GET", "/api/v1/calls/ann-1/bookmarks", nil, &list); r.StatusCode != 200 || len(list.Bookmarks) != 2 ||
		list.Bookmarks[0].Label != "hello" || list.Bookmarks[1].Label != "threat" {
		t.Fatalf("list: %d %+v", r.StatusCode, list)
	}
	if r := e.call(ro, true, "POST", "/api/v1/calls/ann-1/bookmarks", map[string]any{"at": "1", "label": "x"}, nil); r.StatusCode != 403 {
		t.Fatalf("read-only writes: %d", r.StatusCode)
	}
	if log := e.audited("call.bookmark"); len(log) != 2 {
		t.Fatalf("audit %+v", log)
	}

	// Removal: not by another investigator, nor by a read-only auditor;
	// by the author; by a system admin for anyone's; once.
	other := e.sessionFor("ian", store.RoleInvestigator, false)
	del := "/api/v1/calls/ann-1/bookmarks/" + b.ID
	if r := e.call(other, true, "DELETE", del, nil, nil); r.StatusCode != 403 {
		t.Fatalf("another investigator removed ivy's bookmark: %d", r.StatusCode)
	}
	if r := e.call(ro, true, "DELETE", del, nil, nil); r.StatusCode != 403 {
		t.Fatalf("read-only removed a bookmark: %d", r.StatusCode)
	}
	if r := e.call(inv, true, "DELETE", del, nil, nil); r.StatusCode != 204 {
		t.Fatalf("the author's removal: %d", r.StatusCode)
	}
	if r := e.call(inv, true, "DELETE", del, nil, nil); r.StatusCode != 404 {
		t.Fatalf("removed twice: %d", r.StatusCode)
	}
	if s := e.status("DELETE", "/api/v1/calls/ann-2/bookmarks/"+list.Bookmarks[0].ID, e.admin, nil); s != 404 {
		t.Fatalf("a bookmark removed through another call: %d", s)
	}
	if s := e.status("DELETE", "/api/v1/calls/ann-1/bookmarks/"+list.Bookmarks[0].ID, e.admin, nil); s != 204 {
		t.Fatalf("the admin's removal of another's bookmark: %d", s)
	}
	if r := e.call(ro, false, "GET", "/api/v1/calls/ann-1/bookmarks", nil, &list); r.StatusCode != 200 || len(list.Bookmarks) != 0 {
		t.Fatalf("list after the removals: %d %+v", r.StatusCode, list)
	}
	if log := e.audited("call.bookmark.remove"); len(log) != 2 {
		t.Fatalf("removals audited %+v", log)
	}
}

func TestStatsAPI(t *testing.T) {
	e := newReviewEnv(t)
	var st reports.Stats
	q := "?from=2025-03-01&to=2025-03-01"
	if r := e.do("GET", "/api/v1/stats/blocks"+q, e.admin, nil, &st); r.StatusCode != 200 || len(st.Rows) != 2 || st.Total.Calls != 5 ||
		st.Rows[0].Key != "A" || st.Rows[0].Calls != 4 || st.Rows[0].Answered != 3 {
		t.Fatalf("by block: %d %+v", r.StatusCode, st)
	}
	bo := e.sessionFor("bo", store.RoleBlockOfficer, false, "B")
	if r := e.call(bo, false, "GET", "/api/v1/stats/people"+q, nil, &st); r.StatusCode != 200 || len(st.Rows) != 1 || st.Rows[0].Label != "Bob Lee (B1)" {
		t.Fatalf("officer's people: %d %+v", r.StatusCode, st)
	}
	if r := e.call(bo, false, "GET", "/api/v1/stats/blocks"+q+"&block=A", nil, nil); r.StatusCode != 403 {
		t.Fatalf("officer asks for another block: %d", r.StatusCode)
	}
	ro := e.sessionFor("ro", store.RoleReadOnly, false)
	if r := e.call(ro, false, "GET", "/api/v1/stats/hours"+q, nil, &st); r.StatusCode != 200 || len(st.Rows) != 24 || st.Total.Calls != 4 || st.Rows[9].Calls != 1 {
		t.Fatalf("read-only by hour (no hidden call): %d %+v", r.StatusCode, st.Total)
	}
	if r := e.do("GET", "/api/v1/stats/refusals"+q, e.viewer, nil, &st); r.StatusCode != 200 || len(st.Rows) != 1 || st.Rows[0].Key != "number not approved" {
		t.Fatalf("refusals: %d %+v", r.StatusCode, st)
	}
	for _, bad := range []string{"/api/v1/stats/weather" + q, "/api/v1/stats/blocks?from=tomorrow", "/api/v1/stats/blocks?x=1"} {
		if s := e.status("GET", bad, e.admin, nil); s != 400 {
			t.Errorf("%s: %d", bad, s)
		}
	}
	if log := e.audited("stats.search"); len(log) != 4 || log[0].Target != "stats/refusals" {
		t.Fatalf("stats audited: %+v", log)
	}
}

func TestBillingAPI(t *testing.T) {
	e := newReviewEnv(t)
	ctx := context.Background()
	if err := money.New(e.st).SetRates(ctx, "test", []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK", PerMinute: 10, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	// The debits come from appliances of their own (fresh event streams).
	for i, d := range []struct {
		app, block, account, call string
		amount                    int64
	}{{"appLA", "A", e.ann.ID, "ann-1", -20}, {"appLB", "B", e.bob.ID, "bob-1", -30}} {
		if err := e.st.UpsertAppliance(ctx, d.app, d.block); err != nil {
			t.Fatal(err)
		}
		le := wire.LedgerEntry{ID: fmt.Sprintf("d%d", i), Account: d.account, Kind: wire.LedgerCallDebit, Amount: d.amount, Currency: "EUR", Ref: d.call, At: t0, Origin: d.app}
		b, _ := json.Marshal(le)
		ev := wire.Event{ApplianceID: d.app, Seq: 1, Time: t0, Type: wire.EventLedger, Payload: b}
		ev.Seal()
		if _, err := e.st.StoreEvents(ctx, d.app, []wire.Event{ev}); err != nil {
			t.Fatal(err)
		}
		if err := e.st.WaitProjected(ctx, d.app, 1); err != nil {
			t.Fatal(err)
		}
	}
	var rep reports.BillingReport
	q := "?from=2025-03-01&to=2025-03-31"
	if r := e.do("GET", "/api/v1/reports/billing"+q, e.viewer, nil, &rep); r.StatusCode != 200 || len(rep.Rows) != 2 || rep.Total.Charged != 50 ||
		rep.Rows[0].Block != "A" || rep.Rows[0].DestinationType != wire.DestNational || rep.Rows[0].BilledSeconds != 120 { // 90 s of talk, billed in 60 s units
		t.Fatalf("billing: %d %+v", r.StatusCode, rep)
	}
	bo := e.sessionFor("bo", store.RoleBlockOfficer, false, "B")
	if r := e.call(bo, false, "GET", "/api/v1/reports/billing"+q, nil, &rep); r.StatusCode != 200 || len(rep.Rows) != 1 || rep.Rows[0].Block != "B" {
		t.Fatalf("officer's billing: %d %+v", r.StatusCode, rep)
	}
	fin := e.sessionFor("fin", store.RoleFinance, false)
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/reports/billing.csv"+q+"&period=day", nil)
	req.AddCookie(&http.Cookie{Name: "kinline_session", Value: fin.id})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "billing.csv") || len(recs) != 4 || recs[0][0] != "period" ||
		recs[1][0] != "2025-03-01" || recs[3][0] != "total" || recs[3][7] != "0.50" {
		t.Fatalf("csv: %d %v %q %v", resp.StatusCode, resp.Header, recs, err)
	}
	if log := e.audited("export.billing"); len(log) != 1 || log[0].Actor != "user:fin" {
		t.Fatalf("export audited: %+v", log)
	}
	if log := e.audited("reports.billing"); len(log) != 2 {
		t.Fatalf("views audited: %+v", log)
	}
	if s := e.status("GET", "/api/v1/reports/billing?period=week", e.admin, nil); s != 400 {
		t.Fatalf("bad period: %d", s)
	}
	if s := e.status("GET", "/api/v1/reports/billing.csv?"+url.Values{"from": {"2020-01-01"}}.Encode(), e.admin, nil); s != 400 {
		t.Fatalf("too long: %d", s)
	}
}

// TestReadsAudited: the searches of officer actions, alarms and the audit
// log, and the views of one call, its notes, its bookmarks and one person
// (and their contacts) are each audited with the actor and the search's parameters or the
// viewed id.
func TestReadsAudited(t *testing.T) {
	e := newEnv(t)
	seedCalls(t, e, nil)
	p, err := people.New(e.st).CreatePerson(context.Background(), "test", people.NewPerson{PrisonNumber: "A900", Name: "Ann Lee", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, action, target, detail string }{
		{"/api/v1/officer-actions?officer=o1", "officer_actions.search", "officer_actions", "officer=o1"},
		{"/api/v1/alarms?open=true", "alarms.search", "alarms", "open=true"},
		{"/api/v1/audit?action=person.create", "audit.search", "audit", "action=person.create"},
		{"/api/v1/calls/c1", "call.view", "c1", ""},
		{"/api/v1/calls/c1/notes", "call.notes.view", "c1", ""},
		{"/api/v1/calls/c1/bookmarks", "call.bookmarks.view", "c1", ""},
		{"/api/v1/inmates/" + p.ID, "person.view", p.ID, ""},
		{"/api/v1/inmates/" + p.ID + "/contacts", "person.contacts.view", p.ID, ""},
	}
	for _, c := range cases {
		if s := e.status("GET", c.path, e.admin, nil); s != 200 {
			t.Fatalf("%s: %d", c.path, s)
		}
		l, err := e.st.AuditLog(context.Background(), store.AuditFilter{Action: c.action})
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 || l[0].Actor != "token:admin" || l[0].Target != c.target || l[0].Detail != c.detail {
			t.Errorf("%s audited as %+v, want one %s of %s by token:admin, detail %q", c.path, l, c.action, c.target, c.detail)
		}
	}
	// A refused view is not a view: another block's officer reads nothing.
	bo := e.sessionFor("officer-b", store.RoleBlockOfficer, true, "B")
	if r := e.call(bo, false, "GET", "/api/v1/inmates/"+p.ID, nil, nil); r.StatusCode != 403 {
		t.Fatalf("another block's person: %d", r.StatusCode)
	}
	if l, _ := e.st.AuditLog(context.Background(), store.AuditFilter{Action: "person.view", Actor: "user:officer-b"}); len(l) != 0 {
		t.Fatalf("refused view audited as a view: %+v", l)
	}
}
