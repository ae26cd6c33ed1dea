// Package confload reads Kinline's YAML config files the same way for every
// binary: unknown keys are errors (a typo must not silently drop a
// setting), and relative paths are taken relative to the file's directory.
package confload

import (
	"bytes"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Decode decodes one YAML document into v, refusing keys v does not have.
func Decode(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// Resolve makes every non-empty relative path absolute against dir (the
// config file's directory).
func Resolve(dir string, paths ...*string) {
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
