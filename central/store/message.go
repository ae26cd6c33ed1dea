package store

import (
	"strings"
	"unicode"
)

// internalPrefixes are the package prefixes and sentinel labels errors
// carry that mean nothing to a person reading the message.
var internalPrefixes = []string{
	"store: ", "api: ", "authz: ", "recordings: ", "callquery: ", "tables: ",
	"invalid input: ", "bad request: ", "bad query: ", "unreadable import file: ",
}

// Message is text (an error's) as shown to a person, by the API and the
// console alike: without the packages' prefixes ("store: invalid input: "
// and the like, at the start or after another prefix), with every control
// or format character (newlines, bidirectional overrides) replaced by a
// space, and trimmed.
func Message(text string) string {
	for changed := true; changed; {
		changed = false
		for _, p := range internalPrefixes {
			if rest, ok := strings.CutPrefix(text, p); ok && strings.TrimSpace(rest) != "" {
				text, changed = rest, true
			}
		}
	}
	for _, p := range internalPrefixes[:6] {
		text = strings.ReplaceAll(text, ": "+p, ": ")
	}
	text = strings.Map(func(r rune) rune {
		if HiddenRune(r) {
			return ' '
		}
		return r
	}, text)
	return strings.TrimSpace(text)
}

// HiddenRune reports whether r is a control character (C0, DEL, C1), a
// line or paragraph separator, or a format character (bidirectional
// embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069,
// marks, zero-width spaces, the byte-order mark): characters that change
// or hide how text reads. Zero-width (non-)joiners (U+200C, U+200D) are
// not: some scripts' names and emoji need them.
func HiddenRune(r rune) bool {
	switch {
	case r == 0x200c || r == 0x200d:
		return false
	case unicode.IsControl(r), r == 0x2028, r == 0x2029, unicode.Is(unicode.Cf, r):
		return true
	}
	return false
}
