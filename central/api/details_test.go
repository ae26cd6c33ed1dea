package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Issue 14, defect 8: the API's details.

// TestWrongMethodIs405 checks a path that exists answers a method it does
// not have with 405 and an Allow header naming the methods it has, and an
// unknown path still 404.
func TestWrongMethodIs405(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		allow        string
	}{
		{"PUT", "/api/v1/inmates", "GET, HEAD, POST"},
		{"DELETE", "/api/v1/calls", "GET, HEAD"},
		{"POST", "/api/v1/calls/c1", "GET, HEAD"},
		{"GET", "/api/v1/alarms/x/clear", "POST"},
		{"PATCH", "/api/v1/blocks/A/rules", "GET, HEAD, PUT"},
	} {
		for _, token := range []string{e.admin, ""} {
			resp := e.do(c.method, c.path, token, nil, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != c.allow {
				t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.allow)
			}
		}
	}
	if resp := e.do("GET", "/api/v1/nothing", e.admin, nil, nil); resp.StatusCode != 404 || resp.Header.Get("Allow") != "" {
		t.Errorf("unknown path: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestAnswersAreNotSniffed checks every kind of answer, errors included,
// carries X-Content-Type-Options: nosniff.
func TestAnswersAreNotSniffed(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/api/v1/inmates", e.admin},
		{"GET", "/api/v1/inmates", ""},
		{"GET", "/api/v1/nothing", e.admin},
		{"PUT", "/api/v1/inmates", e.admin},
		{"GET", "/api/v1/inmates/nobody", e.admin},
		{"POST", "/api/v1/inmates", e.viewer},
		{"GET", "/api/v1/openapi.json", e.admin},
		{"GET", "/api/v1/audit.csv", e.admin},
		{"GET", "/api/v1/audit/verify", e.admin},
	} {
		resp := e.do(c.method, c.path, c.token, nil, nil)
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: %d X-Content-Type-Options %q", c.method, c.path, resp.StatusCode, got)
		}
	}
}

// hugeBody is n bytes of a JSON object's unfinished string, read as it
// is sent.
func hugeBody(n int64) io.Reader {
	return io.MultiReader(strings.NewReader(`{"name": "`), io.LimitReader(repeatReader('x'), n))
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestHugeBodiesAre413 checks a body beyond a route's limit answers 413
// with a message saying the limit, declared (Content-Length) or not
// (chunked), for JSON bodies and uploads alike.
func TestHugeBodiesAre413(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, method, path, ct string
		size                   int64
		chunked                bool
		msg                    string
	}{
		{"json 100 MB", "POST", "/api/v1/inmates", "application/json", 100 << 20, false, "at most 64 KiB"},
		{"json chunked", "POST", "/api/v1/inmates", "application/json", 100 << 20, true, "at most 64 KiB"},
		{"json just over", "POST", "/api/v1/blocks", "application/json", 64 << 10, true, "at most 64 KiB"},
		{"import 100 MB", "POST", "/api/v1/import/people", "text/csv", 100 << 20, false, "at most 10 MiB"},
		{"import chunked", "POST", "/api/v1/import/people", "text/csv", 11 << 20, true, "at most 10 MiB"},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, hugeBody(c.size))
		if !c.chunked {
			req.ContentLength = c.size + int64(len(`{"name": "`))
		}
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", c.ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var eb struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(eb.Error, c.msg) {
			t.Errorf("%s: %d %q, want 413 with %q", c.name, resp.StatusCode, eb.Error, c.msg)
		}
	}
	// Within the limit, a body is read as before.
	var b struct{ Name string }
	if resp := e.do("POST", "/api/v1/blocks", e.admin, map[string]string{"name": "C"}, &b); resp.StatusCode != 201 || b.Name != "C" {
		t.Fatalf("small body: %d %+v", resp.StatusCode, b)
	}
}

// TestErrorMessagesAreClean checks error answers reached through several
// routes carry no internal package prefix and no control character, yet
// keep what went wrong.
func TestErrorMessagesAreClean(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		body         any
		want         string
	}{
		{"POST", "/api/v1/inmates", map[string]string{"prison_number": "A1", "name": "", "block": "A"}, "name"},
		{"POST", "/api/v1/inmates", map[string]string{"prison_number": "A1", "name": "Ann\nBob", "block": "A"}, "name"},
		{"POST", "/api/v1/inmates", map[string]string{"prison_number": "A1", "name": "Ann", "block": "nope"}, "block"},
		{"POST", "/api/v1/inmates", `{"name": 1}`, "JSON"},
		{"POST", "/api/v1/inmates", `{"bogus": 1}`, "unknown field"},
		{"POST", "/api/v1/blocks", map[string]string{"name": "bad\nname"}, "name"},
		{"GET", "/api/v1/calls?from=yesterday", nil, "from"},
		{"GET", "/api/v1/calls?nonsense=1", nil, "nonsense"},
		{"GET", "/api/v1/inmates?limit=-1", nil, "limit"},
		{"GET", "/api/v1/inmates/nobody", nil, "not found"},
		{"PUT", "/api/v1/blocks/A/rules", map[string]any{"confirm": "maybe"}, ""},
		{"POST", "/api/v1/rates", map[string]any{"prefix": "x\ny"}, ""},
		{"GET", "/api/v1/nothing%0Aelse", nil, "no such endpoint"},
		{"DELETE", "/api/v1/inmates%0D%0A", nil, ""},
	} {
		var eb struct{ Error string }
		resp := e.do(c.method, c.path, e.admin, c.body, &eb)
		if resp.StatusCode < 400 {
			t.Errorf("%s %s: %d, want an error", c.method, c.path, resp.StatusCode)
			continue
		}
		for _, bad := range []string{"store:", "api:", "authz:", "invalid input:", "bad request:", "bad query:"} {
			if strings.Contains(eb.Error, bad) {
				t.Errorf("%s %s: %q leaks %q", c.method, c.path, eb.Error, bad)
			}
		}
		if strings.ContainsAny(eb.Error, "\n\r\t\x00\u202e") {
			t.Errorf("%s %s: %q contains control characters", c.method, c.path, eb.Error)
		}
		if !strings.Contains(eb.Error, c.want) || strings.TrimSpace(eb.Error) == "" {
			t.Errorf("%s %s: %q does not say %q", c.method, c.path, eb.Error, c.want)
		}
	}
}

// TestHiddenCharactersRefused checks names and text fields refuse
// bidirectional overrides and other control or format characters through
// the API, with a message naming the field and the character.
func TestHiddenCharactersRefused(t *testing.T) {
	e := newEnv(t)
	for i, name := range []string{"Ann\u202eevil", "Ann\u2066x\u2069", "Ann\u200bZ", "Ann\u0085Bo", "Ann\u2028Bo", "\ufeffAnn", "Ann\u061c"} {
		var eb struct{ Error string }
		resp := e.do("POST", "/api/v1/inmates", e.admin, map[string]string{"prison_number": "H" + string(rune('0'+i)), "name": name, "block": "A"}, &eb)
		if resp.StatusCode != 422 || !strings.Contains(eb.Error, "name") || !strings.Contains(eb.Error, "U+") {
			t.Errorf("name %q: %d %q, want 422 naming the field and character", name, resp.StatusCode, eb.Error)
		}
	}
	// Names in scripts that need joiners stay welcome.
	for i, name := range []string{"می\u200cخواهم", "Zoë O'Brien", "राम\u200d"} {
		if s := e.status("POST", "/api/v1/inmates", e.admin, map[string]string{"prison_number": "J" + string(rune('0'+i)), "name": name, "block": "A"}); s != 201 {
			t.Errorf("name %q: %d", name, s)
		}
	}
}
