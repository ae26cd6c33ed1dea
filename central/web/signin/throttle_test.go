package signin

import (
	"net/http/httptest"
	"testing"
)

func TestSourceAddress(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":             "192.0.2.1",
		"[::ffff:192.0.2.1]:1234":    "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:80":       "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"garbage":                    "garbage",
		"":                           "",
	} {
		if got := SourceAddress(in); got != want {
			t.Errorf("SourceAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestClientAddress: behind a proxy on central's host the client is the
// right-most address the proxy appended to X-Forwarded-For; entries the
// client wrote to its left change nothing, and nobody else's header is
// believed.
func TestClientAddress(t *testing.T) {
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"127.0.0.1:5000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"127.0.0.1:5000", []string{"10.0.0.1, 198.51.100.9"}, "198.51.100.9"},
		{"127.0.0.1:5000", []string{"10.0.0.1", "198.51.100.9, 127.0.0.1"}, "198.51.100.9"},
		{"[::1]:5000", []string{"2001:db8:5:6::7"}, "2001:db8:5:6::/64"},
		{"127.0.0.1:5000", nil, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"not an address"}, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"198.51.100.9, junk"}, "127.0.0.1"},
		{"192.0.2.1:5000", []string{"198.51.100.9"}, "192.0.2.1"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientAddress(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}
