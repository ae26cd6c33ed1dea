package browsertests

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
)

// stepTimeout bounds every browser step (one chromedp.Run).
const stepTimeout = 15 * time.Second

// tab is one scenario's browser tab in its own browser context (its own
// cookies), on the shared installation.
type tab struct {
	t    *testing.T
	in   *installation
	ctx  context.Context
	base string

	mu sync.Mutex
	// docStatus is the HTTP status of the last document the tab loaded.
	docStatus int
	docURL    string
	// problems are the page's uncaught exceptions and console errors.
	problems []string
	// responses are the bodies of the watched answers.
	responses []string
}

// newTab opens a fresh browser context and tab on the shared browser.
func newTab(t *testing.T) *tab {
	t.Helper()
	in := fixture(t)
	ctx, cancel := chromedp.NewContext(in.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, in: in, ctx: ctx, base: "http://" + in.HTTPAddr}
	// The first Do creates the tab; it must not run under a step's
	// timeout context (its end would close the tab).
	done := make(chan error, 1)
	go func() {
		err := chromedp.Do(ctx)
		if err == nil {
			err = chromedp.Listen(ctx, b.onEvent)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("opening a browser tab: %v", err)
		}
	case <-time.After(stepTimeout):
		t.Fatal("opening a browser tab timed out")
	}
	return b
}

func (b *tab) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventResponseReceived:
		if e.Type == network.ResourceTypeDocument {
			b.docStatus, b.docURL = int(e.Response.Status), e.Response.URL
		}
	case *fetch.EventRequestPaused:
		// An answer the test watches, held by the browser until read.
		id := e.RequestID
		go func() {
			ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
			defer cancel()
			res, err := chromedp.Call(ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: id})
			b.mu.Lock()
			if err != nil {
				b.responses = append(b.responses, "error: "+err.Error())
			} else {
				b.responses = append(b.responses, string(res.Body))
			}
			b.mu.Unlock()
			if _, err := chromedp.Call(ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: id}); err != nil {
				b.mu.Lock()
				b.problems = append(b.problems, "could not release a watched answer: "+err.Error())
				b.mu.Unlock()
			}
		}()
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
		b.problems = append(b.problems, "exception: "+msg)
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value))
			}
			b.problems = append(b.problems, "console.error: "+strings.Join(parts, " "))
		}
	}
}

// watch makes the browser hold every answer whose URL contains part
// until the test has read its body (so none is missed, even when the page
// navigates away right after it).
func (b *tab) watch(part string) {
	b.t.Helper()
	b.mu.Lock()
	b.responses = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*" + part + "*", RequestStage: fetch.RequestStageResponse}}}); err != nil {
		b.fail("watch "+part, err)
	}
}

// watchedBodies returns the bodies collected since watch.
func (b *tab) watchedBodies() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.responses...)
}

// status is the HTTP status and URL of the document last loaded.
func (b *tab) status() (int, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.docStatus, b.docURL
}

// run runs the actions as one bounded step; what names it in a failure.
func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	defer b.slow(what, time.Now())
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// slowStep is how long a step may take before the log says so.
const slowStep = 3 * time.Second

// slow logs a step that took longer than slowStep (deferred with the
// step's start).
func (b *tab) slow(what string, start time.Time) {
	if d := time.Since(start); d > slowStep {
		b.t.Logf("slow step: %s took %v", what, d.Round(time.Millisecond))
	}
}

// get runs one action that returns a value, as a bounded step.
func get[T any](b *tab, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	defer b.slow(what, time.Now())
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, what, expr string) T {
	b.t.Helper()
	return get(b, what, chromedp.Evaluate[T](expr))
}

// fail dumps the page (HTML and a screenshot, in a directory kept after
// the run), the page's script problems and central's log tail, then fails
// the test.
func (b *tab) fail(what string, err error) {
	b.t.Helper()
	b.t.Fatalf("%s: %v\n%s", what, err, b.dump())
}

func (b *tab) failf(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), b.dump())
}

func (b *tab) dump() string {
	var sb strings.Builder
	dir, err := os.MkdirTemp("", "kinline-browser-failure-"+strings.ReplaceAll(b.t.Name(), "/", "_")+"-")
	if err != nil {
		return "could not dump the page: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, err1 := chromedp.Run(ctx, chromedp.Location())
	html, err2 := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	shot, err3 := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if derr := errors.Join(err1, err2, err3); derr != nil {
		fmt.Fprintf(&sb, "(the page could not be read completely: %v)\n", derr)
	}
	st, docURL := b.status()
	fmt.Fprintf(&sb, "page %s (last document %s: HTTP %d)\n", loc, docURL, st)
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err == nil {
		if len(text) > 1500 {
			text = text[:1500] + "…"
		}
		fmt.Fprintf(&sb, "---- page text ----\n%s\n", text)
	}
	if html != "" {
		p := filepath.Join(dir, "page.html")
		if err := os.WriteFile(p, []byte(html), 0o644); err == nil {
			fmt.Fprintf(&sb, "page HTML: %s\n", p)
		}
	}
	if len(shot) > 0 {
		p := filepath.Join(dir, "screenshot.png")
		if err := os.WriteFile(p, shot, 0o644); err == nil {
			fmt.Fprintf(&sb, "screenshot: %s\n", p)
		}
	}
	b.mu.Lock()
	for _, p := range b.problems {
		fmt.Fprintf(&sb, "page script: %s\n", p)
	}
	b.mu.Unlock()
	fmt.Fprintf(&sb, "---- kinline-central.log (tail) ----\n%s", tail(filepath.Join(b.in.dir, "kinline-central.log"), 4000))
	return sb.String()
}

// open loads path and returns the document's HTTP status.
func (b *tab) open(path string) int {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
	st, _ := b.status()
	return st
}

// submit clicks sel (a submit button or link) and waits until the next
// document has loaded, returning its HTTP status.
func (b *tab) submit(what, sel string) int {
	b.t.Helper()
	get(b, what, chromedp.WaitEvent(page.LoadEventFired, func(page.EventLoadEventFired) bool { return true },
		chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)))
	st, _ := b.status()
	return st
}

// waitFor evaluates expr in the page until it is true, through any page
// loads on the way (a navigating page cannot answer for a moment), for at
// most stepTimeout.
func (b *tab) waitFor(what, expr string) {
	b.t.Helper()
	var last error
	if testkit.Within(stepTimeout, 100*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		last = err
		return err == nil && ok
	}) {
		return
	}
	b.fail(what, fmt.Errorf("not true within %v: %s (last error: %v)", stepTimeout, expr, last))
}

// fill empties each field (by CSS selector) and types its value.
func (b *tab) fill(what string, fields ...string) {
	b.t.Helper()
	if len(fields)%2 != 0 {
		b.t.Fatal("fill: selector without a value")
	}
	var acts []chromedp.Action[chromedp.Void]
	for i := 0; i < len(fields); i += 2 {
		// chromedp.Clear fails on an empty textarea; emptying the value
		// works for every field.
		sel := chromedp.CSS(fields[i])
		acts = append(acts, chromedp.WaitReady(sel),
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""; undefined`, fields[i])),
			chromedp.SendKeys(sel, fields[i+1]))
	}
	b.run(what, acts...)
}

// text returns the visible text of the first element matching sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady)))
}

// bodyText is the whole page's visible text.
func (b *tab) bodyText() string {
	b.t.Helper()
	return eval[string](b, "read the page", `document.body ? document.body.innerText : ""`)
}

// exists says whether an element matches sel.
func (b *tab) exists(sel string) bool {
	b.t.Helper()
	return eval[int](b, "count "+sel, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)) > 0
}

// wantText fails unless the page's text contains each of want.
func (b *tab) wantText(want ...string) {
	b.t.Helper()
	body := b.bodyText()
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.failf("the page does not say %q", w)
		}
	}
}

// login signs in through the form as a person would: user name and
// password, and the one-time code where the form (or a second step) asks
// for it. code "" submits none.
func (b *tab) login(u *user, code string) int {
	b.t.Helper()
	b.open("/login")
	b.fill("type the user name and password", "#username", u.Username, "#password", password)
	if code != "" && b.exists("#code") {
		b.fill("type the one-time code", "#code", code)
		code = ""
	}
	st := b.submit("sign in", `form:has(#username) button[type=submit]`)
	if code != "" && b.exists("#code") {
		// A separate second-factor step.
		b.fill("type the one-time code", "#code", code)
		st = b.submit("send the one-time code", `form:has(#code) button[type=submit]`)
	}
	return st
}

// loginOK signs in with a fresh code (if the user has TOTP) and checks the
// console greets the user.
func (b *tab) loginOK(name string) *user {
	b.t.Helper()
	u := b.in.Users[name]
	code := ""
	if u.Secret != "" {
		code = u.Code(b.t)
	}
	if st := b.login(u, code); st != 200 {
		b.failf("signing in as %s: HTTP %d", name, st)
	}
	b.wantText("Signed in as user:" + name)
	return u
}

// auditEntries lists central's audit log entries (through the API with the
// admin token) matching the filters.
func (in *installation) auditEntries(t *testing.T, filters url.Values) []store.AuditEntry {
	t.Helper()
	var out struct {
		Audit []store.AuditEntry `json:"audit"`
	}
	if err := in.Do(in.ctx, "GET", "/api/v1/audit?"+filters.Encode(), nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.Audit
}
