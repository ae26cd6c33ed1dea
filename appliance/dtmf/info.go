package dtmf

import (
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
)

// MaxINFOBody bounds the INFO bodies ParseINFO reads.
const MaxINFOBody = 1024

// maxINFODuration bounds a reported duration (one minute).
const maxINFODuration = 60000

// Relay is a key press carried by a SIP INFO request.
type Relay struct {
	Key rune
	// Duration is the press's length when the sender gave one (the
	// dtmf-relay "Duration" line, in milliseconds), else 0.
	Duration time.Duration
}

// ParseINFO parses the body of a SIP INFO request carrying a key press,
// by its Content-Type:
//
//	application/dtmf-relay   "Signal=5\r\nDuration=160\r\n" (keys are
//	                         case-insensitive, spaces and bare \n
//	                         tolerated, other lines ignored)
//	application/dtmf         "5"
//
// Signals are the 16 keys ('a'-'d' accepted), or "10" and "11" for '*'
// and '#' as some gateways send. Other content types return
// ErrContentType; flash-hook and other events ErrUnsupported.
func ParseINFO(contentType string, body []byte) (Relay, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return Relay{}, fmt.Errorf("%w: %q: %w", ErrContentType, contentType, err)
	}
	if len(body) > MaxINFOBody {
		return Relay{}, fmt.Errorf("%w: INFO body of %d bytes", ErrMalformed, len(body))
	}
	switch mt {
	case "application/dtmf-relay":
		return parseRelay(body)
	case "application/dtmf":
		k, err := parseSignal(string(bytes.TrimSpace(body)))
		return Relay{Key: k}, err
	}
	return Relay{}, fmt.Errorf("%w: %s", ErrContentType, mt)
}

func parseRelay(body []byte) (Relay, error) {
	var r Relay
	haveSignal := false
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return Relay{}, fmt.Errorf("%w: dtmf-relay line %q", ErrMalformed, line)
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch name {
		case "signal":
			if haveSignal {
				return Relay{}, fmt.Errorf("%w: two Signal lines", ErrMalformed)
			}
			k, err := parseSignal(value)
			if err != nil {
				return Relay{}, err
			}
			r.Key, haveSignal = k, true
		case "duration":
			if value == "" {
				continue
			}
			ms, err := strconv.Atoi(value)
			if err != nil || ms < 0 || ms > maxINFODuration {
				return Relay{}, fmt.Errorf("%w: Duration %q", ErrMalformed, value)
			}
			r.Duration = time.Duration(ms) * time.Millisecond
		}
	}
	if !haveSignal {
		return Relay{}, fmt.Errorf("%w: no Signal line", ErrMalformed)
	}
	return r, nil
}

func parseSignal(s string) (rune, error) {
	switch s {
	case "":
		return 0, fmt.Errorf("%w: empty signal", ErrMalformed)
	case "10":
		return '*', nil
	case "11":
		return '#', nil
	case "!", "16":
		return 0, fmt.Errorf("%w: flash-hook", ErrUnsupported)
	}
	if len(s) == 1 {
		if code, ok := CodeOf(rune(s[0])); ok {
			k, _ := KeyOf(code)
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: signal %q", ErrUnsupported, s)
}
