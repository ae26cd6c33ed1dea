package callctl

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestInfoKey(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		key      rune
		status   int
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 200},
		{"application/dtmf-relay", "signal= #\n", '#', 200},
		{"application/dtmf-relay", "Signal=11\r\n", '#', 200},
		{"Application/DTMF-Relay; charset=utf-8", "Signal=*\r\n", '*', 200},
		{"application/dtmf", "9", '9', 200},
		{"application/dtmf", " 1 \r\n", '1', 200},
		{"", "", 0, 200}, // keep-alive INFO
		{"application/dtmf-relay", "Signal=16\r\n", 0, 200}, // flash-hook: not a key
		{"application/sdp", "v=0\r\n", 0, 415},
		{"text/plain", "5", 0, 415},
		{"application/dtmf-relay", "Signal\r\n", 0, 400},
		{"application/dtmf-relay", "Signal=5\r\nSignal=6\r\n", 0, 400},
		{"application/dtmf-relay", strings.Repeat("x", 2000), 0, 400},
		{";;", "5", 0, 415},
	} {
		key, status := infoKey(tc.ct, []byte(tc.body))
		if key != tc.key || status != tc.status {
			t.Errorf("infoKey(%q, %q) = %q %d, want %q %d", tc.ct, tc.body, key, status, tc.key, tc.status)
		}
	}
}

// FuzzInfoKey: no input makes infoKey panic; it answers only 200, 400 or
// 415, and a key comes only with 200 and is a DTMF key.
func FuzzInfoKey(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("", []byte(""))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		key, status := infoKey(ct, body)
		switch status {
		case sip.StatusOK:
			if key != 0 && !strings.ContainsRune("0123456789*#ABCD", key) {
				t.Fatalf("key %q from %q %q", key, ct, body)
			}
		case sip.StatusBadRequest, sip.StatusUnsupportedMediaType:
			if key != 0 {
				t.Fatalf("key %q with status %d", key, status)
			}
		default:
			t.Fatalf("status %d", status)
		}
	})
}
