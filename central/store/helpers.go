package store

// Text and SQL helpers shared by the core's files and, through domain.go,
// the domain packages.

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

func validText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalid, field)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%w: %s must be valid text of at most %d characters", ErrInvalid, field, max)
	}
	for _, r := range s {
		if HiddenRune(r) {
			return fmt.Errorf("%w: %s contains a control or formatting character (%U), such as a newline or a bidirectional override", ErrInvalid, field, r)
		}
	}
	return nil
}

// inList is "col IN ($n, ...)" over vals, appending them to args; with no
// values it is a condition that is never true.
func inList(col string, vals []string, args *[]any) string {
	if len(vals) == 0 {
		return "1 = 0"
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		*args = append(*args, v)
		ph[i] = fmt.Sprintf("$%d", len(*args))
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")"
}

// likeEscape escapes LIKE's wildcards with a backslash.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
