package browsertests

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/tools/stack"
)

// axeSource is axe-core 4.14.1 (MPL-2.0; testdata/README.md), the
// accessibility rules engine the check injects into every page.
//
//go:embed testdata/axe.min.js
var axeSource string

// axeViolation is one rule axe found broken on a page, with the elements
// that break it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core's WCAG 2.x A and AA rules (and its best practices) on
// the page the tab shows and returns the violations of impact serious or
// critical, and the others (moderate, minor).
func (b *tab) axe(what string) (bad, other []axeViolation) {
	b.t.Helper()
	// The page's CSP would not stop Runtime.evaluate, but axe's own
	// checks build inline styles and frames; bypass it for the test.
	b.run("inject axe-core into "+what, command(page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}), chromedp.Evaluate[chromedp.Void](`typeof axe === "undefined" ? (0, eval)(`+jsString(axeSource)+`) : undefined; undefined`))
	all := get(b, "run axe-core on "+what, chromedp.Evaluate[[]axeViolation](`axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
		resultTypes: ["violations"]
	}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, v)
		} else {
			other = append(other, v)
		}
	}
	return bad, other
}

// command is a DevTools protocol command as a browser step.
func command[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cmd, params)
		return err
	})
}

// jsString quotes s as a JavaScript string literal (JSON is one).
func jsString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\u2028':
			sb.WriteString(`\u2028`)
		case '\u2029':
			sb.WriteString(`\u2029`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&sb, `\u%04x`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// describe lists the violations found on the page at url, one line per
// element: rule id, impact, target selector, what fails and the rule's help.
func describe(where string, vs []axeViolation) []string {
	var out []string
	for _, v := range vs {
		for _, n := range v.Nodes {
			out = append(out, fmt.Sprintf("%s: %s (%s) at %v: %s; %s",
				where, v.ID, v.Impact, n.Target, strings.ReplaceAll(n.Summary, "\n", " "), v.HelpURL))
		}
		if len(v.Nodes) == 0 {
			out = append(out, fmt.Sprintf("%s: %s (%s): %s; %s", where, v.ID, v.Impact, v.Help, v.HelpURL))
		}
	}
	return out
}

// notPages are the console's GET routes that answer no HTML page (files,
// media, scripts), so no accessibility check applies.
var notPages = map[string]string{
	"GET /calls/{id}/recording":    "a recording (audio)",
	"GET /calls/export":            "a CSV file",
	"GET /reports/billing.csv":     "a CSV file",
	"GET /export/{file}":           "a CSV or XLSX file",
	"GET /import/template/{file}":  "a CSV or XLSX template",
	"GET /people/{id}/photo":       "a photo",
	"GET /static/manage_import.js": "a script",
	"GET /import/jobs/{job}":       "an import job's progress (JSON, for the Import page's script)",
}

// pageURL is the address the check visits for a console page's route: the
// route itself, or with its wildcards filled with the installation's data.
// ok is false for a wildcard route the check does not know how to fill.
func (in *installation) pageURL(pattern string) (string, bool) {
	path := strings.TrimPrefix(pattern, "GET ")
	path = strings.TrimSuffix(path, "{$}")
	if !strings.Contains(path, "{") {
		return path, true
	}
	switch pattern {
	case "GET /people/{id}":
		return "/people/" + in.PersonA, true
	case "GET /accounts/{person}":
		return "/accounts/" + in.PersonA, true
	case "GET /calls/{id}":
		return "/calls/" + in.CallA.ID, true
	}
	return "", false
}

var readOnlyOnce sync.Once

// readOnlyUser seeds (once) a read-only console user, "rhea".
func (in *installation) readOnlyUser(t *testing.T) {
	t.Helper()
	var err error
	readOnlyOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = in.addUser(ctx, "rhea", store.RoleReadOnly, nil, false)
	})
	if err != nil {
		t.Fatalf("seeding the read-only user: %v", err)
	}
	if in.Users["rhea"] == nil {
		t.Fatal("the read-only user was not seeded")
	}
}

// TestAccessibility: every console page, as every role sees it (system
// administrator, investigator, block officer, finance, read-only), passes
// axe-core's WCAG 2.2 A/AA rules with no violation of impact serious or
// critical: every GET page of the access matrix the role may use (an
// unknown page with a wildcard fails the test until it is listed here),
// the pages it is refused (when the refusal is an HTML page), the sign-in
// page before and after a refused sign-in, an import job's error report,
// a call page with a bookmark, refusing a blank note and a bookmark past
// the recording's end; for the administrator, every page again in the
// dark colour scheme and at phone width (400 px). A failure
// lists each violation: page, rule id, impact, target selector, what
// fails and the rule's help URL.
func TestAccessibility(t *testing.T) {
	in := fixture(t)
	in.readOnlyUser(t)
	var problems, minor []string
	check := func(b *tab, where string) {
		b.t.Helper()
		bad, other := b.axe(where)
		problems = append(problems, describe(where, bad)...)
		minor = append(minor, describe(where, other)...)
	}

	// Signed out: the sign-in page, and the same after a wrong password.
	anon := newTab(t)
	anon.open("/login")
	// First, the check finds what it is for: a field without a label.
	anon.run("add a field without a label", chromedp.Evaluate[chromedp.Void](
		`document.querySelector("main").insertAdjacentHTML("beforeend", '<input id="a11y-unlabelled" type="text">'); undefined`))
	if bad, _ := anon.axe("/login with a field without a label"); !slices.ContainsFunc(bad, func(v axeViolation) bool {
		return v.ID == "label" && len(v.Nodes) == 1 && fmt.Sprint(v.Nodes[0].Target) == "[#a11y-unlabelled]"
	}) {
		anon.failf("axe-core did not report the field without a label: %+v", bad)
	}
	anon.open("/login")
	check(anon, "/login (signed out)")
	anon.fill("type an unknown user and a password", "#username", "nobody", "#password", "not the password at all")
	if st := anon.submit("sign in", `form:has(#username) button[type=submit]`); st == 200 {
		anon.failf("a wrong sign-in was not refused")
	}
	check(anon, "/login (refused sign-in)")

	// An import job's report (dry run, one row wrong), for the admin pass.
	admin := newTab(t)
	admin.loginOK("ada")
	check(admin, admin.dryImport()+" (import report)")

	// The answered call's page with a bookmark (a link and a Remove button).
	if err := in.Do(in.ctx, "POST", "/api/v1/calls/"+in.CallA.ID+"/bookmarks", map[string]any{"at": "0:01", "label": "greeting"}, nil); err != nil {
		t.Fatalf("bookmark the answered call: %v", err)
	}

	// Every role at a desk's width in the light scheme; the administrator,
	// who sees every page, also in the dark scheme and at phone width.
	desk := []view{{"light", 0}}
	roles := []struct {
		user  string
		views []view
	}{
		{"ada", []view{{"light", 0}, {"dark", 0}, {"light", phoneWidth}}},
		{"ivy", desk}, {"otto", desk}, {"fred", desk}, {"rhea", desk},
	}
	visited := 0
	for _, r := range roles {
		b := admin
		if r.user != "ada" {
			b = newTab(t)
			b.loginOK(r.user)
		}
		for _, v := range r.views {
			visited += b.checkRolePages(r.user, v, check)
		}
	}

	// A form refusing what was sent: the call page with a blank note.
	inv := newTab(t)
	inv.loginOK("ivy")
	inv.open("/calls/" + in.CallA.ID)
	form := `form[action="/calls/` + in.CallA.ID + `/notes"]`
	inv.fill("write a blank note", form+` [name=reason]`, "security", form+` [name=note]`, "   ")
	if st := inv.submit("save the blank note", form+` button[type=submit]`); st != 422 {
		inv.failf("blank note: HTTP %d, want 422", st)
	}
	check(inv, "/calls/{id} (blank note refused)")
	mark := `form[action="/calls/` + in.CallA.ID + `/bookmarks"]`
	inv.fill("a bookmark past the end", mark+` [name=at]`, "99:00", mark+` [name=label]`, "too late")
	if st := inv.submit("save the bookmark", mark+` button[type=submit]`); st != 422 {
		inv.failf("bookmark past the end: HTTP %d, want 422", st)
	}
	check(inv, "/calls/{id} (bookmark refused)")

	t.Logf("axe-core checked %d pages of the roles (allowed and refused), and 6 pages in particular states", visited)
	if len(minor) > 0 {
		t.Logf("%d violations of impact moderate or minor (not failures):\n%s", len(minor), strings.Join(minor, "\n"))
	}
	if len(problems) > 0 {
		t.Errorf("%d accessibility violations of impact serious or critical:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// view is how a page is looked at: the colour scheme and the window's
// width (0: the browser's, 1280 px).
type view struct {
	scheme string
	width  int64
}

// consolePages are the GET routes of the console's pages (not the API's).
func consolePages() []string {
	var patterns []string
	for p := range authz.Routes {
		if _, file := notPages[p]; !file && strings.HasPrefix(p, "GET /") && !strings.HasPrefix(p, "GET /api/") {
			patterns = append(patterns, p)
		}
	}
	slices.Sort(patterns)
	return patterns
}

// checkRolePages visits, in view v, every console page as the signed-in
// user sees it and runs check on it: the pages the role may use (200), and
// the pages it is refused when the refusal is an HTML page. It returns how
// many pages were checked.
func (b *tab) checkRolePages(user string, v view, check func(*tab, string)) int {
	b.t.Helper()
	u := b.in.Users[user]
	caller := authz.Caller{Role: u.Role, MFA: u.Secret != "", Blocks: []string{stack.Block}}
	b.run("colour scheme "+v.scheme, command(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.scheme}}}))
	if v.width > 0 {
		b.run("a window of the view's width", chromedp.EmulateViewport(v.width, phoneHeight))
	}
	defer func() {
		b.run("back to the default view", command(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}), chromedp.ResetViewport())
	}()
	n := 0
	for _, p := range consolePages() {
		path, ok := b.in.pageURL(p)
		if !ok {
			b.t.Errorf("route %s: the accessibility check does not know what to visit: add it to pageURL (or to notPages if it is no page)", p)
			continue
		}
		allowed := authz.Check(p, caller, "") == nil
		st := b.open(path)
		switch {
		case allowed && st != 200:
			b.failf("%s as %s: HTTP %d", path, user, st)
		case !allowed && st == 200:
			b.failf("%s as %s: HTTP 200, want a refusal", path, user)
		}
		if ct := eval[string](b, "read the answer's type", `document.contentType`); ct != "text/html" {
			// A plain-text refusal, or data for a page's script (JSON):
			// no markup to check.
			b.t.Logf("%s as %s: %s, not a page", path, user, ct)
			continue
		}
		what := "refused"
		if allowed {
			what = "allowed"
		}
		width := "desk width"
		if v.width > 0 {
			width = fmt.Sprintf("%d px", v.width)
		}
		check(b, fmt.Sprintf("%s as %s (%s; %s, %s)", path, u.Role, what, v.scheme, width))
		n++
	}
	return n
}

// dryImport uploads a three-row people CSV with one wrong row as a dry run
// through the Import page and waits for the job's report; it returns the
// report's address.
func (b *tab) dryImport() string {
	b.t.Helper()
	file := filepath.Join(b.t.TempDir(), "people.csv")
	csv := "prison_number,name,block,language\nACC0001,Person One," + stack.Block + ",en\nACC0002,," + stack.Block + ",en\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.open("/import")
	b.run("choose the file and the mode",
		chromedp.SetValue(chromedp.CSS("#i-kind"), "people"),
		chromedp.SetValue(chromedp.CSS("#i-mode"), "dry"),
		chromedp.SetUploadFiles(chromedp.CSS("#i-file"), []string{file}),
	)
	if st := b.submit("upload", `form[action="/import"] button[type=submit]`); st != 200 {
		b.failf("upload: HTTP %d", st)
	}
	b.waitFor("wait for the import report", `document.readyState === "complete" && location.search.includes("job=") &&
		document.querySelector("#import-progress") === null && document.querySelector("table caption") !== null`)
	return eval[string](b, "read the report's address", `location.pathname + location.search`)
}
