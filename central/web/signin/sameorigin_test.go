package signin

import (
	"net/http/httptest"
	"testing"
)

// TestSameOrigin: what a browser sends on the console's own form posts is
// accepted (including Chromium's "Origin: null" under Referrer-Policy:
// no-referrer, vouched for by Sec-Fetch-Site), and posts from other sites
// are refused however they present themselves.
func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, fetchSite string
		ok                bool
	}{
		{"", "", true}, // non-browser client
		{"http://central.example", "same-origin", true},       // same host
		{"null", "same-origin", true},                         // Chromium, no-referrer page
		{"null", "", true},                                    // old browser, privacy mode
		{"null", "cross-site", false},                         // sandboxed iframe elsewhere
		{"null", "same-site", false},                          // a sibling subdomain
		{"https://evil.example", "cross-site", false},         // another site
		{"https://evil.example", "same-origin", false},        // forged header, real Origin
		{"http://central.example:8443", "same-origin", false}, // other port
	} {
		r := httptest.NewRequest("POST", "http://central.example/login", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.fetchSite != "" {
			r.Header.Set("Sec-Fetch-Site", tc.fetchSite)
		}
		if got := SameOrigin(r); got != tc.ok {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: SameOrigin = %v, want %v", tc.origin, tc.fetchSite, got, tc.ok)
		}
	}
}
