// Package openapi generates the OpenAPI 3.1 paths and schemas of a JSON
// API from what the API actually registers: its route patterns, their
// rules in the access matrix (package authz) and a table of documentation
// keyed by pattern (Doc). Request and response body schemas are reflected
// from values of the Go types the handlers decode and write, as
// encoding/json marshals them. Package api feeds it and wraps the result
// in its document (GET /api/v1/openapi.json).
package openapi

import "fmt"

// Doc documents one route.
type Doc struct {
	Summary     string
	Description string
	// Path describes each {wildcard} of the pattern.
	Path map[string]string
	// Query are the query parameters the handler reads.
	Query []Param
	// Body is a value of the JSON request body's type (the handler decodes
	// it refusing unknown fields); RawBody the media types of a non-JSON
	// body instead.
	Body    any
	RawBody []string
	// Fields notes request body fields by JSON name.
	Fields map[string]string
	// Status is the success status (default 200); Out a value of the JSON
	// success body's type, or OutMedia the media types of a non-JSON one;
	// OutDesc describes it.
	Status   int
	Out      any
	OutMedia []string
	OutDesc  string
	// Location: a 201 names the new item's URL in Location.
	Location bool
	// Errors are the route's own error answers beyond the common ones
	// (status to description); a value of ErrorWith for a body other than
	// the error shape.
	Errors map[int]any
}

// Obj is a JSON object whose properties have the types of its values.
type Obj map[string]any

// Schema is a body given by its JSON Schema.
type Schema map[string]any

// ErrorWith is an error answer whose body is Body (not the error shape).
type ErrorWith struct {
	Desc string
	Body any
}

// Param is a query parameter.
type Param struct {
	Name, Desc string
	Schema     map[string]any
}

// Str is a string query parameter.
func Str(name, desc string) Param { return Param{name, desc, map[string]any{"type": "string"}} }

// Int is a non-negative integer query parameter.
func Int(name, desc string) Param {
	return Param{name, desc, map[string]any{"type": "integer", "minimum": 0}}
}

// Bool is a boolean query parameter.
func Bool(name, desc string) Param {
	return Param{name, desc, map[string]any{"type": "boolean"}}
}

// Time is a date-time query parameter.
func Time(name, desc string) Param {
	return Param{name, desc, map[string]any{"type": "string", "format": "date-time"}}
}

// Enum is a string query parameter of one of values.
func Enum(name, desc string, values ...string) Param {
	return Param{name, desc, map[string]any{"type": "string", "enum": values}}
}

// Paging is the limit and offset of a list: def results by default, max
// at most (beyond it, the default).
func Paging(def, max int) []Param {
	return []Param{
		Int("limit", fmt.Sprintf("Page size: 1 to %d (default %d; 0 or more than %d gives the default).", max, def, max)),
		Int("offset", "Results to skip (default 0)."),
	}
}
