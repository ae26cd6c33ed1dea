package signin

import "testing"

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
