package eventlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/kinline/kinline/shared/wire"
)

// Text the databases store differently. SQLite keeps any bytes in a TEXT
// column; PostgreSQL refuses a NUL character and invalid UTF-8 with an
// error, which would fail the whole transaction: an appliance's batch
// would never be acknowledged, or the projection (one cursor for every
// appliance) would stop at the event. So the store refuses such text from
// appliances on both databases alike: an event whose type, prev_hash or
// payload is not NUL-free UTF-8 is not stored (AlarmEventInvalid), and a
// stored event whose payload decodes to a string holding a NUL is not
// projected (AlarmPayload). Strings decoded from JSON are valid UTF-8
// already (encoding/json replaces invalid bytes), but "\u0000" decodes to
// a NUL.

// checkStorableEvent reports text in ev that a database could not store.
func checkStorableEvent(ev *wire.Event) error {
	if !storableText(string(ev.Type)) || !storableText(ev.PrevHash) {
		return errInvalid("type or prev_hash holds a NUL character or invalid UTF-8")
	}
	if !utf8.Valid(ev.Payload) || bytes.IndexByte(ev.Payload, 0) >= 0 {
		return errInvalid("payload holds a NUL character or invalid UTF-8")
	}
	return nil
}

// storableText reports whether s is UTF-8 without NUL characters.
func storableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// jsonHasNUL reports whether a string (or an object key) of the JSON
// document doc decodes to text holding a NUL character. It is false for a
// document that does not decode (that error is reported by its decoder).
func jsonHasNUL(doc []byte) bool {
	// The only way to write a NUL in valid JSON is the escape \u0000.
	if !bytes.Contains(doc, []byte(`\u0000`)) {
		return false
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return false
	}
	return anyHasNUL(v)
}

func anyHasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, e := range x {
			if anyHasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || anyHasNUL(e) {
				return true
			}
		}
	}
	return false
}
