package web

// The shared layout. Every page has its own view type (callsView,
// peopleView, ratesView, ...) holding what its template shows, and embeds
// a layout: the part the base template (layout.html, "top" and "bottom")
// renders around every page, and the page's messages ("flash").

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store/users"
)

// layout is what every page shows around its content.
type layout struct {
	Title string
	// Actor is the signed-in user and Role their role; Actor is empty on
	// the sign-in page, which has no navigation and no sign-out form.
	Actor, Role string
	// CSRF is the token the page's forms (sign-out included) carry.
	CSRF string
	// Error and Notice are the page's messages: what failed, what was done.
	Error, Notice string
	// Nav is the main navigation.
	Nav []navLink
}

// navLink is an entry of the main navigation.
type navLink struct{ Href, Text string }

// navigation is the main navigation, the same for every role (a page a
// role may not see says so).
var navigation = []navLink{
	{"/calls", "Calls"}, {"/calls/in-progress", "In progress"}, {"/people", "People"}, {"/numbers", "Numbers"},
	{"/blocks", "Blocks"}, {"/money/rates", "Rates"}, {"/money/accounts", "Accounts"},
	{"/money/reconciliation", "Reconciliation"}, {"/stats", "Statistics"}, {"/reports/billing", "Billing report"},
	{"/import", "Import"}, {"/export", "Export"}, {"/settings", "Settings"}, {"/alarms", "Alarms"},
	{"/audit", "Audit log"}, {"/users", "Users"}, {"/account/totp", "Second factor"},
}

// layoutFor is the layout of a page titled title for the session se.
func layoutFor(se *users.Session, title string) layout {
	return layout{Title: title, Actor: se.Actor, Role: se.Role, CSRF: se.CSRF, Nav: navigation}
}

// withNotice is the layout with the notice the request's query carries
// (a redirect after a successful post sets it).
func (l layout) withNotice(r *http.Request) layout {
	l.Notice = r.URL.Query().Get("notice")
	return l
}

// allowed reports whether the session may use the route pattern (any
// block): pages show the forms and buttons of what it may do.
func allowed(se *users.Session, pattern string) bool {
	return authz.Check(pattern, CallerOf(se), "") == nil
}

// pager is a list page's links to the pages before and after it.
type pager struct{ Prev, Next string }

// paginate cuts rows, read from offset off with one more than size, to
// one page, with the links to its neighbours: path with the query q and
// their offset.
func paginate[T any](rows []T, off, size int, path string, q url.Values) ([]T, pager) {
	link := func(o int) string {
		v := url.Values{"offset": {strconv.Itoa(o)}}
		for k, vs := range q {
			if k != "offset" {
				v[k] = vs
			}
		}
		return path + "?" + v.Encode()
	}
	var p pager
	if len(rows) > size {
		rows, p.Next = rows[:size], link(off+size)
	}
	if off > 0 {
		p.Prev = link(max(0, off-size))
	}
	return rows, p
}
