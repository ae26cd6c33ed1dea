// Package sipvia makes sipgo's parsers of Via, From and To accept the
// whitespace RFC 3261 allows there: in a Via around "/" in the
// sent-protocol and around ";", "=", ":" and ","; in From and To around
// the ";" and "=" of their parameters (SWS in the grammar: SLASH, SEMI,
// EQUAL, COLON, COMMA), and runs of spaces and tabs. sipgo v1.7.2 splits on
// single separators, so RFC 4475's wsinv message ("v:  SIP  / 2.0  / TCP
// spindle.example.com   ;\r\n  branch  =  ...", "from: ... <sip:...>\r\n
// ;\r\n  tag = 98asjd8") came out with a Via "SIP/2.0/" (no transport, its
// second value lost) and a From without a tag, and the appliance answered
// a valid message with 400.
//
// Parsers wraps sipgo's header parsers: such a value is first rewritten in
// the canonical form ("SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8",
// "<sip:jdrosen@example.com>;tag=98asjd8") and then parsed by sipgo's own
// parser. Values already in that form (what every real IAD and trunk
// sends) are passed through untouched, without allocating.
package sipvia

import (
	"errors"
	"reflect"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Parsers returns sipgo's default header parsers with Via, From and To
// (and their compact forms v, f, t) made tolerant of RFC 3261
// whitespace. The map is a copy: sipgo's own is not changed.
func Parsers() map[string]sip.HeaderParser {
	def := sip.DefaultHeadersParser()
	m := make(map[string]sip.HeaderParser, len(def))
	for k, v := range def {
		m[k] = v
	}
	for _, name := range []string{"via", "v"} {
		if p, ok := def[name]; ok {
			m[name] = tolerant(p, Normalize)
		}
	}
	for _, name := range []string{"from", "f", "to", "t"} {
		if p, ok := def[name]; ok {
			m[name] = tolerant(p, NormalizeNameAddr)
		}
	}
	return m
}

// NewParser is sip.NewParser with Parsers.
func NewParser() *sip.Parser { return sip.NewParser(sip.WithHeadersParsers(Parsers())) }

// tolerant wraps sipgo's parser p, rewriting values with normalize.
func tolerant(p sip.HeaderParser, normalize func(string) (string, []int)) sip.HeaderParser {
	return func(name []byte, text string) (sip.Header, error) {
		norm, orig := normalize(text)
		if orig == nil {
			return p(name, text)
		}
		h, err := p(name, norm)
		if err == nil {
			return h, nil
		}
		// A multi-valued header: sipgo's parser reports the comma's offset
		// in the text it was given, and its caller cuts the original
		// text there to parse the next value. The offset must be moved
		// back to the original text, in an error of sipgo's own
		// (unexported) type, which is an int.
		if v := reflect.ValueOf(err); v.Kind() == reflect.Int && err.Error() == "comma detected" {
			off := int(v.Int())
			if off < 0 || off >= len(orig) {
				return h, errors.New("sipvia: comma offset outside the Via value")
			}
			e := reflect.New(v.Type()).Elem()
			e.SetInt(int64(orig[off]))
			return h, e.Interface().(error)
		}
		return h, err
	}
}

// viaSeparators may have whitespace on either side in a Via (RFC 3261
// SWS); paramSeparators in the parameters of From and To.
const (
	viaSeparators   = "/;=:,"
	paramSeparators = ";="
)

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Normalize rewrites a Via header value in canonical form: whitespace
// around separators removed, other runs of whitespace (between the
// transport and the sent-by) made one space. Quoted strings and IPv6
// references ("[...]") are copied as they are. If text is canonical
// already, Normalize returns it and a nil orig; otherwise orig[i] is the
// offset in text of byte i of the result.
func Normalize(text string) (norm string, orig []int) {
	return normalize(text, 0, viaSeparators)
}

// NormalizeNameAddr is Normalize for a From or To value: the name-addr
// up to its closing ">" is kept as it is (a display name's spaces are
// its own) and whitespace is removed around the ";" and "=" of the
// parameters after it. A value without "<" (an addr-spec, whose
// parameters are the header's) is normalized whole.
func NormalizeNameAddr(text string) (norm string, orig []int) {
	return normalize(text, nameAddrEnd(text), paramSeparators)
}

// nameAddrEnd is the offset just past the ">" closing text's name-addr,
// or 0 if it has none; quoted strings are skipped.
func nameAddrEnd(text string) int {
	quoted := false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '<':
			if j := strings.IndexByte(text[i:], '>'); j >= 0 {
				return i + j + 1
			}
			return 0
		}
	}
	return 0
}

// normalize keeps text[:from] and rewrites the rest with seps as the
// separators whitespace may surround.
func normalize(text string, from int, seps string) (string, []int) {
	if canonical(text[from:], seps) {
		return text, nil
	}
	var b strings.Builder
	b.Grow(len(text))
	orig := make([]int, 0, len(text))
	emit := func(c byte, at int) {
		b.WriteByte(c)
		orig = append(orig, at)
	}
	isSep := func(c byte) bool { return strings.IndexByte(seps, c) >= 0 }
	for i := 0; i < from; i++ {
		emit(text[i], i)
	}
	last := byte(0) // last byte emitted after from, 0 at the start
	for i := from; i < len(text); {
		c := text[i]
		switch {
		case isSpace(c):
			j := i
			for j < len(text) && isSpace(text[j]) {
				j++
			}
			// One space between two words; none next to a separator or
			// at either end.
			if last != 0 && j < len(text) && !isSep(last) && !isSep(text[j]) {
				emit(' ', i)
				last = ' '
			}
			i = j
		case c == '"' || c == '[':
			end := byte('"')
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for j < len(text) && text[j] != end {
				if end == '"' && text[j] == '\\' && j+1 < len(text) {
					j++
				}
				j++
			}
			if j < len(text) {
				j++ // the closing quote or bracket
			}
			for k := i; k < j; k++ {
				emit(text[k], k)
			}
			last = text[j-1]
			i = j
		default:
			emit(c, i)
			last = c
			i++
		}
	}
	return b.String(), orig
}

// canonical reports whether normalize would leave text as it is: no
// whitespace but single spaces between two non-separators, and none at
// either end, outside quoted strings.
func canonical(text, seps string) bool {
	quoted := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if quoted {
			switch c {
			case '\\':
				i++
			case '"':
				quoted = false
			}
			continue
		}
		switch {
		case c == '"':
			quoted = true
		case c == '[':
			return false // rare enough to take the slow path
		case isSpace(c):
			if c != ' ' || i == 0 || i == len(text)-1 {
				return false
			}
			p, n := text[i-1], text[i+1]
			if isSpace(n) || strings.IndexByte(seps, p) >= 0 || strings.IndexByte(seps, n) >= 0 {
				return false
			}
		}
	}
	return !quoted
}
