package web

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/central/store/totp"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// signInMFA creates a user with an enrolled second factor and signs them
// in with a current code.
func (e *manageEnv) signInMFA(name, role string, blocks ...string) *http.Client {
	e.t.Helper()
	u := mkUser(e.t, e.st, name, role, blocks...)
	secret, _, err := users.New(e.st).EnrollTOTP(context.Background(), "test", u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	key, _ := totp.DecodeSecret(secret)
	c := client(e.t)
	if r := loginForm(e.t, c, e.srv, url.Values{"username": {name}, "password": {pw}, "code": {totp.Code(key, e.st.Now())}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/calls" {
		e.t.Fatalf("login %s with code: %d %s", name, r.StatusCode, r.Header.Get("Location"))
	}
	return c
}

func TestConsoleMoneyChangesPublishPolicy(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	if err := e.st.EnsureBlock(ctx, "test", "B"); err != nil {
		t.Fatal(err)
	}
	ann := personID(t, e.st)
	fin := e.signIn("fin", store.RoleFinance)
	acct := "/accounts/" + ann
	e.n.take()
	steps := []struct {
		to   string
		form url.Values
		want []string
	}{
		{acct + "/recharge", url.Values{"amount": {"20.00"}, "receipt": {"R-1"}}, []string{"A"}},
		{acct + "/refund", url.Values{"amount": {"1.50"}, "reason": {"line dropped"}}, []string{"A"}},
		{acct + "/adjustment", url.Values{"amount": {"-0.50"}, "reason": {"correction"}}, []string{"A"}},
		{"/money/rates", url.Values{"prefix": {"+44"}, "destination_type": {wire.DestNational}, "per_minute": {"0.10"}, "billing_unit_seconds": {"60"}, "rounding": {"up"}}, []string{"A", "B"}},
		{"/money/rates/delete", url.Values{"prefix": {"+44"}, "confirm": {"yes"}}, []string{"A", "B"}},
	}
	for _, st := range steps {
		from := acct
		if strings.HasPrefix(st.to, "/money/") {
			from = "/money/rates"
		}
		resp, body := e.post(fin, from, st.to, st.form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", st.to, resp.StatusCode, body)
		}
		got := e.n.take()
		sort.Strings(got)
		if !slices.Equal(got, st.want) {
			t.Fatalf("%s notified %v, want %v", st.to, got, st.want)
		}
	}
	if b, _ := money.New(e.st).Balance(ctx, ann); b != 2100 {
		t.Fatalf("balance %d, want 2100", b)
	}
	_, body := get(t, fin, e.srv.URL+acct+"?posted=refund")
	for _, want := range []string{"Refund recorded", "line dropped", "correction", "Record an adjustment"} {
		if !strings.Contains(body, want) {
			t.Errorf("statement lacks %q", want)
		}
	}
	// A refund or adjustment without a reason, or with a bad amount, is
	// refused with the form refilled, writes nothing and publishes nothing.
	for _, bad := range []struct {
		to   string
		form url.Values
		want string
	}{
		{acct + "/refund", url.Values{"amount": {"1.00"}, "reason": {" "}}, "reason"},
		{acct + "/adjustment", url.Values{"amount": {"1.00"}}, "reason"},
		{acct + "/adjustment", url.Values{"amount": {"abc"}, "reason": {"kept in the form"}}, "kept in the form"},
	} {
		resp, body := e.post(fin, acct, bad.to, bad.form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, bad.want) {
			t.Fatalf("%s %v: %d %s", bad.to, bad.form, resp.StatusCode, body)
		}
	}
	if got := e.n.take(); len(got) != 0 {
		t.Fatalf("refused credits notified %v", got)
	}
	if b, _ := money.New(e.st).Balance(ctx, ann); b != 2100 {
		t.Fatalf("refused credits changed the balance: %d", b)
	}
	// Read-only users see the account but not the forms, and cannot post.
	ro := e.signIn("rita", store.RoleReadOnly)
	if _, body := get(t, ro, e.srv.URL+acct); strings.Contains(body, "Record a refund") {
		t.Fatal("read-only user offered a refund form")
	}
	if resp, _ := e.post(ro, acct, acct+"/refund", url.Values{"amount": {"1.00"}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only refund: %d", resp.StatusCode)
	}
}

func TestConsoleAccountsList(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	ann := personID(t, e.st)
	if err := e.st.UpsertAppliance(ctx, "appB", "B"); err != nil {
		t.Fatal(err)
	}
	bob, err := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B100", Name: "Bob Roe", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := money.New(e.st).Recharge(ctx, "test", ann, 1234, "R-9"); err != nil {
		t.Fatal(err)
	}
	fin := e.signIn("fin", store.RoleFinance)
	resp, body := get(t, fin, e.srv.URL+"/money/accounts")
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/accounts/`+ann+`"`) || !strings.Contains(body, "12.34") ||
		!strings.Contains(body, `href="/accounts/`+bob.ID+`"`) || !strings.Contains(body, "Ann &lt;b&gt;Lee&lt;/b&gt;") {
		t.Fatalf("accounts page %d: %s", resp.StatusCode, body)
	}
	if _, body := get(t, fin, e.srv.URL+"/money/accounts?q=B1"); strings.Contains(body, ann) || !strings.Contains(body, bob.ID) {
		t.Fatal("search by prison number")
	}
	if l, _ := e.st.AuditLog(ctx, store.AuditFilter{Action: "accounts.search"}); len(l) != 2 {
		t.Fatalf("accounts searches audited %d times", len(l))
	}
	// A block officer of B sees B's accounts only.
	ob := e.signIn("offb", store.RoleBlockOfficer, "B")
	if _, body := get(t, ob, e.srv.URL+"/money/accounts"); strings.Contains(body, ann) || !strings.Contains(body, bob.ID) {
		t.Fatal("officer of B sees other blocks' accounts")
	}
	if resp, _ := get(t, ob, e.srv.URL+"/money/accounts?block=A"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("officer of B filtering block A: %d", resp.StatusCode)
	}
}

func TestConsoleAlarmsPage(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	if err := e.st.UpsertAppliance(ctx, "appB", "B"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RaiseAlarm(ctx, "appA", store.AlarmBatchRefused, "signature", "batch seq 4..9 refused: signature not valid"); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(wire.Alarm{Code: "reader_down", Source: "reader-2", Message: "no answer from the reader"})
	ev := wire.Event{ApplianceID: "appB", Seq: 1, Time: t0, Type: wire.EventAlarm, Payload: b}
	ev.Seal()
	if _, err := e.st.StoreEvents(ctx, "appB", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	// The blocks page's count links to the appliance's open alarms.
	if _, body := get(t, admin, e.srv.URL+"/blocks"); !strings.Contains(body, `href="/alarms?appliance=appA&amp;open=true"`) || !strings.Contains(body, "1 open") {
		t.Fatalf("blocks page has no alarm link: %s", body)
	}
	resp, body := get(t, admin, e.srv.URL+"/alarms?appliance=appA&open=true")
	if resp.StatusCode != 200 || !strings.Contains(body, store.AlarmBatchRefused) || !strings.Contains(body, "signature not valid") ||
		strings.Contains(body, "reader_down") || !strings.Contains(body, "Clear</button>") {
		t.Fatalf("alarms of appA: %d %s", resp.StatusCode, body)
	}
	_, body = get(t, admin, e.srv.URL+"/alarms")
	if !strings.Contains(body, "reader_down") || !strings.Contains(body, "<td>1</td>") || !strings.Contains(body, "reader-2") {
		t.Fatalf("all alarms: %s", body)
	}
	// Clearing needs a note; the appliance's own alarm has no clear form.
	al, _ := e.st.AlarmList(ctx, store.AlarmFilter{ApplianceID: "appA"})
	if resp, _ := e.post(admin, "/alarms", "/alarms/"+al[0].ID+"/clear", url.Values{"note": {""}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("clear without note: %d", resp.StatusCode)
	}
	resp, _ = e.post(admin, "/alarms", "/alarms/"+al[0].ID+"/clear", url.Values{"note": {"the appliance's key was re-issued"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %d", resp.StatusCode)
	}
	_, body = get(t, admin, e.srv.URL+resp.Header.Get("Location"))
	if !strings.Contains(body, "Alarm cleared") || !strings.Contains(body, "cleared 2025-03-01") {
		t.Fatalf("after clearing: %s", body)
	}
	if strings.Count(body, "Clear</button>") != 0 {
		t.Fatal("a cleared alarm still offers clearing")
	}
	// A block officer of A sees A's alarms only, and cannot clear.
	oa := e.signIn("offa", store.RoleBlockOfficer, "A")
	if _, body := get(t, oa, e.srv.URL+"/alarms"); strings.Contains(body, "reader_down") || !strings.Contains(body, store.AlarmBatchRefused) {
		t.Fatalf("officer of A sees %s", body)
	}
	if resp, _ := e.post(oa, "/alarms", "/alarms/"+al[0].ID+"/clear", url.Values{"note": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("officer clears: %d", resp.StatusCode)
	}
}

// auditEnv is a console over a store whose database the test can open
// itself (to tamper with the audit log): it returns the database/sql
// driver name and data source of that database.
func auditEnv(t *testing.T) (*store.Store, *httptest.Server, [2]string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	db := storetest.Database(t, path)
	st, err := store.OpenDatabase(context.Background(), db, filepath.Join(dir, "rec"), nil, clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	raw := [2]string{"sqlite", "file:" + path}
	if db.Driver == store.DriverPostgres {
		raw = [2]string{"pgx", db.DSN}
	}
	t.Cleanup(func() { st.Close() })
	w, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return st, srv, raw
}

func TestConsoleAuditPage(t *testing.T) {
	st, srv, db := auditEnv(t)
	ctx := context.Background()
	e := &manageEnv{t: t, st: st, srv: srv}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	for _, a := range []string{"calls.search", "recording.play", "calls.search"} {
		if err := st.Audit(ctx, "user:ivy", a, "c1", "detail of "+a); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := get(t, admin, srv.URL+"/audit?actor=user:ivy&action=calls.search&from=2025-03-01&to=2025-03-01")
	if resp.StatusCode != 200 || strings.Count(body, "detail of calls.search") != 2 || strings.Contains(body, "detail of recording.play") {
		t.Fatalf("filtered audit %d: %s", resp.StatusCode, body)
	}
	csv := regexp.MustCompile(`href="(/api/v1/audit\.csv[^"]*)"`).FindStringSubmatch(body)
	if csv == nil {
		t.Fatal("no CSV export link")
	}
	u, _ := url.Parse(strings.ReplaceAll(csv[1], "&amp;", "&"))
	if q := u.Query(); q.Get("actor") != "user:ivy" || q.Get("action") != "calls.search" || q.Get("from") != "2025-03-01T00:00:00Z" || q.Get("to") != "2025-03-02T00:00:00Z" {
		t.Fatalf("CSV link %s", csv[1])
	}
	if _, body := get(t, admin, srv.URL+"/audit?from=2025-03-02"); strings.Contains(body, "detail of") {
		t.Fatal("from filter not applied")
	}
	if resp, _ := get(t, admin, srv.URL+"/audit?from=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad date: %d", resp.StatusCode)
	}
	if _, body := get(t, admin, srv.URL+"/audit?verify=1"); !strings.Contains(body, "Hash chain verified") {
		t.Fatalf("verification: %s", body)
	}
	// Behind the store's back, the database refuses to change a row (the
	// log is append-only there too), but a forged row can be appended
	// (with the counter moved past it): the page says where.
	raw, err := sql.Open(db[0], db[1])
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_log SET detail = 'nothing to see' WHERE action = 'recording.play'`); err == nil {
		t.Fatal("the database let an audit row change")
	}
	if _, err := raw.Exec(`INSERT INTO audit_log (id, time_ns, actor, action, target, detail, prev_hash, hash)
		SELECT id + 1, time_ns, actor, 'audit.forged', target, detail, hash, 'forged' FROM audit_log
		WHERE id = (SELECT MAX(id) FROM audit_log)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE counters SET value = value + 1 WHERE name = 'audit'`); err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, admin, srv.URL+"/audit?verify=1")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Hash chain broken") || !strings.Contains(body, "was changed") {
		t.Fatalf("tampered chain: %d %s", resp.StatusCode, body)
	}
	ro := e.signIn("rita", store.RoleReadOnly)
	if resp, _ := get(t, ro, srv.URL+"/audit"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only audit page: %d", resp.StatusCode)
	}
}

func TestConsoleUsersPage(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	if err := e.st.EnsureBlock(ctx, "test", "B"); err != nil {
		t.Fatal(err)
	}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	resp, body := get(t, admin, e.srv.URL+"/users")
	if resp.StatusCode != 200 || !strings.Contains(body, "ada") || !strings.Contains(body, `name="blocks" value="B"`) {
		t.Fatalf("users page %d: %s", resp.StatusCode, body)
	}
	// A block officer needs a block; the error keeps the form.
	resp, body = e.post(admin, "/users", "/users", url.Values{"username": {"olga"}, "display_name": {"Olga"}, "role": {store.RoleBlockOfficer}, "password": {pw}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at least one block") || !strings.Contains(body, `value="olga"`) {
		t.Fatalf("officer without block: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.post(admin, "/users", "/users", url.Values{"username": {"olga"}, "display_name": {"Olga"}, "role": {store.RoleBlockOfficer},
		"blocks": {"B"}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	us, _ := users.New(e.st).Users(ctx)
	i := slices.IndexFunc(us, func(u users.User) bool { return u.Username == "olga" })
	if i < 0 || us[i].Role != store.RoleBlockOfficer || !slices.Equal(us[i].Blocks, []string{"B"}) {
		t.Fatalf("created %+v", us)
	}
	olgaID := us[i].ID
	olga := client(t)
	if r := loginForm(t, olga, e.srv, url.Values{"username": {"olga"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("olga signs in: %d", r.StatusCode)
	}
	// Reset her password: her session ends, the new one works.
	newPW := "a much longer passphrase"
	if resp, _ := e.post(admin, "/users", "/users/"+olgaID+"/password", url.Values{"password": {"short"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("short password: %d", resp.StatusCode)
	}
	if resp, _ := e.post(admin, "/users", "/users/"+olgaID+"/password", url.Values{"password": {newPW}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset password: %d", resp.StatusCode)
	}
	if r, _ := get(t, olga, e.srv.URL+"/calls"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("session survived a password reset: %d", r.StatusCode)
	}
	if r := loginForm(t, olga, e.srv, url.Values{"username": {"olga"}, "password": {pw}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password: %d", r.StatusCode)
	}
	if r := loginForm(t, olga, e.srv, url.Values{"username": {"olga"}, "password": {newPW}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", r.StatusCode)
	}
	// Disable her: the session ends and she cannot sign in; enable again.
	if resp, _ := e.post(admin, "/users", "/users/"+olgaID+"/disabled", url.Values{"disabled": {"true"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if r, _ := get(t, olga, e.srv.URL+"/calls"); r.StatusCode != http.StatusSeeOther {
		t.Fatal("disabled user's session lives")
	}
	if r := loginForm(t, olga, e.srv, url.Values{"username": {"olga"}, "password": {newPW}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("disabled sign-in: %d", r.StatusCode)
	}
	if _, body := get(t, admin, e.srv.URL+"/users"); !strings.Contains(body, "Enable olga") {
		t.Fatal("disabled user not shown as such")
	}
	e.post(admin, "/users", "/users/"+olgaID+"/disabled", url.Values{"disabled": {"false"}})
	if r := loginForm(t, olga, e.srv, url.Values{"username": {"olga"}, "password": {newPW}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("enabled sign-in: %d", r.StatusCode)
	}
	// An administrator cannot disable their own account.
	me, _ := users.New(e.st).Users(ctx)
	adaID := me[slices.IndexFunc(me, func(u users.User) bool { return u.Username == "ada" })].ID
	if resp, _ := e.post(admin, "/users", "/users/"+adaID+"/disabled", url.Values{"disabled": {"true"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("self-disable: %d", resp.StatusCode)
	}
	for _, a := range []string{"user.create", "user.update"} {
		if l, _ := e.st.AuditLog(ctx, store.AuditFilter{Action: a, Actor: "user:ada"}); len(l) == 0 {
			t.Errorf("%s not audited", a)
		}
	}
	// Nobody else manages users.
	if resp, _ := get(t, olga, e.srv.URL+"/users"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("officer's users page: %d", resp.StatusCode)
	}
}

func TestTOTPEnrolmentForcedBeforePlayback(t *testing.T) {
	st, srv, _, wav, clk := setupClock(t)
	ctx := context.Background()
	mkUser(t, st, "ivy", store.RoleInvestigator)
	c := client(t)
	r := loginForm(t, c, srv, url.Values{"username": {"ivy"}, "password": {pw}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/account/totp") {
		t.Fatalf("investigator without a second factor lands on %s", r.Header.Get("Location"))
	}
	if resp, body := get(t, c, srv.URL+"/calls/rec-call/recording"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "/account/totp") {
		t.Fatalf("playback before enrolling: %d %q", resp.StatusCode, body)
	}
	resp, body := get(t, c, srv.URL+r.Header.Get("Location"))
	if resp.StatusCode != 200 || !strings.Contains(body, "enrol a second factor") || !strings.Contains(body, "Create my secret") {
		t.Fatalf("enrolment page: %d %s", resp.StatusCode, body)
	}
	csrf := csrfOf(t, body)
	resp, body = post(t, c, srv.URL+"/account/totp", url.Values{"csrf": {csrf}})
	m := regexp.MustCompile(`otpauth://totp/[^<]*secret=([A-Z2-7]+)`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, "<code>"+m[1]+"</code>") {
		t.Fatalf("secret page: %d %s", resp.StatusCode, body)
	}
	key, err := totp.DecodeSecret(m[1])
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if totp.Code(key, clk.Now()) == wrong {
		wrong = "111111"
	}
	if resp, _ := post(t, c, srv.URL+"/account/totp/confirm", url.Values{"csrf": {csrf}, "code": {wrong}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	resp, _ = post(t, c, srv.URL+"/account/totp/confirm", url.Values{"csrf": {csrf}, "code": {totp.Code(key, clk.Now())}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	// The same session now plays.
	if resp, body := get(t, c, srv.URL+"/calls/rec-call/recording"); resp.StatusCode != 200 || body != string(wav) {
		t.Fatalf("playback after enrolling: %d", resp.StatusCode)
	}
	if _, body := get(t, c, srv.URL+"/account/totp"); !strings.Contains(body, "This session is verified") {
		t.Fatal("enrolled page")
	}
	// Self-enrolment cannot replace the factor.
	if resp, _ := post(t, c, srv.URL+"/account/totp", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("re-enrol: %d", resp.StatusCode)
	}
	// The next sign-in needs a code.
	clk.Advance(30 * time.Second)
	if r := loginForm(t, client(t), srv, url.Values{"username": {"ivy"}, "password": {pw}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in without code after enrolling: %d", r.StatusCode)
	}
	if r := loginForm(t, client(t), srv, url.Values{"username": {"ivy"}, "password": {pw}, "code": {totp.Code(key, clk.Now())}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/calls" {
		t.Fatalf("sign-in with code: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	// Roles that neither play nor export recordings are not sent there.
	mkUser(t, st, "fred", store.RoleFinance)
	if r := loginForm(t, client(t), srv, url.Values{"username": {"fred"}, "password": {pw}}); r.Header.Get("Location") != "/calls" {
		t.Fatalf("finance lands on %s", r.Header.Get("Location"))
	}
	if l, _ := st.AuditLog(ctx, store.AuditFilter{Action: "user.totp_enrol", To: t0.Add(time.Hour)}); len(l) != 2 || l[1].Target != users.BootstrapUserID || l[0].Actor != "user:ivy" {
		t.Fatalf("enrolment audit %+v", l)
	}
}

// rawSession starts a session for a new user of role (second factor
// verified) and returns a client carrying its cookie, and its CSRF token.
func rawSession(t *testing.T, st *store.Store, srvURL, name, role string, mfa bool, blocks ...string) (*http.Client, string) {
	t.Helper()
	u := mkUser(t, st, name, role, blocks...)
	id, se, err := users.New(st).StartSession(context.Background(), users.NewSession{Actor: u.Actor(), Role: u.Role, UserID: u.ID, MFA: mfa, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t)
	su, _ := url.Parse(srvURL)
	c.Jar.SetCookies(su, []*http.Cookie{{Name: CookieName, Value: id, Path: "/"}})
	return c, se.CSRF
}

// TestConsolePageRoleMatrix requests every console page as every role (with
// a verified second factor) and checks that exactly the roles of the access
// matrix get past it; and that pages needing a second factor refuse a
// session without one.
func TestConsolePageRoleMatrix(t *testing.T) {
	st, srv, _, _ := setup(t)
	ctx := context.Background()
	w, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	// Every registered page is in the matrix, every page of the matrix
	// registered.
	var pages []string
	for p := range authz.Routes {
		if !strings.Contains(p, " /api/") {
			pages = append(pages, p)
		}
	}
	got := slices.Clone(w.patterns)
	sort.Strings(got)
	sort.Strings(pages)
	if !slices.Equal(got, pages) {
		t.Fatalf("registered %v\nmatrix %v", got, pages)
	}
	person := personID(t, st)
	cs, err := people.New(st).Contacts(ctx, person)
	if err != nil || len(cs) == 0 {
		t.Fatal(cs, err)
	}
	target := mkUser(t, st, "target", store.RoleReadOnly)
	ids := map[string]string{"/people/": person, "/accounts/": person, "/contacts/": cs[0].ID, "/users/": target.ID, "/calls/": "rec-call"}
	path := func(p string) string {
		for pre, id := range ids {
			if strings.HasPrefix(p, pre) {
				p = strings.Replace(p, "{id}", id, 1)
				p = strings.Replace(p, "{person}", id, 1)
			}
		}
		r := strings.NewReplacer("{name}", "A", "{file}", "people.csv", "{id}", "none", "{job}", "none", "{person}", person)
		return r.Replace(p)
	}
	type sess struct {
		c    *http.Client
		csrf string
	}
	sessions := map[string]sess{}
	weak := map[string]sess{}
	for _, role := range store.UserRoles {
		var blocks []string
		if role == store.RoleBlockOfficer {
			blocks = []string{"A"}
		}
		name := strings.ReplaceAll(role, "_", "-")
		c, csrf := rawSession(t, st, srv.URL, name, role, true, blocks...)
		sessions[role] = sess{c, csrf}
		c, csrf = rawSession(t, st, srv.URL, name+"-weak", role, false, blocks...)
		weak[role] = sess{c, csrf}
	}
	do := func(s sess, method, p string) (*http.Response, string) {
		if method == http.MethodGet {
			return get(t, s.c, srv.URL+p)
		}
		// In the officer's block where a form names one.
		return post(t, s.c, srv.URL+p, url.Values{"csrf": {s.csrf}, "block": {"A"}})
	}
	const refused = "You are not allowed to see this."
	n := 0
	for _, pattern := range pages {
		rule := authz.Routes[pattern]
		method, p, _ := strings.Cut(pattern, " ")
		p = path(p)
		for _, role := range store.UserRoles {
			want := slices.Contains(rule.Roles, role)
			resp, body := do(sessions[role], method, p)
			if got := !(resp.StatusCode == http.StatusForbidden && strings.Contains(body, refused)); got != want {
				t.Errorf("%s (%s) as %s: %d %q, allowed=%v", pattern, p, role, resp.StatusCode, body, want)
			}
			if resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/login" {
				t.Errorf("%s as %s: sent to sign in", pattern, role)
			}
			n++
			if want && rule.MFA {
				resp, body := do(weak[role], method, p)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "second factor") {
					t.Errorf("%s as %s without a second factor: %d %q", pattern, role, resp.StatusCode, body)
				}
			}
		}
	}
	if n < 5*40 {
		t.Fatalf("only %d checks", n)
	}
}

func TestBlockOfficerSeesOwnEstateOnly(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	if err := e.st.UpsertAppliance(ctx, "appB", "B"); err != nil {
		t.Fatal(err)
	}
	tap, _ := json.Marshal(wire.CardTap{Reader: "reader-b", Terminal: "tb9", UID: "04ff"})
	ev := wire.Event{ApplianceID: "appB", Seq: 1, Time: t0, Type: wire.EventCardTap, Payload: tap}
	ev.Seal()
	if _, err := e.st.StoreEvents(ctx, "appB", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	ob := e.signIn("offb", store.RoleBlockOfficer, "B")
	_, body := get(t, ob, e.srv.URL+"/blocks")
	if strings.Contains(body, "Block A ") || strings.Contains(body, "<td>appA</td>") || strings.Contains(body, "<td>t1</td>") ||
		!strings.Contains(body, "Block B ") || !strings.Contains(body, "<td>appB</td>") || !strings.Contains(body, "<td>tb9</td><td>reader-b</td>") {
		t.Fatalf("officer of B's blocks page: %s", body)
	}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	if _, body := get(t, admin, e.srv.URL+"/blocks"); !strings.Contains(body, "Block A ") || !strings.Contains(body, "<td>t1</td>") || !strings.Contains(body, "<td>tb9</td>") {
		t.Fatalf("admin's blocks page: %s", body)
	}
}

// privEnv adds to setup's data a recorded call to a number on the
// prison-wide list as privileged (a recording that should never exist:
// central refuses audio for a call it knows is privileged, so here the
// number is listed only after its recording was stored, as when a legal
// line is added to the list late) and a recorded call to a number on the
// list as hidden.
func privEnv(t *testing.T) (*store.Store, *httptest.Server) {
	t.Helper()
	st, srv, _, _ := setup(t)
	ctx := context.Background()
	if _, _, err := people.New(st).AddGlobalNumber(ctx, "test", "+33*", wire.NumberKindHidden, "investigation"); err != nil {
		t.Fatal(err)
	}
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt other audio")
	sum := sha256.Sum256(wav)
	ref := wire.RecordingRef{ID: "r9", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(wav)), Format: "wav/pcmu-stereo"}
	ans := t0.Add(5 * time.Hour)
	var evs []wire.Event
	for i, rc := range []wire.CallRecord{
		{CallID: "glob-priv", PrisonNumber: "A100", Terminal: "t1", Number: "+442012345678", Start: ans, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Recording: &ref},
		{CallID: "hidden-call", PrisonNumber: "A100", Terminal: "t1", Number: "+33123456", Start: ans, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Recording: &ref},
	} {
		// A chain of their own (central stores no event that does not
		// link to the stored neighbours of its chain).
		b, _ := json.Marshal(rc)
		prev := ""
		if i > 0 {
			prev = evs[i-1].Hash
		}
		ev := wire.Event{ApplianceID: "appA", Epoch: "priv", Seq: uint64(1 + i), Time: rc.End, Type: wire.EventCall, Payload: b, PrevHash: prev}
		ev.Seal()
		evs = append(evs, ev)
	}
	if _, err := st.StoreEvents(ctx, "appA", evs); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"glob-priv", "hidden-call"} {
		if err := st.StoreRecording(ctx, "appA", &wire.RecordingUpload{V: 1, ApplianceID: "appA", CallID: id, Ref: ref, Data: wav}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := people.New(st).AddGlobalNumber(ctx, "test", "+44 20 1234 5678", wire.NumberKindPrivileged, "legal aid"); err != nil {
		t.Fatal(err)
	}
	return st, srv
}

func TestPrivilegedCallShowsNoPlayerAndIsNeverServed(t *testing.T) {
	st, srv := privEnv(t)
	c, _ := rawSession(t, st, srv.URL, "ivy", store.RoleInvestigator, true)
	resp, body := get(t, c, srv.URL+"/calls?number=%2B442012345678")
	if resp.StatusCode != 200 || strings.Contains(body, "<audio") || !strings.Contains(body, "privileged: not recorded") {
		t.Fatalf("privileged call with a stored recording offers a player: %s", body)
	}
	if resp, _ := get(t, c, srv.URL+"/calls/glob-priv/recording"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("privileged recording served: %d", resp.StatusCode)
	}
	if l, _ := st.AuditLog(context.Background(), store.AuditFilter{Action: "recording.play"}); len(l) != 0 {
		t.Fatalf("privileged playback audited as played: %+v", l)
	}
}

func TestHiddenCallsOnlyForInvestigatorsAndAdmins(t *testing.T) {
	st, srv := privEnv(t)
	for _, role := range store.UserRoles {
		var blocks []string
		if role == store.RoleBlockOfficer {
			blocks = []string{"A"}
		}
		c, _ := rawSession(t, st, srv.URL, strings.ReplaceAll(role, "_", "-"), role, true, blocks...)
		sees := role == store.RoleInvestigator || role == store.RoleSystemAdmin
		_, body := get(t, c, srv.URL+"/calls")
		if strings.Contains(body, "&#43;33123456") != sees || !strings.Contains(body, "&#43;441") {
			t.Errorf("%s: hidden call listed=%v, want %v", role, !sees, sees)
		}
		if sees && !strings.Contains(body, `<span class="priv">hidden</span>`) {
			t.Errorf("%s: hidden call not marked", role)
		}
		// Roles that play but may not see hidden calls are told there is
		// no such recording; roles that never play are refused.
		want := map[string]int{store.RoleSystemAdmin: 200, store.RoleInvestigator: 200, store.RoleBlockOfficer: http.StatusNotFound,
			store.RoleFinance: http.StatusForbidden, store.RoleReadOnly: http.StatusForbidden}[role]
		if resp, _ := get(t, c, srv.URL+"/calls/hidden-call/recording"); resp.StatusCode != want {
			t.Errorf("%s: hidden call's recording %d, want %d", role, resp.StatusCode, want)
		}
		if r, body := get(t, c, srv.URL+"/export/calls.csv"); r.StatusCode != 200 || strings.Contains(body, "hidden-call") != sees {
			t.Errorf("%s: export %d, hidden call exported=%v", role, r.StatusCode, !sees)
		}
	}
}

func TestLiftContactSelfBlock(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	ann := personID(t, e.st)
	cs, _ := people.New(e.st).Contacts(ctx, ann)
	if _, err := people.New(e.st).SelfBlockReported(ctx, "appA", wire.NumberBlocked{PersonID: ann, Number: cs[0].Number, CallID: "c9"}); err != nil {
		t.Fatal(err)
	}
	e.n.take()
	ro := e.signIn("rita", store.RoleReadOnly)
	if _, body := get(t, ro, e.srv.URL+"/people/"+ann); !strings.Contains(body, "self-blocked") || strings.Contains(body, "Lift self-block") {
		t.Fatal("read-only view of a self-blocked contact")
	}
	ob := e.signIn("offb", store.RoleBlockOfficer, "B")
	if resp, _ := e.post(ob, "/people", "/contacts/"+cs[0].ID+"/unblock", url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("officer of another block lifts: %d", resp.StatusCode)
	}
	oa := e.signIn("offa", store.RoleBlockOfficer, "A")
	if _, body := get(t, oa, e.srv.URL+"/people/"+ann); !strings.Contains(body, "Lift self-block") {
		t.Fatal("no lift form for the block's officer")
	}
	if resp, _ := e.post(oa, "/people/"+ann, "/contacts/"+cs[0].ID+"/unblock", url.Values{"reason": {""}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("lift without reason: %d", resp.StatusCode)
	}
	resp, _ := e.post(oa, "/people/"+ann, "/contacts/"+cs[0].ID+"/unblock", url.Values{"reason": {"the family phoned to ask"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("lift: %d", resp.StatusCode)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("lift notified %v", got)
	}
	if c, _ := people.New(e.st).Contact(ctx, cs[0].ID); c.SelfBlocked {
		t.Fatal("still self-blocked")
	}
	if l, _ := e.st.AuditLog(ctx, store.AuditFilter{Action: "contact.self_block_lift"}); len(l) != 1 || l[0].Actor != "user:offa" || !strings.Contains(l[0].Detail, "phoned") {
		t.Fatalf("lift audit %+v", l)
	}
}
