package policy

import (
	"strings"

	"github.com/kinline/kinline/shared/wire"
)

// numFlags are the prison-wide attributes of a number (wire.NumberAttr
// kinds).
type numFlags uint8

const (
	numBlocked numFlags = 1 << iota
	numPrivileged
	numFree
	numHidden
)

func kindFlag(kind string) numFlags {
	switch kind {
	case wire.NumberKindBlocked:
		return numBlocked
	case wire.NumberKindPrivileged:
		return numPrivileged
	case wire.NumberKindFree:
		return numFree
	case wire.NumberKindHidden:
		return numHidden
	}
	return 0 // a kind from a newer central: no effect here
}

type prefixAttr struct {
	prefix string
	flags  numFlags
}

// numberList is Policy.Numbers prepared for lookups: exact numbers in a
// map, '*' prefixes in a short list.
type numberList struct {
	exact    map[string]numFlags
	prefixes []prefixAttr
}

func newNumberList(attrs []wire.NumberAttr) numberList {
	l := numberList{exact: make(map[string]numFlags, len(attrs))}
	byPrefix := map[string]int{}
	for _, a := range attrs {
		f := kindFlag(a.Kind)
		if f == 0 {
			continue
		}
		if p, ok := strings.CutSuffix(strings.TrimSpace(a.Number), "*"); ok {
			if p != "" {
				if p = NormalizeNumber(p); p == "" {
					continue // not a number prefix: matches nothing
				}
			}
			if i, seen := byPrefix[p]; seen {
				l.prefixes[i].flags |= f
			} else {
				byPrefix[p] = len(l.prefixes)
				l.prefixes = append(l.prefixes, prefixAttr{prefix: p, flags: f})
			}
			continue
		}
		if n := NormalizeNumber(a.Number); n != "" {
			l.exact[n] |= f
		}
	}
	return l
}

// lookup returns the union of the attributes of every entry matching the
// normalized number n, and those of its exact entry alone.
func (l numberList) lookup(n string) (all, exact numFlags) {
	exact = l.exact[n]
	all = exact
	for _, p := range l.prefixes {
		if strings.HasPrefix(n, p.prefix) {
			all |= p.flags
		}
	}
	return all, exact
}
