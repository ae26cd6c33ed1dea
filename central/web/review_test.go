package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/shared/wire"
)

// addHidden stores a hidden call ("hidden-call") of the setup's person,
// from an appliance of its own in block A.
func addHidden(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := st.UpsertAppliance(ctx, "appH", "A"); err != nil {
		t.Fatal(err)
	}
	ans := t0.Add(3*time.Hour + 5*time.Second)
	b, _ := json.Marshal(wire.CallRecord{CallID: "hidden-call", PersonID: personID(t, st), Terminal: "t1", Number: "+4466", Start: t0.Add(3 * time.Hour),
		Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Hidden: true})
	ev := wire.Event{ApplianceID: "appH", Seq: 1, Time: t0.Add(3 * time.Hour), Type: wire.EventCall, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "appH", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitProjected(ctx, "appH", 1); err != nil {
		t.Fatal(err)
	}
}

func auditCount(t *testing.T, st *store.Store, action string) int {
	t.Helper()
	log, err := st.AuditLog(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(log)
}

func TestCallPageNotesAndBookmarks(t *testing.T) {
	st, srv, tok, _ := setup(t)
	adm := client(t)
	login(t, adm, srv, tok)

	resp, body := get(t, adm, srv.URL+"/calls/rec-call")
	if resp.StatusCode != 200 || !strings.Contains(body, `<audio controls preload="none" src="/calls/rec-call/recording"`) ||
		!strings.Contains(body, `action="/calls/rec-call/notes"`) || !strings.Contains(body, `action="/calls/rec-call/bookmarks"`) ||
		strings.Contains(body, "<b>Lee</b>") || !strings.Contains(body, "1:15") {
		t.Fatalf("call page: %d %s", resp.StatusCode, body)
	}
	csrf := csrfOf(t, body)
	// A privileged call: no audio element, no player, no bookmarks; notes yes.
	resp, body = get(t, adm, srv.URL+"/calls/priv-call")
	if resp.StatusCode != 200 || strings.Contains(body, "<audio") || strings.Contains(body, "/recording") ||
		strings.Contains(body, `action="/calls/priv-call/bookmarks"`) || !strings.Contains(body, "never recorded") ||
		!strings.Contains(body, `action="/calls/priv-call/notes"`) {
		t.Fatalf("privileged call page: %d %s", resp.StatusCode, body)
	}
	if r, _ := get(t, adm, srv.URL+"/calls/nope"); r.StatusCode != 404 {
		t.Fatalf("unknown call: %d", r.StatusCode)
	}

	// Notes: CSRF and origin are checked; bad input is explained and kept.
	note := url.Values{"reason": {"intelligence"}, "note": {"Says <script>alert(1)</script> twice."}, "follow_up": {"1"}}
	if r, _ := post(t, adm, srv.URL+"/calls/rec-call/notes", note); r.StatusCode != 403 {
		t.Fatalf("note without csrf: %d", r.StatusCode)
	}
	note.Set("csrf", csrf)
	req, _ := http.NewRequest("POST", srv.URL+"/calls/rec-call/notes", strings.NewReader(note.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r, err := adm.Do(req); err != nil || r.StatusCode != 403 {
		t.Fatalf("cross-site note: %v %v", r, err)
	}
	r, _ := post(t, adm, srv.URL+"/calls/rec-call/notes", note)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/calls/rec-call?notice=") {
		t.Fatalf("note: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	_, body = get(t, adm, srv.URL+r.Header.Get("Location"))
	if !strings.Contains(body, "Review note saved.") || !strings.Contains(body, "Says &lt;script&gt;alert(1)&lt;/script&gt; twice.") ||
		strings.Contains(body, "<script>") || !strings.Contains(body, "<strong>yes</strong>") {
		t.Fatalf("page after note: %s", body)
	}
	r, body = post(t, adm, srv.URL+"/calls/rec-call/notes", url.Values{"csrf": {csrf}, "reason": {""}, "note": {"kept text"}})
	if r.StatusCode != 422 || !strings.Contains(body, "reason is required") || !strings.Contains(body, "kept text") {
		t.Fatalf("bad note: %d %s", r.StatusCode, body)
	}
	if n := auditCount(t, st, "call.note"); n != 1 {
		t.Fatalf("%d notes audited", n)
	}

	// Bookmarks: a link that starts the player there.
	r, _ = post(t, adm, srv.URL+"/calls/rec-call/bookmarks", url.Values{"csrf": {csrf}, "at": {"1:05"}, "label": {"the address"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bookmark: %d", r.StatusCode)
	}
	_, body = get(t, adm, srv.URL+"/calls/rec-call")
	if !strings.Contains(body, `<a href="/calls/rec-call?t=65#player">1:05</a> the address`) {
		t.Fatalf("bookmark link missing: %s", body)
	}
	if _, body = get(t, adm, srv.URL+"/calls/rec-call?t=65"); !strings.Contains(body, `src="/calls/rec-call/recording#t=65"`) {
		t.Fatalf("player at the bookmark: %s", body)
	}
	for _, bad := range []url.Values{{"at": {"2:00"}, "label": {"x"}}, {"at": {"1:99"}, "label": {"x"}}, {"at": {"0:10"}, "label": {""}}} {
		bad.Set("csrf", csrf)
		r, body := post(t, adm, srv.URL+"/calls/rec-call/bookmarks", bad)
		if r.StatusCode != 422 || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `value="`+bad.Get("at")+`"`) {
			t.Errorf("bad bookmark %v: %d %s", bad, r.StatusCode, body)
		}
	}
	if r, _ := post(t, adm, srv.URL+"/calls/priv-call/bookmarks", url.Values{"csrf": {csrf}, "at": {"0:10"}, "label": {"x"}}); r.StatusCode != 422 {
		t.Fatalf("bookmark on a privileged call: %d", r.StatusCode)
	}
	if n := auditCount(t, st, "call.bookmark"); n != 1 {
		t.Fatalf("%d bookmarks audited", n)
	}

	// Removing it: a button beside it, then it is gone from the page.
	bs, err := reports.New(st).Bookmarks(context.Background(), "rec-call")
	if err != nil || len(bs) != 1 {
		t.Fatalf("bookmarks %+v %v", bs, err)
	}
	remove := "/calls/rec-call/bookmarks/" + bs[0].ID + "/remove"
	if _, body = get(t, adm, srv.URL+"/calls/rec-call"); !strings.Contains(body, `action="`+remove+`"`) {
		t.Fatalf("no remove button: %s", body)
	}
	if r, _ := post(t, adm, srv.URL+remove, url.Values{"csrf": {"wrong"}}); r.StatusCode == http.StatusSeeOther {
		t.Fatal("removed without the CSRF token")
	}
	if r, _ := post(t, adm, srv.URL+remove, url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", r.StatusCode)
	}
	if _, body = get(t, adm, srv.URL+"/calls/rec-call"); strings.Contains(body, "the address") || !strings.Contains(body, "No bookmarks.") {
		t.Fatalf("bookmark still shown: %s", body)
	}
	if r, _ := post(t, adm, srv.URL+remove, url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("removed twice: %d", r.StatusCode)
	}
	if n := auditCount(t, st, "call.bookmark.remove"); n != 1 {
		t.Fatalf("%d removals audited", n)
	}
}

func TestCallPageRoles(t *testing.T) {
	st, srv, tok, _ := setup(t)
	addHidden(t, st)
	adm := client(t)
	login(t, adm, srv, tok)
	_, body := get(t, adm, srv.URL+"/calls/rec-call")
	post(t, adm, srv.URL+"/calls/rec-call/notes", url.Values{"csrf": {csrfOf(t, body)}, "reason": {"routine review"}, "note": {"Checked."}})

	mkUser(t, st, "ro", store.RoleReadOnly)
	mkUser(t, st, "fin", store.RoleFinance)
	mkUser(t, st, "bo", store.RoleBlockOfficer, "B")
	mkUser(t, st, "ivy", store.RoleInvestigator)
	as := func(user string) *http.Client {
		c := client(t)
		// (An investigator without a second factor is sent on to enrol
		// one, signed in.)
		if r := loginForm(t, c, srv, url.Values{"username": {user}, "password": {pw}}); r.StatusCode != http.StatusSeeOther || sessionCookie(r) == nil {
			t.Fatalf("login %s: %d", user, r.StatusCode)
		}
		return c
	}
	ro, fin, bo, ivy := as("ro"), as("fin"), as("bo"), as("ivy")

	resp, body := get(t, ro, srv.URL+"/calls/rec-call")
	if resp.StatusCode != 200 || !strings.Contains(body, "Checked.") || strings.Contains(body, `action="/calls/rec-call/notes"`) ||
		strings.Contains(body, `action="/calls/rec-call/bookmarks"`) || strings.Contains(body, "<audio") {
		t.Fatalf("read-only: %d %s", resp.StatusCode, body)
	}
	if r, _ := post(t, ro, srv.URL+"/calls/rec-call/notes", url.Values{"csrf": {csrfOf(t, body)}, "reason": {"x"}, "note": {"y"}}); r.StatusCode != 403 {
		t.Fatalf("read-only writes: %d", r.StatusCode)
	}
	if r, _ := get(t, ro, srv.URL+"/calls/hidden-call"); r.StatusCode != 404 {
		t.Fatalf("read-only opens a hidden call: %d", r.StatusCode)
	}
	if _, body := get(t, fin, srv.URL+"/calls/rec-call"); strings.Contains(body, "Checked.") || strings.Contains(body, "Review notes") {
		t.Fatalf("finance reads notes: %s", body)
	}
	if r, _ := get(t, bo, srv.URL+"/calls/rec-call"); r.StatusCode != 403 {
		t.Fatalf("another block's officer: %d", r.StatusCode)
	}
	// An investigator without a second factor writes notes but gets no
	// player.
	resp, body = get(t, ivy, srv.URL+"/calls/hidden-call")
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/calls/hidden-call/notes"`) || strings.Contains(body, "<audio") {
		t.Fatalf("investigator on a hidden call: %d %s", resp.StatusCode, body)
	}
	if r, _ := post(t, ivy, srv.URL+"/calls/hidden-call/notes", url.Values{"csrf": {csrfOf(t, body)}, "reason": {"x"}, "note": {"y"}}); r.StatusCode != 303 {
		t.Fatalf("investigator writes: %d", r.StatusCode)
	}
}

func TestCallsSearchFormAndExport(t *testing.T) {
	st, srv, tok, _ := setup(t)
	adm := client(t)
	login(t, adm, srv, tok)
	resp, body := get(t, adm, srv.URL+"/calls?name=lee&contact=&officer=&block=A&from=2025-03-01T08%3A00")
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/calls/rec-call"`) || !strings.Contains(body, `href="/calls/refused-call"`) ||
		!strings.Contains(body, `name="name" value="lee"`) || !strings.Contains(body, `type="date" id="f-from" name="from" value="2025-03-01"`) ||
		!strings.Contains(body, `name="contact"`) || !strings.Contains(body, `name="officer"`) {
		t.Fatalf("search by name: %d %s", resp.StatusCode, body)
	}
	// The export link carries the search's filters.
	m := regexp.MustCompile(`href="(/calls/export\?format=csv[^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no export link: %s", body)
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(link, "name=lee") || !strings.Contains(link, "block=A") || !strings.Contains(link, "from=2025-03-01T08%3a00%3a00Z") && !strings.Contains(link, "from=2025-03-01T08%3A00%3A00Z") {
		t.Fatalf("export link %q", link)
	}
	read := func(c *http.Client, u string) (int, [][]string) {
		t.Helper()
		r, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		recs, _ := csv.NewReader(r.Body).ReadAll()
		return r.StatusCode, recs
	}
	code, recs := read(adm, srv.URL+link+"&disposition=refused")
	if code != 200 || len(recs) != 2 || recs[1][0] != "refused-call" {
		t.Fatalf("filtered export: %d %q", code, recs)
	}
	if code, recs = read(adm, srv.URL+link); code != 200 || len(recs) != 4 {
		t.Fatalf("export of the search: %d %q", code, recs)
	}
	if n := auditCount(t, st, "export.calls"); n != 2 {
		t.Fatalf("%d exports audited", n)
	}
	if r, _ := get(t, adm, srv.URL+"/calls/export?format=pdf"); r.StatusCode != 400 {
		t.Fatalf("pdf: %d", r.StatusCode)
	}
	if r, _ := get(t, adm, srv.URL+"/calls/export?format=csv&colour=red"); r.StatusCode != 400 {
		t.Fatalf("unknown filter: %d", r.StatusCode)
	}
	mkUser(t, st, "bo", store.RoleBlockOfficer, "B")
	bo := client(t)
	passwordLogin(t, bo, srv.URL, "bo")
	if code, recs := read(bo, srv.URL+"/calls/export?format=csv"); code != 200 || len(recs) != 1 {
		t.Fatalf("officer of B exports block A's calls: %d %q", code, recs)
	}
	if r, _ := get(t, bo, srv.URL+"/calls/export?format=csv&block=A"); r.StatusCode != 403 {
		t.Fatalf("officer asks for block A: %d", r.StatusCode)
	}
	if _, body := get(t, adm, srv.URL+"/calls?name=nobody"); !strings.Contains(body, "No calls match.") {
		t.Fatalf("no match: %s", body)
	}
}

func TestStatsPage(t *testing.T) {
	st, srv, tok, _ := setup(t)
	adm := client(t)
	login(t, adm, srv, tok)
	resp, body := get(t, adm, srv.URL+"/stats?by=blocks&from=2025-03-01&to=2025-03-01")
	if resp.StatusCode != 200 || !strings.Contains(body, "<svg") || !strings.Contains(body, `role="img"`) ||
		!strings.Contains(body, "Call volume by block") || !strings.Contains(body, "<title>A: 3</title>") ||
		!strings.Contains(body, `<th scope="row">A</th><td class="n">3</td><td class="n">2</td><td class="n">1:01:15</td>`) {
		t.Fatalf("by block: %d %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(body, "<script") {
		t.Fatalf("CSP %q or a script in the page", csp)
	}
	if _, body = get(t, adm, srv.URL+"/stats?by=hours&from=2025-03-01&to=2025-03-01"); strings.Count(body, `<tr><th scope="row">`) != 24+1 ||
		!strings.Contains(body, "<title>09:00: 1</title>") {
		t.Fatalf("by hour: %s", body)
	}
	if _, body = get(t, adm, srv.URL+"/stats?by=refusals&from=2025-03-01&to=2025-03-01"); !strings.Contains(body, "number not approved") ||
		!strings.Contains(body, "Refused calls by reason") {
		t.Fatalf("refusals: %s", body)
	}
	if _, body = get(t, adm, srv.URL+"/stats?by=people&from=2025-03-01&to=2025-03-01"); !strings.Contains(body, "Ann &lt;b&gt;Lee&lt;/b&gt; (A100)") {
		t.Fatalf("by person: %s", body)
	}
	if r, body := get(t, adm, srv.URL+"/stats?by=days&from=tomorrow"); r.StatusCode != 400 || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "<form") {
		t.Fatalf("bad period: %d %s", r.StatusCode, body)
	}
	mkUser(t, st, "bo", store.RoleBlockOfficer, "B")
	bo := client(t)
	passwordLogin(t, bo, srv.URL, "bo")
	if r, _ := get(t, bo, srv.URL+"/stats?block=A"); r.StatusCode != 403 {
		t.Fatalf("officer asks for block A: %d", r.StatusCode)
	}
	if r, body := get(t, bo, srv.URL+"/stats?by=blocks&from=2025-03-01&to=2025-03-01"); r.StatusCode != 200 || strings.Contains(body, `<th scope="row">A</th>`) {
		t.Fatalf("officer's statistics: %d %s", r.StatusCode, body)
	}
	if n := auditCount(t, st, "stats.search"); n != 5 {
		t.Fatalf("%d statistics views audited", n)
	}
}

func TestBillingPage(t *testing.T) {
	st, srv, tok, _ := setup(t)
	ctx := context.Background()
	if err := money.New(st).SetRates(ctx, "test", []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK", PerMinute: 10, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertAppliance(ctx, "appL", "A"); err != nil {
		t.Fatal(err)
	}
	le := wire.LedgerEntry{ID: "d1", Account: personID(t, st), Kind: wire.LedgerCallDebit, Amount: -20, Currency: "EUR", Ref: "rec-call", At: t0, Origin: "appL"}
	b, _ := json.Marshal(le)
	ev := wire.Event{ApplianceID: "appL", Seq: 1, Time: t0, Type: wire.EventLedger, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "appL", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitProjected(ctx, "appL", 1); err != nil {
		t.Fatal(err)
	}
	mkUser(t, st, "fin", store.RoleFinance)
	fin := client(t)
	passwordLogin(t, fin, srv.URL, "fin")
	resp, body := get(t, fin, srv.URL+"/reports/billing?from=2025-03-01&to=2025-03-31&period=day")
	if resp.StatusCode != 200 || !strings.Contains(body, "<td>2025-03-01</td><td>A</td><td>national</td>") || !strings.Contains(body, `<td class="n">0.20</td>`) ||
		!strings.Contains(body, "<svg") || !strings.Contains(body, "national: 0.20 EUR") {
		t.Fatalf("billing page: %d %s", resp.StatusCode, body)
	}
	// The call talked 75 s on a 60 s billing unit: two minutes billed.
	if !strings.Contains(body, `<td class="n">1</td><td class="n">2.00</td>`) {
		t.Fatalf("billed minutes are not the billed time: %s", body)
	}
	m := regexp.MustCompile(`href="(/reports/billing\.csv\?[^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSV link: %s", body)
	}
	r, err := fin.Get(srv.URL + strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(r.Body).ReadAll()
	r.Body.Close()
	if err != nil || r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Disposition"), "billing.csv") || len(recs) != 3 ||
		recs[1][0] != "2025-03-01" || recs[1][6] != "2.00" || recs[1][7] != "0.20" {
		t.Fatalf("csv: %d %q %v", r.StatusCode, recs, err)
	}
	if n := auditCount(t, st, "export.billing"); n != 1 {
		t.Fatalf("%d billing exports audited", n)
	}
	if r, body := get(t, fin, srv.URL+"/reports/billing?period=week"); r.StatusCode != 400 || !strings.Contains(body, "period") {
		t.Fatalf("bad period: %d %s", r.StatusCode, body)
	}
	adm := client(t)
	login(t, adm, srv, tok)
	if _, body := get(t, adm, srv.URL+"/reports/billing?from=2025-04-01&to=2025-04-30"); !strings.Contains(body, "No charges in this period.") {
		t.Fatalf("empty period: %s", body)
	}
}
