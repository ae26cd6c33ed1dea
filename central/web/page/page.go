// Package page holds what every console page shares, for package web and
// its areas' page packages: the layout the base template (layout.html,
// "top" and "bottom") renders around every page, with the page's messages
// ("flash"); the main navigation; a list page's links to its neighbours;
// the handler of a page (the request with its live session); and the
// access checks the pages show their forms and buttons by. Every page has
// its own view type holding what its template shows, embedding a Layout.
package page

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store/users"
)

// Handler serves a console page to the live session se (package web
// checks the session and the access matrix before it runs).
type Handler func(w http.ResponseWriter, r *http.Request, se *users.Session)

// Layout is what every page shows around its content.
type Layout struct {
	Title string
	// Actor is the signed-in user and Role their role; Actor is empty on
	// the sign-in page, which has no navigation and no sign-out form.
	Actor, Role string
	// CSRF is the token the page's forms (sign-out included) carry.
	CSRF string
	// Error and Notice are the page's messages: what failed, what was done.
	Error, Notice string
	// Nav is the main navigation.
	Nav []NavLink
}

// NavLink is an entry of the main navigation.
type NavLink struct{ Href, Text string }

// navigation is the main navigation: every page in it that a role may
// open (For keeps those the access matrix allows the session).
var navigation = []NavLink{
	{"/calls", "Calls"}, {"/calls/in-progress", "In progress"}, {"/people", "People"}, {"/numbers", "Numbers"},
	{"/blocks", "Blocks"}, {"/appliances", "Appliances"}, {"/money/rates", "Rates"}, {"/money/accounts", "Accounts"}, {"/money/settings", "Money settings"},
	{"/money/reconciliation", "Reconciliation"}, {"/stats", "Statistics"}, {"/reports/billing", "Billing report"},
	{"/import", "Import"}, {"/export", "Export"}, {"/settings", "Settings"}, {"/alarms", "Alarms"},
	{"/audit", "Audit log"}, {"/users", "Users"}, {"/tokens", "API tokens"}, {"/account/totp", "Second factor"},
}

// For is the layout of a page titled title for the session se: its
// navigation holds the pages se's role may open.
func For(se *users.Session, title string) Layout {
	return Layout{Title: title, Actor: se.Actor, Role: se.Role, CSRF: se.CSRF, Nav: NavFor(se)}
}

// NavFor is the main navigation for se: the pages the access matrix lets
// its role open.
func NavFor(se *users.Session) []NavLink {
	var nav []NavLink
	for _, l := range navigation {
		if Allowed(se, "GET "+l.Href) {
			nav = append(nav, l)
		}
	}
	return nav
}

// WithNotice is the layout with the notice the request's query carries
// (a redirect after a successful post sets it).
func (l Layout) WithNotice(r *http.Request) Layout {
	l.Notice = r.URL.Query().Get("notice")
	return l
}

// Allowed reports whether the session may use the route pattern (any
// block): pages show the forms and buttons of what it may do.
func Allowed(se *users.Session, pattern string) bool {
	return authz.Check(pattern, authz.SessionCaller(se), "") == nil
}

// ForbiddenText is what a page answers (403) when the access matrix
// refuses err.
func ForbiddenText(err error) string {
	if errors.Is(err, authz.ErrSecondFactor) {
		return "This needs a second factor: enrol one at /account/totp if you have none, or sign in again with your one-time code."
	}
	return "You are not allowed to see this."
}

// Refusal is the data of forbidden.html, the page answered (403) when the
// access matrix refuses a page: what was refused, why, and where to go.
type Refusal struct {
	Layout
	// Path is the page refused; Why says why; Go and GoText are where to
	// go instead.
	Path, Why, Go, GoText string
}

// Refused is the refusal of the page r asks for to se, for err.
func Refused(r *http.Request, se *users.Session, err error) Refusal {
	p := Refusal{Layout: For(se, "Not allowed"), Path: r.URL.Path, Why: ForbiddenText(err), Go: "/calls", GoText: "Back to the calls"}
	switch {
	case errors.Is(err, authz.ErrSecondFactor):
		p.Go, p.GoText = "/account/totp", "Enrol a second factor"
	case errors.Is(err, authz.ErrOutOfScope):
		p.Why += " It belongs to a block outside yours."
	default:
		p.Why += " Your role (" + se.Role + ") does not give access to it; a system administrator can change your role if your work needs it."
	}
	if len(p.Nav) > 0 && !Allowed(se, "GET "+p.Go) {
		p.Go, p.GoText = p.Nav[0].Href, p.Nav[0].Text
	}
	return p
}

// Pager is a list page's links to the pages before and after it.
type Pager struct{ Prev, Next string }

// Paginate cuts rows, read from offset off with one more than size, to
// one page, with the links to its neighbours: path with the query q and
// their offset.
func Paginate[T any](rows []T, off, size int, path string, q url.Values) ([]T, Pager) {
	link := func(o int) string {
		v := url.Values{"offset": {strconv.Itoa(o)}}
		for k, vs := range q {
			if k != "offset" {
				v[k] = vs
			}
		}
		return path + "?" + v.Encode()
	}
	var p Pager
	if len(rows) > size {
		rows, p.Next = rows[:size], link(off+size)
	}
	if off > 0 {
		p.Prev = link(max(0, off-size))
	}
	return rows, p
}
