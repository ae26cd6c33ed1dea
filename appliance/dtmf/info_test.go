package dtmf

import (
	"errors"
	"testing"
	"time"
)

func TestParseINFO(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		key      rune
		dur      time.Duration
		err      error
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond, nil},
		{"Application/DTMF-Relay; charset=utf-8", "signal= #\nduration = 250", '#', 250 * time.Millisecond, nil},
		{"application/dtmf-relay", "Signal=*\r\n", '*', 0, nil},
		{"application/dtmf-relay", "Signal=10\r\nDuration=100", '*', 100 * time.Millisecond, nil},
		{"application/dtmf-relay", "Signal=11", '#', 0, nil},
		{"application/dtmf-relay", "Signal=d\r\nDuration=\r\nVolume=10\r\n", 'D', 0, nil},
		{"application/dtmf", "7", '7', 0, nil},
		{"application/dtmf", " 0\r\n", '0', 0, nil},
		{"application/dtmf-relay", "Duration=160", 0, 0, ErrMalformed},
		{"application/dtmf-relay", "Signal=5\r\nSignal=6", 0, 0, ErrMalformed},
		{"application/dtmf-relay", "Signal=5\r\nDuration=abc", 0, 0, ErrMalformed},
		{"application/dtmf-relay", "Signal=5\r\nDuration=-1", 0, 0, ErrMalformed},
		{"application/dtmf-relay", "Signal=5\r\ngarbage", 0, 0, ErrMalformed},
		{"application/dtmf-relay", "Signal=", 0, 0, ErrMalformed},
		{"application/dtmf-relay", "Signal=!", 0, 0, ErrUnsupported},
		{"application/dtmf-relay", "Signal=E", 0, 0, ErrUnsupported},
		{"application/dtmf-relay", "Signal=55", 0, 0, ErrUnsupported},
		{"application/dtmf", "", 0, 0, ErrMalformed},
		{"application/sdp", "v=0", 0, 0, ErrContentType},
		{"", "Signal=5", 0, 0, ErrContentType},
		{"application/dtmf-relay", "Signal=5\r\n" + string(make([]byte, MaxINFOBody)), 0, 0, ErrMalformed},
	} {
		r, err := ParseINFO(tc.ct, []byte(tc.body))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ParseINFO(%q, %q) = %+v, %v; want %v", tc.ct, tc.body, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.Key != tc.key || r.Duration != tc.dur {
			t.Errorf("ParseINFO(%q, %q) = %+v, %v; want %q %v", tc.ct, tc.body, r, err, tc.key, tc.dur)
		}
	}
}
