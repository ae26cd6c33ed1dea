package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/api/openapi"
)

// Every list route pages the same way (listRoutes): ?limit= (1 to
// MaxLimit, default DefaultLimit; 0 is the default, more than MaxLimit is
// MaxLimit) and ?offset= (items to skip); the answer carries, beside the
// items, "limit" and "offset" (the page answered), "has_more" (whether
// items follow this page) and "next" (the offset of the next page, null on
// the last), so a client always knows whether it got everything.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// listSpec says how a list route is paged: Key is the answer's field that
// holds the items; a Store route pages in its store (it reads limit and
// offset and is asked for one item more than the page, to learn whether
// more follow), any other route answers the whole list, paged here.
type listSpec struct {
	Key   string
	Store bool
}

// listRoutes are the API's list routes (TestListsPageAlike walks every GET
// route: one answering an array is here or in wholeAnswers).
var listRoutes = map[string]listSpec{
	"GET /api/v1/inmates":                         {"inmates", true},
	"GET /api/v1/officers":                        {"officers", true},
	"GET /api/v1/officer-actions":                 {"officer_actions", true},
	"GET /api/v1/alarms":                          {"alarms", true},
	"GET /api/v1/calls":                           {"calls", true},
	"GET /api/v1/audit":                           {"audit", true},
	"GET /api/v1/accounts":                        {"accounts", true},
	"GET /api/v1/inmates/{id}/contacts":           {"contacts", false},
	"GET /api/v1/blocks":                          {"blocks", false},
	"GET /api/v1/appliances":                      {"appliances", false},
	"GET /api/v1/terminals":                       {"terminals", false},
	"GET /api/v1/numbers":                         {"numbers", false},
	"GET /api/v1/calls/in-progress":               {"calls", false},
	"GET /api/v1/calls/{id}/notes":                {"notes", false},
	"GET /api/v1/calls/{id}/bookmarks":            {"bookmarks", false},
	"GET /api/v1/appliances/{appliance}/commands": {"commands", false},
	"GET /api/v1/tokens":                          {"tokens", false},
	"GET /api/v1/users":                           {"users", false},
}

// wholeAnswers are GET routes whose answers hold arrays but are not
// lists, and why: they are answered whole.
var wholeAnswers = map[string]string{
	"GET /api/v1/blocks/{name}/rules":   "a block's call rules, replaced whole by PUT",
	"GET /api/v1/blocks/{name}/windows": "a block's calling windows, replaced whole by PUT",
	"GET /api/v1/rates":                 "the rate table, replaced whole by PUT",
	"GET /api/v1/accounts/{person}":     "an account's statement for a period (from, to)",
	"GET /api/v1/reconciliation":        "a report over every account",
	"GET /api/v1/stats/{by}":            "a report; its limit is the rows of a ranking",
	"GET /api/v1/reports/billing":       "a report for a period",
	"GET /api/v1/openapi.json":          "the API's description",
}

// listPaging is the description of limit and offset on every list route.
var listPaging = []openapi.Param{
	openapi.Int("limit", fmt.Sprintf("Page size: 1 to %d (default %d; 0 gives the default, more than %d gives %d).", MaxLimit, DefaultLimit, MaxLimit, MaxLimit)),
	openapi.Int("offset", "Items to skip (default 0): the previous answer's next."),
}

// listFields are the paging fields every list answer carries.
var listFields = openapi.Obj{"limit": 0, "offset": 0, "has_more": false, "next": (*int)(nil)}

// page is a list request's page.
type page struct{ limit, offset int }

// readPage reads limit and offset by the list rule.
func readPage(r *http.Request) (page, error) {
	q := r.URL.Query()
	var p page
	for name, dst := range map[string]*int{"limit": &p.limit, "offset": &p.offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000 {
				return page{}, fmt.Errorf("%w: %s must be an integer from 0 to 1000000", ErrBadRequest, name)
			}
			*dst = n
		}
	}
	switch {
	case p.limit == 0:
		p.limit = DefaultLimit
	case p.limit > MaxLimit:
		p.limit = MaxLimit
	}
	return p, nil
}

// paged serves list route spec with h by the list rule: h is asked for
// the page (a Store route, one item more) or the whole list, and its
// answer is cut to the page and given the paging fields.
func (s *Server) paged(spec listSpec, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := readPage(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		r2 := r.Clone(httpjson.WithAskedQuery(r.Context(), r.URL.RawQuery))
		q := r2.URL.Query()
		q.Del("limit")
		q.Del("offset")
		if spec.Store {
			q.Set("limit", strconv.Itoa(p.limit+1))
			if p.offset > 0 {
				q.Set("offset", strconv.Itoa(p.offset))
			}
		}
		r2.URL.RawQuery = q.Encode()
		rec := &recorder{header: w.Header(), status: http.StatusOK}
		h(rec, r2)
		if rec.status != http.StatusOK {
			w.WriteHeader(rec.status)
			w.Write(rec.body.Bytes())
			return
		}
		var body map[string]json.RawMessage
		var items []json.RawMessage
		if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil {
			s.fail(w, r, fmt.Errorf("api: list answer: %w", err))
			return
		}
		if err := json.Unmarshal(body[spec.Key], &items); err != nil {
			s.fail(w, r, fmt.Errorf("api: list answer's %s: %w", spec.Key, err))
			return
		}
		if !spec.Store {
			items = items[min(p.offset, len(items)):]
		}
		out := map[string]any{}
		for k, v := range body {
			out[k] = v
		}
		more := len(items) > p.limit
		items = append([]json.RawMessage{}, items[:min(p.limit, len(items))]...) // [] rather than null
		out[spec.Key], out["limit"], out["offset"], out["has_more"], out["next"] = items, p.limit, p.offset, more, nil
		if more {
			out["next"] = p.offset + p.limit
		}
		if _, ok := body["next_offset"]; ok {
			delete(out, "next_offset")
			if more {
				out["next_offset"] = p.offset + p.limit
			}
		}
		httpjson.Write(w, http.StatusOK, out)
	}
}

// recorder keeps a handler's answer for paged to cut.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rc *recorder) Header() http.Header         { return rc.header }
func (rc *recorder) WriteHeader(status int)      { rc.status = status }
func (rc *recorder) Write(b []byte) (int, error) { return rc.body.Write(b) }

// listDocs is docs with every list route's paging documented alike: the
// rule's limit and offset instead of the route's own, and the paging
// fields in its answer.
func listDocs(docs map[string]openapi.Doc) map[string]openapi.Doc {
	out := maps.Clone(docs)
	for pattern := range listRoutes {
		d, ok := out[pattern]
		if !ok {
			continue
		}
		d.Query = slices.DeleteFunc(slices.Clone(d.Query), func(p openapi.Param) bool { return p.Name == "limit" || p.Name == "offset" })
		d.Query = append(d.Query, listPaging...)
		if obj, ok := d.Out.(openapi.Obj); ok {
			obj = maps.Clone(obj)
			maps.Copy(obj, listFields)
			d.Out = obj
		}
		d.Description += " A list: paged by limit and offset, the answer says has_more and next (see the API's description)."
		out[pattern] = d
	}
	return out
}
