package openapi

import (
	"slices"
	"testing"
)

func TestWildcards(t *testing.T) {
	for _, c := range []struct {
		in, path string
		names    []string
	}{
		{"/api/v1/inmates/{id}/contacts", "/api/v1/inmates/{id}/contacts", []string{"id"}},
		{"/api/v1/files/{rest...}", "/api/v1/files/{rest}", []string{"rest"}},
		{"/api/v1/{$}", "/api/v1/", nil},
		{"/api/v1/audit.csv", "/api/v1/audit.csv", nil},
	} {
		names, p := Wildcards(c.in)
		if p != c.path || !slices.Equal(names, c.names) {
			t.Errorf("%s: %s %v", c.in, p, names)
		}
	}
	if id := operationID("GET", "inmates/{id}/contacts"); id != "get_inmates_id_contacts" {
		t.Errorf("operationID %s", id)
	}
}
