package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
)

// fetchOpenAPI gets the served document as token.
func fetchOpenAPI(t *testing.T, e *env, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("openapi.json: %d %s", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return doc
}

// apiRoutes are the /api/v1 patterns of the access matrix.
func apiRoutes() []string {
	var out []string
	for p := range authz.Routes {
		if _, path, _ := strings.Cut(p, " "); path == apiPrefix || strings.HasPrefix(path, apiPrefix+"/") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIDocumentsEveryRoute: the served document is OpenAPI 3.1 of
// this API version and lists every /api/v1 route of the access matrix
// exactly once, documented, with its rule and its path parameters.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	e := newEnv(t)
	doc := fetchOpenAPI(t, e, e.viewer)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi %q", doc["openapi"])
	}
	info := doc["info"].(map[string]any)
	if info["version"] != APIVersion {
		t.Fatalf("info.version %v, want %s", info["version"], APIVersion)
	}
	if major, _, _ := strings.Cut(APIVersion, "."); apiPrefix != "/api/v"+major {
		t.Fatalf("APIVersion %s does not match the path prefix %s", APIVersion, apiPrefix)
	}
	paths := doc["paths"].(map[string]any)

	routes := apiRoutes()
	if len(routes) < 50 {
		t.Fatalf("only %d /api/v1 routes in the matrix", len(routes))
	}
	seen := map[string]bool{}
	for _, pattern := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		d, ok := opDocs[pattern]
		if !ok || strings.TrimSpace(d.Summary) == "" || strings.TrimSpace(d.Description) == "" {
			t.Errorf("%s has no summary and description: add it to opDocs in central/api/openapi.go", pattern)
		}
		names, oaPath := openapi.Wildcards(path)
		item, _ := paths[oaPath].(map[string]any)
		op, ok := item[strings.ToLower(method)].(map[string]any)
		if !ok {
			t.Errorf("%s: no %s %s in the document", pattern, strings.ToLower(method), oaPath)
			continue
		}
		seen[strings.ToLower(method)+" "+oaPath] = true
		if op["summary"] != d.Summary || !strings.HasPrefix(op["description"].(string), d.Description) {
			t.Errorf("%s: summary/description not from opDocs", pattern)
		}
		rule := authz.Routes[pattern]
		var roles []string
		for _, r := range op["x-kinline-roles"].([]any) {
			roles = append(roles, r.(string))
		}
		if !slices.Equal(roles, rule.Roles) || op["x-kinline-block-scoped"] != rule.Scoped || op["x-kinline-mfa"] != rule.MFA {
			t.Errorf("%s: roles %v scoped %v mfa %v, matrix says %+v", pattern, roles, op["x-kinline-block-scoped"], op["x-kinline-mfa"], rule)
		}
		desc := op["description"].(string)
		if rule.MFA != strings.Contains(desc, "second factor (TOTP)") || rule.Scoped != strings.Contains(desc, "Block officers only reach their blocks") {
			t.Errorf("%s: description does not state scope %v / MFA %v: %q", pattern, rule.Scoped, rule.MFA, desc)
		}
		// Path parameters are exactly the pattern's wildcards, each
		// described, and each appears in the OpenAPI path.
		var inPath []string
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			p := p.(map[string]any)
			if p["in"] == "path" {
				inPath = append(inPath, p["name"].(string))
				if p["required"] != true || p["description"] == "" {
					t.Errorf("%s: path parameter %v not required or not described", pattern, p["name"])
				}
				if !strings.Contains(oaPath, "{"+p["name"].(string)+"}") {
					t.Errorf("%s: parameter %v not in %s", pattern, p["name"], oaPath)
				}
			}
		}
		if !slices.Equal(inPath, names) {
			t.Errorf("%s: path parameters %v, wildcards %v", pattern, inPath, names)
		}
		resp := op["responses"].(map[string]any)
		for _, code := range []string{"400", "401", "403", "404"} {
			if resp[code] == nil {
				t.Errorf("%s: no %s response", pattern, code)
			}
		}
	}
	// Exactly once: the document has no operation beyond the routes.
	n := 0
	for p, item := range paths {
		for m := range item.(map[string]any) {
			n++
			if !seen[m+" "+p] {
				t.Errorf("%s %s is in the document but not a served /api/v1 route", m, p)
			}
		}
	}
	if n != len(routes) {
		t.Errorf("%d operations for %d routes", n, len(routes))
	}
	// No documentation for routes that are gone.
	for p := range opDocs {
		if _, ok := authz.Routes[p]; !ok {
			t.Errorf("opDocs documents %s, which is not in the access matrix", p)
		}
	}
	// Templated paths that differ only in parameter names would be one path
	// to OpenAPI tools.
	shapes := map[string]string{}
	for p := range paths {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = "{}"
			}
		}
		shape := strings.Join(segs, "/")
		if other, dup := shapes[shape]; dup {
			t.Errorf("paths %s and %s are the same template", p, other)
		}
		shapes[shape] = p
	}
	checkRefs(t, doc, doc)
}

// checkRefs fails on a $ref that does not resolve within doc.
func checkRefs(t *testing.T, doc, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
				m, _ := cur.(map[string]any)
				cur = m[part]
			}
			if cur == nil {
				t.Errorf("$ref %s does not resolve", r)
			}
		}
		for _, x := range v {
			checkRefs(t, doc, x)
		}
	case []any:
		for _, x := range v {
			checkRefs(t, doc, x)
		}
	}
}

// TestOpenAPISchemasFollowTheHandlers: the schemas are those of the Go
// types the handlers use: the error shape is what the API answers, a
// request body lists the fields the handler decodes and refuses others, a
// response the fields it writes.
func TestOpenAPISchemasFollowTheHandlers(t *testing.T) {
	e := newEnv(t)
	doc := fetchOpenAPI(t, e, e.admin)
	paths := doc["paths"].(map[string]any)
	comps := doc["components"].(map[string]any)
	schemas := comps["schemas"].(map[string]any)

	// The error shape, against a real error answer.
	errSchema := schemas["Error"].(map[string]any)
	var got map[string]any
	if r := e.do("GET", "/api/v1/inmates/nobody", e.admin, nil, &got); r.StatusCode != 404 {
		t.Fatalf("status %d", r.StatusCode)
	}
	props := errSchema["properties"].(map[string]any)
	for k := range got {
		if props[k] == nil {
			t.Errorf("error answer has %q, the Error schema does not", k)
		}
	}
	if _, ok := got["error"].(string); !ok || len(got) != 1 {
		t.Errorf("error answer %v", got)
	}

	// POST /api/v1/inmates: the body is newPersonIn's fields, closed.
	post := paths["/api/v1/inmates"].(map[string]any)["post"].(map[string]any)
	body := post["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if body["additionalProperties"] != false {
		t.Error("request body not closed to unknown fields")
	}
	var fields []string
	for k := range body["properties"].(map[string]any) {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	want := []string{"block", "calls_per_day", "calls_per_month", "calls_per_week", "confirm", "confirm_window_seconds", "language",
		"max_duration_seconds", "name", "pin", "prison_number", "status", "status_reason", "supervision_level", "suspended_until", "windows"}
	if !slices.Equal(fields, want) {
		t.Errorf("inmate body fields %v", fields)
	}
	// ... and the handler does refuse a field outside them.
	if s := e.status("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "Z1", "nickname": "x"}); s != 400 {
		t.Errorf("unknown body field: status %d", s)
	}
	// A 201 with the person: the response is the people.Person component,
	// with the fields a real answer has.
	created := post["responses"].(map[string]any)["201"].(map[string]any)
	if r := created["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"]; r != "#/components/schemas/store.Person" {
		t.Fatalf("201 schema %v", r)
	}
	if created["headers"].(map[string]any)["Location"] == nil {
		t.Error("no Location header")
	}
	if err := e.st.EnsureBlock(context.Background(), "test", "A"); err != nil {
		t.Fatal(err)
	}
	var person map[string]any
	if r := e.do("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "A9", "name": "Ann", "block": "A"}, &person); r.StatusCode != 201 {
		t.Fatalf("create: %d %v", r.StatusCode, person)
	}
	personProps := schemas["store.Person"].(map[string]any)["properties"].(map[string]any)
	for k := range person {
		if personProps[k] == nil {
			t.Errorf("a person has %q, store.Person's schema does not", k)
		}
	}
	// Embedded structs are flattened as encoding/json does.
	acc := paths["/api/v1/accounts/{person}"].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)
	accProps := acc["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
	for _, k := range []string{"balance_text", "account", "block", "currency"} {
		if accProps[k] == nil {
			t.Errorf("statement has no %q: %v", k, accProps)
		}
	}
	// The recording is audio, not JSON.
	rec := paths["/api/v1/calls/{id}/recording"].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)
	if rec["content"].(map[string]any)["audio/wav"] == nil {
		t.Errorf("recording content %v", rec["content"])
	}
}

// TestOpenAPIQueryParametersAccepted: every documented query parameter of
// a GET route is one the handler reads, and a value of its documented
// type is accepted (most handlers refuse unknown parameters, so a
// documented name they do not know shows).
func TestOpenAPIQueryParametersAccepted(t *testing.T) {
	e := newEnv(t)
	person, err := people.New(e.st).CreatePerson(context.Background(), "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", Status: "active"})
	if err != nil {
		t.Fatal(err)
	}
	// The probe sees a refused name.
	var eb struct{ Error string }
	if e.do("GET", "/api/v1/calls?bogus=1", e.admin, nil, &eb); !strings.Contains(eb.Error, "unknown parameter") {
		t.Fatalf("probe: %q", eb.Error)
	}
	sample := map[string]string{"number": "+442079460001", "from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}
	probed := 0
	for _, pattern := range apiRoutes() {
		method, path, _ := strings.Cut(pattern, " ")
		d := opDocs[pattern]
		if method != "GET" || len(d.Query) == 0 {
			continue
		}
		path = strings.NewReplacer("{person}", person.ID, "{file}", "calls.csv", "{by}", "blocks").Replace(path)
		for _, q := range d.Query {
			v := sample[q.Name]
			switch {
			case v != "":
			case q.Schema["enum"] != nil:
				v = q.Schema["enum"].([]string)[0]
			case q.Schema["type"] == "integer":
				v = "1"
			case q.Schema["type"] == "boolean":
				v = "true"
			default:
				v = "x"
			}
			req, _ := http.NewRequest("GET", e.srv.URL+path+"?"+url.Values{q.Name: {v}}.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == 400 && (strings.Contains(string(data), "unknown parameter") || strings.Contains(string(data), q.Name)) {
				t.Errorf("%s: documented parameter %s=%s refused: %d %s", pattern, q.Name, v, r.StatusCode, data)
			}
			probed++
		}
	}
	if probed < 30 {
		t.Fatalf("only %d parameters probed", probed)
	}
}

// TestOpenAPINeedsSignIn: like every /api route, the document is for
// signed-in callers, and a console session (any role) gets it too.
func TestOpenAPINeedsSignIn(t *testing.T) {
	e := newEnv(t)
	var eb map[string]string
	if r := e.do("GET", "/api/v1/openapi.json", "", nil, &eb); r.StatusCode != 401 || eb["error"] == "" {
		t.Fatalf("unauthenticated: %d %v", r.StatusCode, eb)
	}
	se := e.sessionFor("reader", store.RoleReadOnly, false)
	var doc map[string]any
	if r := e.call(se, false, "GET", "/api/v1/openapi.json", nil, &doc); r.StatusCode != 200 || doc["paths"] == nil {
		t.Fatalf("session: %d", r.StatusCode)
	}
}

// TestOpenAPICallFiltersComplete: every filter of store.CallFilter that
// the calls search accepts is documented (a filter added to package
// callquery without documentation fails here).
func TestOpenAPICallFiltersComplete(t *testing.T) {
	documented := map[string]bool{}
	for _, q := range opDocs["GET /api/v1/calls"].Query {
		documented[q.Name] = true
	}
	for f := range reflect.TypeFor[reports.CallFilter]().Fields() {
		name := strings.ToLower(f.Name)
		if q := f.Tag.Get("query"); q != "" {
			name = q
		}
		if _, err := callquery.Parse(url.Values{name: {"x"}}); err != nil && strings.Contains(err.Error(), "unknown parameter") {
			continue
		}
		if !documented[name] {
			t.Errorf("the calls search accepts %q: document it in callFilters in central/api/openapi.go", name)
		}
	}
	for name := range documented {
		if _, err := callquery.Parse(url.Values{name: {"x"}}); err != nil && strings.Contains(err.Error(), "unknown parameter") {
			t.Errorf("callFilters documents %q, which the calls search refuses", name)
		}
	}
}
