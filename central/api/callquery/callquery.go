// Package callquery parses the calls search of the JSON API and the web
// console from untrusted URL query parameters into a store.CallFilter.
package callquery

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// ErrBadQuery is wrapped by every parse error (HTTP 400).
var ErrBadQuery = errors.New("bad query")

// Dispositions lists the call dispositions a search may name.
var Dispositions = []string{wire.DispCompleted, wire.DispRefused, wire.DispBusy, wire.DispNoAnswer,
	wire.DispRejected, wire.DispFailed, wire.DispCancelled, wire.DispLimited, wire.DispEnded}

// Paging reads limit and offset (non-negative integers, 0 when absent).
func Paging(q url.Values) (limit, offset int, err error) {
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, e := strconv.Atoi(v)
			if e != nil || n < 0 || n > 1_000_000 {
				return 0, 0, fmt.Errorf("%w: %s must be a non-negative integer", ErrBadQuery, name)
			}
			*dst = n
		}
	}
	return limit, offset, nil
}

// Parse reads inmate, block, number, from, to (RFC 3339), disposition,
// officer (calls an officer confirmed or ended), limit (default 50, at most
// 500) and offset. Unknown parameters are refused so a
// typo never silently widens a search.
func Parse(q url.Values) (store.CallFilter, error) {
	var f store.CallFilter
	for k := range q {
		switch k {
		case "inmate", "block", "number", "from", "to", "disposition", "officer", "limit", "offset":
		default:
			return f, fmt.Errorf("%w: unknown parameter %q", ErrBadQuery, k)
		}
	}
	f.Inmate, f.Block, f.Officer = q.Get("inmate"), q.Get("block"), q.Get("officer")
	if n := q.Get("number"); n != "" {
		f.Number = policy.NormalizeNumber(n)
		if f.Number == "" {
			return f, fmt.Errorf("%w: number %q is not a phone number", ErrBadQuery, n)
		}
	}
	if d := q.Get("disposition"); d != "" {
		known := false
		for _, k := range Dispositions {
			known = known || k == d
		}
		if !known {
			return f, fmt.Errorf("%w: unknown disposition %q", ErrBadQuery, d)
		}
		f.Disposition = d
	}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%w: %s must be RFC 3339, e.g. 2025-03-01T00:00:00Z", ErrBadQuery, name)
			}
			*dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, fmt.Errorf("%w: to must be after from", ErrBadQuery)
	}
	var err error
	if f.Limit, f.Offset, err = Paging(q); err != nil {
		return f, err
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit > 500 {
		return f, fmt.Errorf("%w: limit is at most 500", ErrBadQuery)
	}
	return f, nil
}
