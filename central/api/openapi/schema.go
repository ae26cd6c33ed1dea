package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// schemas reflects Go types into JSON Schemas as encoding/json marshals
// them; exported named struct types of other packages become components
// ("store.Person"), and so do the API's own types that name themselves
// (Owner); the rest is inline.
type schemas struct {
	own   Owner
	defs  map[string]any
	names map[reflect.Type]string
	taken map[string]reflect.Type
}

func newSchemas(own Owner) schemas {
	if own == nil {
		own = func(reflect.Type) (string, bool) { return "", false }
	}
	return schemas{own: own, defs: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	numberType = reflect.TypeFor[json.Number]()
	rawType    = reflect.TypeFor[json.RawMessage]()
	objType    = reflect.TypeFor[Obj]()
)

// of returns the schema of t.
func (g *schemas) of(t reflect.Type) (map[string]any, error) {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}, nil
	case numberType:
		return map[string]any{"type": []string{"string", "number"}}, nil
	case rawType:
		return map[string]any{}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Interface:
		return map[string]any{}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}, nil
		}
		items, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		if t == objType {
			return nil, fmt.Errorf("an Obj is described by its value, not its type")
		}
		v, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": v}, nil
	case reflect.Struct:
		n, own := g.own(t)
		if n == "" && (t.Name() == "" || own || !exported(t.Name())) {
			return g.object(t)
		}
		if known, ok := g.names[t]; ok {
			return Ref(known), nil
		}
		if n == "" {
			pkg := t.PkgPath()
			n = pkg[strings.LastIndex(pkg, "/")+1:] + "." + t.Name()
		}
		if other, dup := g.taken[n]; dup && other != t {
			return nil, fmt.Errorf("schema name %s given to %s and %s", n, other.PkgPath(), t.PkgPath())
		}
		g.names[t], g.taken[n] = n, t
		s, err := g.object(t)
		if err != nil {
			return nil, err
		}
		g.defs[n] = s
		return Ref(n), nil
	}
	return nil, fmt.Errorf("no JSON schema for %s", t)
}

// exported reports whether name is exported.
func exported(name string) bool { return name != "" && name[0] >= 'A' && name[0] <= 'Z' }

// object is the schema of struct t: its fields as encoding/json names
// them, embedded structs' fields promoted unless an outer field has the
// name.
func (g *schemas) object(t reflect.Type) (map[string]any, error) {
	props := map[string]any{}
	var embedded []reflect.Type
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s, err := g.of(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.Name, err)
		}
		if slices.Contains(strings.Split(opts, ","), "string") {
			s = map[string]any{"type": "string"}
		}
		props[name] = s
	}
	for _, et := range embedded {
		inner, err := g.object(et)
		if err != nil {
			return nil, err
		}
		for n, s := range inner["properties"].(map[string]any) {
			if _, outer := props[n]; !outer {
				props[n] = s
			}
		}
	}
	return map[string]any{"type": "object", "properties": props}, nil
}

// objectOf is the schema of an Obj value: its keys with their values'
// types.
func (g *schemas) objectOf(o Obj) (map[string]any, error) {
	props := map[string]any{}
	for k, v := range o {
		s, err := g.schemaOfValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		props[k] = s
	}
	return map[string]any{"type": "object", "properties": props}, nil
}

// schemaOfValue is the schema of v's type, or of v itself for an Obj or a
// Schema.
func (g *schemas) schemaOfValue(v any) (map[string]any, error) {
	switch v := v.(type) {
	case Obj:
		return g.objectOf(v)
	case Schema:
		return v, nil
	}
	return g.of(reflect.TypeOf(v))
}
