// Package number normalizes telephone numbers as dialled or entered. It
// imports nothing of Kinline's, so both shared/policy (decisions) and
// shared/ledger (rate prefixes) use the same rule without importing each
// other. policy.NormalizeNumber is the name the rest of the code knows it by.
package number

import "strings"

// MaxLen is the longest normalized number.
const MaxLen = 32

// Normalize reduces a dialled or entered number to its digits, keeping a
// leading '+' (or turning a leading "00" into '+'). Spaces, dashes, dots and
// parentheses are dropped. It returns "" when the number holds anything
// else, no digit, or more than MaxLen characters.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	if IsNormalized(s) {
		return s // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '+' && b.Len() == 0 && i == strings.IndexByte(s, '+'):
			b.WriteByte('+')
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	if strings.Trim(out, "+") == "" || len(out) > MaxLen {
		return ""
	}
	return out
}

// IsNormalized reports whether s is already what Normalize returns for it:
// an optional leading '+' then at least one digit, not starting "00", at
// most MaxLen characters.
func IsNormalized(s string) bool {
	if len(s) == 0 || len(s) > MaxLen || s == "+" {
		return false
	}
	if len(s) >= 2 && s[0] == '0' && s[1] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] == '+' && i == 0) {
			return false
		}
	}
	return true
}
