package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/web/importjob"
	"github.com/kinline/kinline/internal/testkit"
)

type recNotifier struct {
	mu     sync.Mutex
	blocks []string
}

func (n *recNotifier) PolicyChanged(_ context.Context, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocks = append(n.blocks, b)
}

func (n *recNotifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.blocks
	n.blocks = nil
	return b
}

// manageEnv is a console with a notifier, and a signed-in client per
// user created through signIn.
type manageEnv struct {
	t   *testing.T
	st  *store.Store
	srv *httptest.Server
	n   *recNotifier
	w   *Server
}

func newManageEnv(t *testing.T) *manageEnv {
	st, _, _, _ := setup(t)
	w, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	n := &recNotifier{}
	w.SetNotifier(n)
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(w.Close)
	t.Cleanup(srv.Close)
	return &manageEnv{t: t, st: st, srv: srv, n: n, w: w}
}

func (e *manageEnv) signIn(name, role string, blocks ...string) *http.Client {
	e.t.Helper()
	mkUser(e.t, e.st, name, role, blocks...)
	c := client(e.t)
	if r := loginForm(e.t, c, e.srv, url.Values{"username": {name}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d", name, r.StatusCode)
	}
	return c
}

// post sends a form with the CSRF token of the page at from.
func (e *manageEnv) post(c *http.Client, from, to string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	_, body := get(e.t, c, e.srv.URL+from)
	form.Set("csrf", csrfOf(e.t, body))
	resp, err := c.PostForm(e.srv.URL+to, form)
	if err != nil {
		e.t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp, b.String()
}

func (e *manageEnv) person(pn string) *people.Person {
	e.t.Helper()
	ps, err := people.New(e.st).People(context.Background(), people.PeopleFilter{Query: pn})
	if err != nil || len(ps) != 1 {
		e.t.Fatalf("person %s: %v %v", pn, ps, err)
	}
	return &ps[0]
}

func TestConsolePersonContactApproval(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	admin := e.signIn("ada", store.RoleSystemAdmin)

	resp, body := get(t, admin, e.srv.URL+"/people?q=A100")
	if resp.StatusCode != 200 || !strings.Contains(body, "Ann &lt;b&gt;Lee&lt;/b&gt;") || !strings.Contains(body, `href="/money/rates"`) {
		t.Fatalf("people page %d: %s", resp.StatusCode, body)
	}
	// Create a person.
	resp, body = e.post(admin, "/people", "/people", url.Values{"prison_number": {"A200"}, "name": {"Bea Park"}, "block": {"A"}, "card": {"04a1b2c3"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/people/p_") {
		t.Fatalf("create: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	bea := e.person("A200")
	if len(bea.Cards) != 1 || bea.Block != "A" {
		t.Fatalf("created %+v", bea)
	}
	if got := e.n.take(); len(got) != 1 || got[0] != "A" {
		t.Fatalf("notified %v", got)
	}
	// A duplicate is refused with the reason on the page.
	resp, body = e.post(admin, "/people", "/people", url.Values{"prison_number": {"A200"}, "name": {"X"}, "block": {"A"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "prison number A200") {
		t.Fatalf("duplicate: %d", resp.StatusCode)
	}
	// Without the CSRF token nothing happens.
	r, err := admin.PostForm(e.srv.URL+"/people/"+bea.ID+"/contacts", url.Values{"number": {"+44 1111"}, "name": {"Mum"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("no csrf: %d", r.StatusCode)
	}
	// Add a contact: requested.
	page := "/people/" + bea.ID
	resp, _ = e.post(admin, page, page+"/contacts", url.Values{"number": {"+44 20 7946 0000"}, "name": {"Mum"}, "relationship": {"mother"}, "identity": {"passport 1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add contact: %d", resp.StatusCode)
	}
	cs, _ := people.New(e.st).Contacts(ctx, bea.ID)
	if len(cs) != 1 || cs[0].Status != people.ContactRequested || cs[0].RequestedBy != "user:ada" {
		t.Fatalf("contacts %+v", cs)
	}
	_, body = get(t, admin, e.srv.URL+page)
	if !strings.Contains(body, "requested by user:ada") || !strings.Contains(body, `value="approved">Approve`) {
		t.Fatalf("person page: %s", body)
	}
	// A block B officer may neither see nor decide it.
	olga := e.signIn("olga", store.RoleBlockOfficer, "B")
	if resp, _ := get(t, olga, e.srv.URL+page); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other block's person: %d", resp.StatusCode)
	}
	_, obody := get(t, olga, e.srv.URL+"/people")
	if strings.Contains(obody, "A200") {
		t.Fatal("other block's people listed")
	}
	resp, _ = e.post(olga, "/people", "/contacts/"+cs[0].ID+"/decision", url.Values{"decision": {"approved"}, "reason": {"ok"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other block's decision: %d", resp.StatusCode)
	}
	// Block A's officer approves it.
	amy := e.signIn("amy", store.RoleBlockOfficer, "A")
	resp, _ = e.post(amy, page, "/contacts/"+cs[0].ID+"/decision", url.Values{"decision": {"approved"}, "reason": {"ID checked"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	c, _ := people.New(e.st).Contact(ctx, cs[0].ID)
	if c.Status != people.ContactApproved || c.DecidedBy != "user:amy" || c.DecisionReason != "ID checked" {
		t.Fatalf("approved %+v", c)
	}
	// A read-only user cannot post at all.
	ro := e.signIn("rita", store.RoleReadOnly)
	resp, _ = e.post(ro, "/people", page+"/contacts", url.Values{"number": {"+44 5555"}, "name": {"X"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only add: %d", resp.StatusCode)
	}
	// PIN reset shows the new PIN once.
	resp, body = e.post(admin, page, page+"/pin", url.Values{})
	if resp.StatusCode != 200 || !strings.Contains(body, `id="new-pin"`) {
		t.Fatalf("pin reset: %d", resp.StatusCode)
	}
	if _, again := get(t, admin, e.srv.URL+page); strings.Contains(again, `id="new-pin"`) {
		t.Fatal("PIN shown twice")
	}
	// Suspension needs a reason on the console.
	resp, body = e.post(admin, page, page, url.Values{"name": {"Bea Park"}, "block": {"A"}, "status": {"suspended"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "needs a reason") {
		t.Fatalf("suspension without reason: %d", resp.StatusCode)
	}
	resp, _ = e.post(admin, page, page, url.Values{"name": {"Bea Park"}, "block": {"A"}, "status": {"suspended"}, "status_reason": {"fight"},
		"suspended_until": {"2025-04-01"}, "windows": {"1-5 18:00-20:00"}, "max_duration_seconds": {"600"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	bea = e.person("A200")
	if bea.Status != "suspended" || bea.StatusReason != "fight" || bea.SuspendedUntil == nil || len(bea.Windows) != 1 || bea.MaxDurationSeconds != 600 {
		t.Fatalf("edited %+v", bea)
	}
}

func TestConsoleNumbersBlocksSettings(t *testing.T) {
	e := newManageEnv(t)
	admin := e.signIn("ada", store.RoleSystemAdmin)
	resp, body := e.post(admin, "/numbers", "/numbers", url.Values{"number": {"+44 800 111"}, "kind": {"privileged"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "note is required") {
		t.Fatalf("no note: %d", resp.StatusCode)
	}
	resp, _ = e.post(admin, "/numbers", "/numbers", url.Values{"number": {"+44 800 111"}, "kind": {"privileged"}, "note": {"legal line"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add number: %d", resp.StatusCode)
	}
	_, body = get(t, admin, e.srv.URL+"/numbers")
	if !strings.Contains(body, "legal line") {
		t.Fatal("number not listed")
	}
	resp, _ = e.post(admin, "/blocks", "/blocks/A/rules", url.Values{"level": {"high"}, "confirm": {"button"}, "calls_per_day": {"3"}, "windows": {"1-5 09:00-17:00"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rule: %d", resp.StatusCode)
	}
	resp, body = e.post(admin, "/blocks", "/blocks/A/windows", url.Values{"windows": {"9:00-17:00"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "HH:MM") {
		t.Fatalf("bad windows: %d", resp.StatusCode)
	}
	_, body = get(t, admin, e.srv.URL+"/blocks")
	if !strings.Contains(body, "1,2,3,4,5 09:00-17:00") || !strings.Contains(body, "appA") {
		t.Fatalf("blocks page: %s", body)
	}
	resp, body = e.post(admin, "/settings", "/settings", url.Values{"prison_name": {"HMP Test"}, "time_zone": {"Nowhere/Land"}, "max_contacts": {"5"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "IANA") {
		t.Fatalf("bad zone: %d", resp.StatusCode)
	}
	resp, _ = e.post(admin, "/settings", "/settings", url.Values{"prison_name": {"HMP Test"}, "time_zone": {"Europe/London"}, "max_contacts": {"5"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	set, _ := people.New(e.st).Settings(context.Background())
	if set.PrisonName != "HMP Test" || set.MaxContacts != 5 {
		t.Fatalf("settings %+v", set)
	}
	// Block officers read but cannot change these.
	amy := e.signIn("amy", store.RoleBlockOfficer, "A")
	resp, _ = e.post(amy, "/numbers", "/numbers", url.Values{"number": {"+44 1"}, "kind": {"free"}, "note": {"x"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("officer adds number: %d", resp.StatusCode)
	}
}

// uploadImport posts a file to /import and returns the job's id.
func (e *manageEnv) uploadImport(c *http.Client, kind, mode, name string, data []byte) (*http.Response, string) {
	e.t.Helper()
	_, page := get(e.t, c, e.srv.URL+"/import")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", csrfOf(e.t, page))
	mw.WriteField("kind", kind)
	mw.WriteField("mode", mode)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/import", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp, b.String()
}

// waitJob polls the progress endpoint until the job has finished.
func (e *manageEnv) waitJob(c *http.Client, loc string) importjob.View {
	e.t.Helper()
	id := strings.TrimPrefix(loc, "/import?job=")
	var j importjob.View
	if !testkit.Within(30*time.Second, 20*time.Millisecond, func() bool {
		resp, body := get(e.t, c, e.srv.URL+"/import/jobs/"+id)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			e.t.Fatalf("progress: %d %s", resp.StatusCode, body)
		}
		j = importjob.View{}
		if err := json.Unmarshal([]byte(body), &j); err != nil {
			e.t.Fatal(err)
		}
		return j.State != "running"
	}) {
		e.t.Fatalf("import still running: %+v", j)
	}
	return j
}

func TestConsoleImportAndExport(t *testing.T) {
	e := newManageEnv(t)
	admin := e.signIn("ada", store.RoleSystemAdmin)
	before, _ := people.New(e.st).People(context.Background(), people.PeopleFilter{})

	// A dry run with errors: per-row report, nothing changed.
	bad := "prison_number,name,block\nA300,Cal,A\nA100,Dup,A\nA301,,Z\n"
	resp, body := e.uploadImport(admin, "people", "dry", "people.csv", []byte(bad))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	j := e.waitJob(admin, loc)
	if j.State != "done" || j.Report == nil || j.Report.Rows != 3 || len(j.Report.Errors) != 3 || j.Percent != 100 {
		t.Fatalf("dry run %+v %+v", j, j.Report)
	}
	_, page := get(t, admin, e.srv.URL+loc)
	if !strings.Contains(page, "<td>3</td><td>prison_number</td>") || !strings.Contains(page, "dry run: nothing was changed") {
		t.Fatalf("report page: %s", page)
	}
	// Another user cannot follow someone else's job.
	other := e.signIn("adam", store.RoleSystemAdmin)
	if r, _ := get(t, other, e.srv.URL+"/import/jobs/"+strings.TrimPrefix(loc, "/import?job=")); r.StatusCode != 404 {
		t.Fatalf("foreign job: %d", r.StatusCode)
	}
	// The real run of the same file refuses it all.
	resp, _ = e.uploadImport(admin, "people", "apply", "people.csv", []byte(bad))
	if j := e.waitJob(admin, resp.Header.Get("Location")); j.State != "refused" || j.Report.Applied != 0 {
		t.Fatalf("refused run %+v", j)
	}
	if now, _ := people.New(e.st).People(context.Background(), people.PeopleFilter{}); len(now) != len(before) {
		t.Fatalf("people changed: %d -> %d", len(before), len(now))
	}
	// Broken files are refused at once with a clear message.
	resp, body = e.uploadImport(admin, "people", "apply", "photo.jpg", []byte{0xff, 0xd8, 0xff, 0, 1, 2})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not a CSV") {
		t.Fatalf("binary: %d %s", resp.StatusCode, body)
	}
	resp, body = e.uploadImport(admin, "people", "apply", "x.csv", []byte("who,what\n1,2\n"))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "unknown column") {
		t.Fatalf("wrong headers: %d", resp.StatusCode)
	}
	// A good XLSX file (from the template) imports.
	tpl, err := tables.ImportTemplate("people", "xlsx")
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := tables.ReadTable(tpl)
	tb = append(tb, []string{"A302", "Dee", "A"})
	var xb bytes.Buffer
	tables.WriteTable(&xb, "xlsx", tb)
	resp, _ = e.uploadImport(admin, "people", "apply", "people.xlsx", xb.Bytes())
	if j := e.waitJob(admin, resp.Header.Get("Location")); j.State != "done" || j.Report.Applied != 2 {
		t.Fatalf("xlsx import %+v %+v", j, j.Report)
	}
	if got := e.n.take(); len(got) == 0 {
		t.Fatal("import did not notify")
	}
	// The running page loads the progress script, served as a file.
	r, js := get(t, admin, e.srv.URL+"/static/manage_import.js")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(js, "data-progress") {
		t.Fatalf("script: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	// Templates and exports.
	if r, body := get(t, admin, e.srv.URL+"/import/template/contacts.csv"); r.StatusCode != 200 || !strings.HasPrefix(body, "prison_number,number,name") {
		t.Fatalf("template: %d %q", r.StatusCode, body)
	}
	// Exports need a verified second factor, like playback.
	if r, body := get(t, admin, e.srv.URL+"/export/people.csv"); r.StatusCode != http.StatusForbidden || !strings.Contains(body, "second factor") {
		t.Fatalf("export without a second factor: %d %q", r.StatusCode, body)
	}
	if _, body := get(t, admin, e.srv.URL+"/export"); !strings.Contains(body, `href="/account/totp"`) {
		t.Fatal("export page does not say how to get a second factor")
	}
	admin = e.signInMFA("ada2", store.RoleSystemAdmin)
	r, body = get(t, admin, e.srv.URL+"/export/people.csv")
	if r.StatusCode != 200 || !strings.Contains(body, "A302,Dee,A") || !strings.Contains(r.Header.Get("Content-Disposition"), "people.csv") {
		t.Fatalf("export: %d %q", r.StatusCode, body)
	}
	olga := e.signInMFA("olga", store.RoleBlockOfficer, "B")
	if r, body := get(t, olga, e.srv.URL+"/export/people.csv"); r.StatusCode != 200 || strings.Contains(body, "A302") || !strings.HasPrefix(body, "prison_number") {
		t.Fatalf("block B officer's export: %d %q", r.StatusCode, body)
	}
	if r, _ := get(t, olga, e.srv.URL+"/import"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("officer import page: %d", r.StatusCode)
	}
	log, _ := e.st.AuditLog(context.Background(), store.AuditFilter{Action: "export.people"})
	if len(log) != 2 {
		t.Fatalf("exports audited: %+v", log)
	}
}

// TestImportPageFollowsRunningJob: while a job runs, the page shows a
// progress bar wired to the JSON endpoint and loads the script from the
// console's own files (no inline script: the CSP forbids it).
func TestImportPageFollowsRunningJob(t *testing.T) {
	e := newManageEnv(t)
	admin := e.signIn("ada", store.RoleSystemAdmin)
	started := make(chan struct{})
	id, err := e.w.imports.Start(importjob.Spec{Actor: "user:ada", Kind: "people", File: "big.csv", Total: 100},
		func(ctx context.Context, progress func(done, total int)) importjob.Result {
			progress(25, 100)
			close(started)
			<-ctx.Done() // until the console closes
			return importjob.Result{State: importjob.StateFailed}
		})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	resp, body := get(t, admin, e.srv.URL+"/import?job="+id)
	if resp.StatusCode != 200 || !strings.Contains(body, `data-progress="/import/jobs/`+id+`"`) ||
		!strings.Contains(body, `<script src="/static/manage_import.js"></script>`) || !strings.Contains(body, `value="25"`) {
		t.Fatalf("running page %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "unsafe-inline'; script") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	_, js := get(t, admin, e.srv.URL+"/import/jobs/"+id)
	if !strings.Contains(js, `"percent":25`) || !strings.Contains(js, `"state":"running"`) {
		t.Fatalf("progress %s", js)
	}
	if r, _ := get(t, admin, e.srv.URL+"/import?job=nope"); r.StatusCode != 404 {
		t.Fatalf("unknown job %d", r.StatusCode)
	}
}

// stallingTables is a TableStore whose imports run until their context
// ends, and say so.
type stallingTables struct {
	TableStore
	started chan struct{}
	ended   chan error
}

func (t *stallingTables) Import(ctx context.Context, _, _ string, _ [][]string, _ bool, progress func(done, total int)) (*tables.ImportReport, error) {
	progress(1, 2)
	close(t.started)
	<-ctx.Done()
	t.ended <- ctx.Err()
	return nil, ctx.Err()
}

// TestCloseStopsRunningImport: an import running in the background is
// cancelled by the console's Close, which returns once it has ended.
func TestCloseStopsRunningImport(t *testing.T) {
	st, _, _, _ := setup(t)
	tb := &stallingTables{TableStore: tables.New(st), started: make(chan struct{}), ended: make(chan error, 1)}
	w, err := New(Config{Store: st, Tables: tb})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	e := &manageEnv{t: t, st: st, srv: srv, n: &recNotifier{}, w: w}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	resp, _ := e.uploadImport(admin, "people", "apply", "people.csv", []byte("prison_number,name,block\nA300,Cal,A\nA301,Dee,A\n"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	select {
	case <-tb.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the import never started")
	}
	_, js := get(t, admin, e.srv.URL+"/import/jobs/"+strings.TrimPrefix(loc, "/import?job="))
	if !strings.Contains(js, `"state":"running"`) || !strings.Contains(js, `"percent":50`) {
		t.Fatalf("before Close: %s", js)
	}
	w.Close()
	select {
	case err := <-tb.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the import ended with %v", err)
		}
	default:
		t.Fatal("Close returned while the import was still running")
	}
	j := e.waitJob(admin, loc)
	if j.State != importjob.StateFailed || !strings.Contains(j.Message, "stopped") {
		t.Fatalf("after Close: %+v", j)
	}
	// A closed console starts no more imports.
	if resp, _ := e.uploadImport(admin, "people", "dry", "people.csv", []byte("prison_number,name,block\nA302,Eve,A\n")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upload after Close %d", resp.StatusCode)
	}
}
