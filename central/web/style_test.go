package web

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The console's one stylesheet is linked from every page (the sign-in
// page too), served without a session, cacheable by its versioned
// address, and allowed by a CSP that allows nothing inline.
func TestStylesheetServedAndAllowed(t *testing.T) {
	_, srv, tok, _ := setup(t)
	c := client(t)
	resp, body := get(t, c, srv.URL+"/login")
	m := regexp.MustCompile(`<link rel="stylesheet" href="(/static/console\.css\?v=[0-9a-f]{12})">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in page links no stylesheet: %s", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"style-src 'self'", "script-src 'self'", "img-src 'self' data:"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q allows inline code", csp)
	}
	css, cssBody := get(t, c, srv.URL+m[1])
	if css.StatusCode != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(css.Header.Get("Cache-Control"), "immutable") || !strings.Contains(cssBody, "--accent") {
		t.Fatalf("stylesheet %d %v", css.StatusCode, css.Header)
	}
	if stale, _ := get(t, c, srv.URL+"/static/console.css?v=old"); strings.Contains(stale.Header.Get("Cache-Control"), "immutable") {
		t.Fatal("an old version's address is cached for a year")
	}
	req, _ := http.NewRequest("GET", srv.URL+m[1], nil)
	req.Header.Set("If-None-Match", css.Header.Get("ETag"))
	if r, err := c.Do(req); err != nil || r.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %v %v", r, err)
	}
	login(t, c, srv, tok)
	if _, body := get(t, c, srv.URL+"/calls"); !strings.Contains(body, m[1]) {
		t.Fatal("calls page links no stylesheet")
	}
}

// No template carries inline style (the CSP would block it): styles live
// in the stylesheet.
func TestTemplatesHaveNoInlineStyle(t *testing.T) {
	err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(templateFS, p)
		if regexp.MustCompile(`<style|\sstyle=`).Match(b) {
			t.Errorf("%s has inline style", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
