package openapi

import (
	"cmp"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/kinline/kinline/central/authz"
)

// Owner tells which struct types are the API's own: those are inlined,
// unless they name the component they stand for (component != ""). Other
// packages' exported named struct types become components named
// "<package>.<Type>" ("store.Person").
type Owner func(t reflect.Type) (component string, own bool)

// generator builds the operations of one document.
type generator struct {
	prefix string
	docs   map[string]Doc
	schemas
}

// Paths returns the OpenAPI paths of the routes among patterns whose path
// is prefix or under it (the others are left out), each with its rule from
// rules and its documentation from docs, and the component schemas they
// refer to. A route missing from docs is listed with its pattern as
// summary; one missing from rules is an error (authz.ErrUnknownRoute).
//
// Every operation refers to the responses BadRequest, Unauthorized,
// Forbidden, NotFound and InternalError (and UnprocessableEntity unless it
// is a GET) under #/components/responses, and error answers to the schema
// Error: the caller's document defines them.
func Paths(prefix string, patterns []string, rules map[string]authz.Rule, docs map[string]Doc, own Owner) (paths map[string]map[string]any, schemas map[string]any, err error) {
	g := &generator{prefix: prefix, docs: docs, schemas: newSchemas(own)}
	paths = map[string]map[string]any{}
	opIDs := map[string]string{}
	for _, pattern := range patterns {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || path != prefix && !strings.HasPrefix(path, prefix+"/") {
			continue
		}
		rule, ok := rules[pattern]
		if !ok {
			return nil, nil, fmt.Errorf("%w: %s", authz.ErrUnknownRoute, pattern)
		}
		names, oaPath := Wildcards(path)
		op, err := g.operation(pattern, method, names, rule)
		if err != nil {
			return nil, nil, err
		}
		id := op["operationId"].(string)
		if prev, dup := opIDs[id]; dup {
			return nil, nil, fmt.Errorf("api: openapi: %s and %s have one operationId %q", prev, pattern, id)
		}
		opIDs[id] = pattern
		if paths[oaPath] == nil {
			paths[oaPath] = map[string]any{}
		}
		paths[oaPath][strings.ToLower(method)] = op
	}
	return paths, g.defs, nil
}

// Wildcards returns the {wildcard} names of a ServeMux path and the path in
// OpenAPI form ("{name...}" becomes "{name}", "{$}" is dropped).
func Wildcards(path string) (names []string, openapiPath string) {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
			continue
		}
		n := strings.TrimSuffix(s[1:len(s)-1], "...")
		if n == "$" {
			segs[i] = ""
			continue
		}
		names = append(names, n)
		segs[i] = "{" + n + "}"
	}
	return names, strings.Join(segs, "/")
}

// Ref refers to the component schema name.
func Ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// JSONContent is the content of a JSON body of schema.
func JSONContent(schema any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

// operation is the OpenAPI operation of pattern.
func (g *generator) operation(pattern, method string, wild []string, rule authz.Rule) (map[string]any, error) {
	d, documented := g.docs[pattern]
	if !documented {
		d = Doc{Summary: pattern, Description: "Not documented yet."}
	}
	_, path, _ := strings.Cut(pattern, " ")
	rest := strings.TrimPrefix(path, g.prefix+"/")
	tag, _, _ := strings.Cut(rest, "/")
	tag, _, _ = strings.Cut(tag, ".")
	params, err := parameters(pattern, d, documented, wild)
	if err != nil {
		return nil, err
	}
	op := map[string]any{
		"operationId":            operationID(method, rest),
		"summary":                d.Summary,
		"description":            d.Description + " " + access(rule),
		"tags":                   []string{tag},
		"x-kinline-roles":        rule.Roles,
		"x-kinline-block-scoped": rule.Scoped,
		"x-kinline-mfa":          rule.MFA,
	}
	if rule.Self {
		op["x-kinline-self"] = true
	}
	if params != nil {
		op["parameters"] = params
	}
	body, err := g.requestBody(pattern, d)
	if err != nil {
		return nil, err
	}
	if body != nil {
		op["requestBody"] = body
	}
	if op["responses"], err = g.responses(pattern, method, d); err != nil {
		return nil, err
	}
	return op, nil
}

// parameters are the operation's path parameters (wild, each described
// when the route is documented) and its query parameters.
func parameters(pattern string, d Doc, documented bool, wild []string) ([]any, error) {
	var params []any
	for _, n := range wild {
		desc := d.Path[n]
		if desc == "" && documented {
			return nil, fmt.Errorf("api: openapi: %s: path parameter {%s} not described", pattern, n)
		}
		params = append(params, map[string]any{"name": n, "in": "path", "required": true, "description": desc, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range d.Query {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Desc, "schema": q.Schema})
	}
	return params, nil
}

// requestBody is the operation's request body: a closed JSON object, or
// the media types of a raw body; nil without one.
func (g *generator) requestBody(pattern string, d Doc) (map[string]any, error) {
	switch {
	case d.Body != nil:
		s, err := g.body(d.Body)
		if err != nil {
			return nil, fmt.Errorf("api: openapi: %s: %w", pattern, err)
		}
		s["additionalProperties"] = false
		if err := describeFields(s, d.Fields); err != nil {
			return nil, fmt.Errorf("api: openapi: %s: %w", pattern, err)
		}
		return map[string]any{"required": true, "content": JSONContent(s)}, nil
	case d.RawBody != nil:
		return map[string]any{"required": true, "content": mediaContent(d.RawBody)}, nil
	}
	return nil, nil
}

// mediaContent is the content of a non-JSON body of the media types.
func mediaContent(types []string) map[string]any {
	c := map[string]any{}
	for _, m := range types {
		c[m] = map[string]any{}
	}
	return c
}

// responses are the operation's answers: its success, the common errors
// and its own.
func (g *generator) responses(pattern, method string, d Doc) (map[string]any, error) {
	status := d.Status
	if status == 0 {
		status = http.StatusOK
	}
	ok := map[string]any{"description": cmp.Or(d.OutDesc, http.StatusText(status))}
	switch {
	case d.Out != nil:
		s, err := g.schemaOfValue(d.Out)
		if err != nil {
			return nil, fmt.Errorf("api: openapi: %s: %w", pattern, err)
		}
		ok["content"] = JSONContent(s)
	case d.OutMedia != nil:
		ok["content"] = mediaContent(d.OutMedia)
	}
	if d.Location {
		ok["headers"] = map[string]any{"Location": map[string]any{"schema": map[string]any{"type": "string"}, "description": "The new item's URL."}}
	}
	resp := map[string]any{
		fmt.Sprint(status): ok,
		"400":              map[string]any{"$ref": "#/components/responses/BadRequest"},
		"401":              map[string]any{"$ref": "#/components/responses/Unauthorized"},
		"403":              map[string]any{"$ref": "#/components/responses/Forbidden"},
		"404":              map[string]any{"$ref": "#/components/responses/NotFound"},
		"500":              map[string]any{"$ref": "#/components/responses/InternalError"},
	}
	if method != http.MethodGet {
		resp["422"] = map[string]any{"$ref": "#/components/responses/UnprocessableEntity"}
	}
	for code, e := range d.Errors {
		switch e := e.(type) {
		case string:
			resp[fmt.Sprint(code)] = map[string]any{"description": e, "content": JSONContent(Ref("Error"))}
		case ErrorWith:
			s, err := g.schemaOfValue(e.Body)
			if err != nil {
				return nil, fmt.Errorf("api: openapi: %s: %w", pattern, err)
			}
			resp[fmt.Sprint(code)] = map[string]any{"description": e.Desc, "content": JSONContent(s)}
		default:
			return nil, fmt.Errorf("api: openapi: %s: error %d: %T is neither a description nor ErrorWith", pattern, code, e)
		}
	}
	return resp, nil
}

// operationID is a stable id: the method and the path's words,
// e.g. get_inmates_id_contacts.
func operationID(method, rest string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	word := false
	for _, r := range rest {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			if !word {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			word = true
		} else {
			word = false
		}
	}
	return b.String()
}

// access states a rule in words, for the operation's description.
func access(r authz.Rule) string {
	s := "Roles: " + strings.Join(r.Roles, ", ") + "."
	if r.Self {
		s += " Any signed-in user may also use it on their own user id."
	}
	if r.Scoped {
		s += " Block officers only reach their blocks' data."
	}
	if r.MFA {
		s += " Needs a verified second factor (TOTP) on a password session; an API token counts as one."
	}
	return s
}

// body is the inline object schema of a JSON request body (decode
// refuses unknown fields, so the caller closes it).
func (g *schemas) body(v any) (map[string]any, error) {
	if o, ok := v.(Obj); ok {
		return g.objectOf(o)
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("request body %s is not a JSON object", t)
	}
	return g.object(t)
}

// describeFields adds notes to an inline object schema's properties; a
// note for a property the schema lacks is an error (the table drifted).
func describeFields(s map[string]any, notes map[string]string) error {
	if len(notes) == 0 {
		return nil
	}
	props, _ := s["properties"].(map[string]any)
	for name, note := range notes {
		p, ok := props[name].(map[string]any)
		if !ok {
			return fmt.Errorf("note on body field %q, which the body does not have", name)
		}
		props[name] = withDescription(p, note)
	}
	return nil
}

// withDescription returns p with a description (a $ref keeps its target:
// the note sits beside it, as JSON Schema 2020-12 allows).
func withDescription(p map[string]any, desc string) map[string]any {
	out := make(map[string]any, len(p)+1)
	for k, v := range p {
		out[k] = v
	}
	out["description"] = desc
	return out
}

// OwnerOf is the Owner of the package that declares C, an interface its
// answer types implement to name their component (name calls it): a type
// of that package is the API's own, a component when it implements C and
// inlined otherwise; any other type is not.
func OwnerOf[C any](name func(C) string) Owner {
	pkg := reflect.TypeFor[C]().PkgPath()
	return func(t reflect.Type) (string, bool) {
		if t.PkgPath() != pkg {
			return "", false
		}
		if c, ok := reflect.Zero(t).Interface().(C); ok {
			return name(c), true
		}
		return "", true
	}
}

// Owners is the Owner that asks each of owners in turn.
func Owners(owners ...Owner) Owner {
	return func(t reflect.Type) (string, bool) {
		for _, o := range owners {
			if n, own := o(t); own {
				return n, true
			}
		}
		return "", false
	}
}
