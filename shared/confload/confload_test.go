package confload

import "testing"

func TestDecodeRefusesUnknownKeys(t *testing.T) {
	var v struct {
		Name string `yaml:"name"`
	}
	if err := Decode([]byte("name: a\n"), &v); err != nil || v.Name != "a" {
		t.Fatalf("known key: %v %+v", err, v)
	}
	if err := Decode([]byte("name: a\nnmae: b\n"), &v); err == nil {
		t.Fatal("a misspelt key was accepted")
	}
}

func TestResolve(t *testing.T) {
	rel, abs, empty := "pki/ca.pem", "/etc/ca.pem", ""
	Resolve("/srv/kinline", &rel, &abs, &empty)
	if rel != "/srv/kinline/pki/ca.pem" || abs != "/etc/ca.pem" || empty != "" {
		t.Fatalf("got %q %q %q", rel, abs, empty)
	}
}
