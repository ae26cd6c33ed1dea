package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/users"
)

// TestListsPageAlike walks every GET route of the access matrix: a route
// whose answer holds an array is a list (listRoutes) or answered whole for
// a stated reason (wholeAnswers); every list carries limit, offset,
// has_more and next, answers the default page (50), clamps a too-large
// limit to 500, refuses a malformed one, cuts at limit with has_more and
// next, walks on to the next page by next, and ends with has_more false
// and next null; the OpenAPI document says so for each (issue 14, defect 8).
func TestListsPageAlike(t *testing.T) {
	e := newEnv(t)
	seedCalls(t, e, append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 4000)...))
	var p1, p2 struct{ ID string }
	e.do("POST", "/api/v1/inmates", e.admin, map[string]string{"prison_number": "A100", "name": "Ann", "block": "A"}, &p1)
	e.do("POST", "/api/v1/inmates", e.admin, map[string]string{"prison_number": "A101", "name": "Abe", "block": "A"}, &p2)
	for i, n := range []string{"+44 20 7946 0001", "+44 20 7946 0002", "+44 20 7946 0003"} {
		if s := e.status("POST", "/api/v1/inmates/"+p1.ID+"/contacts", e.admin, map[string]any{"number": n, "name": fmt.Sprint("Contact ", i)}); s != 201 {
			t.Fatalf("contact: %d", s)
		}
		if s := e.status("POST", "/api/v1/numbers", e.admin, map[string]any{"number": fmt.Sprint("+44 800 ", i, "*"), "kind": "free", "note": "free-phone"}); s != 201 {
			t.Fatalf("number: %d", s)
		}
		if s := e.status("POST", "/api/v1/officers", e.admin, map[string]any{"staff_number": fmt.Sprint("S", i), "name": "Officer", "block": "A"}); s != 201 {
			t.Fatalf("officer: %d", s)
		}
		if s := e.status("POST", "/api/v1/calls/c1/notes", e.admin, map[string]any{"reason": "check", "note": fmt.Sprint("note ", i)}); s != 201 {
			t.Fatalf("note: %d", s)
		}
		var eb struct{ Error string }
		if r := e.do("POST", "/api/v1/calls/c1/bookmarks", e.admin, map[string]any{"at": fmt.Sprint("0:1", i), "label": "x"}, &eb); r.StatusCode != 201 {
			t.Fatalf("bookmark: %d %s", r.StatusCode, eb.Error)
		}
	}
	params := strings.NewReplacer("{id}", p1.ID, "{appliance}", "appA", "{name}", "A", "{person}", p1.ID, "{by}", reports.StatsByBlock, "{file}", "people.csv")
	userPaths := map[string]bool{"GET /api/v1/users/{id}": true}
	callPaths := map[string]bool{"GET /api/v1/calls/{id}": true, "GET /api/v1/calls/{id}/notes": true, "GET /api/v1/calls/{id}/bookmarks": true, "GET /api/v1/calls/{id}/recording": true}
	doc := fetchOpenAPI(t, e, e.admin)
	cut := 0
	for _, pattern := range apiRoutes() {
		method, path, _ := strings.Cut(pattern, " ")
		if method != "GET" || strings.HasSuffix(path, ".csv") || strings.HasSuffix(path, "/recording") || strings.HasSuffix(path, "/photo") || strings.Contains(path, "/export/") {
			continue
		}
		if userPaths[pattern] {
			path = strings.ReplaceAll(path, "{id}", users.BootstrapUserID)
		}
		if callPaths[pattern] {
			path = strings.ReplaceAll(path, "{id}", "c1")
		}
		path = params.Replace(path)
		var body map[string]json.RawMessage
		if r := e.do("GET", path, e.admin, nil, &body); r.StatusCode != 200 {
			t.Errorf("%s: %d", pattern, r.StatusCode)
			continue
		}
		spec, isList := listRoutes[pattern]
		if !isList && strings.HasSuffix(pattern, "}") && wholeAnswers[pattern] == "" {
			continue // one item (its arrays are its own)
		}
		if !isList {
			for k, v := range body {
				if strings.HasPrefix(strings.TrimSpace(string(v)), "[") && wholeAnswers[pattern] == "" {
					t.Errorf("%s answers the array %q but is neither in listRoutes nor in wholeAnswers", pattern, k)
				}
			}
			continue
		}
		all := checkPage(t, e, pattern, path, spec.Key, DefaultLimit, 0)
		checkPage(t, e, pattern, path+"?limit=100000", spec.Key, MaxLimit, 0)
		checkPage(t, e, pattern, path+"?limit=0", spec.Key, DefaultLimit, 0)
		for _, bad := range []string{"limit=-1", "limit=x", "offset=-5", "offset=1e3", "limit=99999999999"} {
			if s := e.status("GET", path+"?"+bad, e.admin, nil); s != 400 {
				t.Errorf("%s?%s: %d, want 400", pattern, bad, s)
			}
		}
		if growsWhenRead[pattern] {
			// Each read of it is itself audited (audit.search), so its
			// length changes between pages: paging is checked above.
			checkListDoc(t, doc, pattern)
			continue
		}
		if all >= 2 {
			cut++
			// Page by page with limit=1, by next, to the end.
			var seen []string
			for off := 0; off >= 0 && len(seen) <= all; {
				var pg struct {
					Limit, Offset int
					HasMore       bool `json:"has_more"`
					Next          *int
				}
				var raw map[string]json.RawMessage
				e.do("GET", fmt.Sprintf("%s?limit=1&offset=%d", path, off), e.admin, nil, &raw)
				b, _ := json.Marshal(raw)
				json.Unmarshal(b, &pg)
				var items []json.RawMessage
				json.Unmarshal(raw[spec.Key], &items)
				if len(items) != 1 || pg.Limit != 1 || pg.Offset != off || pg.HasMore != (pg.Next != nil) {
					t.Errorf("%s page at %d: %d items, %+v", pattern, off, len(items), pg)
					break
				}
				seen = append(seen, string(items[0]))
				if pg.Next == nil {
					break
				}
				if *pg.Next != off+1 {
					t.Errorf("%s page at %d: next %d", pattern, off, *pg.Next)
					break
				}
				off = *pg.Next
			}
			if len(seen) != all {
				t.Errorf("%s: %d items by pages of one, %d in one page", pattern, len(seen), all)
			}
		}
		checkPage(t, e, pattern, fmt.Sprintf("%s?offset=%d", path, all), spec.Key, DefaultLimit, all)
		checkListDoc(t, doc, pattern)
	}
	if cut < 10 {
		t.Errorf("only %d lists had two items to page through", cut)
	}
	for p := range listRoutes {
		if _, ok := opDocs[p]; !ok {
			t.Errorf("list %s is not a documented route", p)
		}
	}
}

// checkPage gets path (a list route) and checks its paging fields say
// limit and offset, and has_more and next agree with each other; it
// returns how many items came.
func checkPage(t *testing.T, e *env, pattern, path, key string, limit, offset int) int {
	t.Helper()
	var raw map[string]json.RawMessage
	if r := e.do("GET", path, e.admin, nil, &raw); r.StatusCode != 200 {
		t.Errorf("%s: %d", path, r.StatusCode)
		return 0
	}
	for _, f := range []string{key, "limit", "offset", "has_more", "next"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("%s (%s): no %q in the answer", path, pattern, f)
		}
	}
	var items []json.RawMessage
	var l, o int
	var more bool
	var next *int
	json.Unmarshal(raw[key], &items)
	json.Unmarshal(raw["limit"], &l)
	json.Unmarshal(raw["offset"], &o)
	json.Unmarshal(raw["has_more"], &more)
	json.Unmarshal(raw["next"], &next)
	if l != limit || o != offset || more != (next != nil) || (next != nil && *next != offset+limit) || len(items) > limit {
		t.Errorf("%s: limit %d offset %d has_more %v next %v with %d items, want limit %d offset %d", path, l, o, more, next, len(items), limit, offset)
	}
	if offset > 0 && (len(items) != 0 || more) {
		t.Errorf("%s: past the end: %d items, has_more %v", path, len(items), more)
	}
	return len(items)
}

// checkListDoc checks the OpenAPI document gives list route pattern the
// rule's limit and offset and the paging fields of its answer.
func checkListDoc(t *testing.T, doc map[string]any, pattern string) {
	t.Helper()
	_, path, _ := strings.Cut(pattern, " ")
	op, _ := doc["paths"].(map[string]any)[path].(map[string]any)["get"].(map[string]any)
	var names []string
	for _, p := range op["parameters"].([]any) {
		pm := p.(map[string]any)
		if pm["in"] == "query" {
			names = append(names, pm["name"].(string))
			if pm["name"] == "limit" && !strings.Contains(pm["description"].(string), "1 to 500 (default 50") {
				t.Errorf("%s: limit documented as %q", pattern, pm["description"])
			}
		}
	}
	if !strings.Contains(strings.Join(names, ","), "limit") || !strings.Contains(strings.Join(names, ","), "offset") {
		t.Errorf("%s: query parameters %v", pattern, names)
	}
	js, _ := json.Marshal(op["responses"].(map[string]any)["200"])
	for _, f := range []string{`"has_more"`, `"next"`, `"limit"`, `"offset"`} {
		if !strings.Contains(string(js), f) {
			t.Errorf("%s: answer schema lacks %s", pattern, f)
		}
	}
}

// growsWhenRead are the lists that reading adds to: the audit log, whose
// searches are audited.
var growsWhenRead = map[string]bool{"GET /api/v1/audit": true}
