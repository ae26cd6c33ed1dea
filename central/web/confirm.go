package web

import (
	"net/http"
	"net/url"

	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/page"
	"github.com/kinline/kinline/central/web/signin"
)

// confirmation is what a destructive action's confirmation page says:
// the question it asks of the post r, and where Cancel goes. skip, when
// set, reports that r needs no confirmation (enabling a user does not).
type confirmation struct {
	ask  func(r *http.Request) string
	back func(r *http.Request) string
	skip func(r *http.Request) bool
}

func to(path string) func(*http.Request) string { return func(*http.Request) string { return path } }

// confirmations are the console's destructive actions: a post of one
// without the field confirm=yes shows its confirmation page (no
// JavaScript needed), whose Confirm button posts the same form with it.
var confirmations = map[string]confirmation{
	"POST /calls/{id}/end": {ask: func(r *http.Request) string {
		return "End call " + r.PathValue("id") + " now? Both sides are cut off at once."
	}, back: to("/calls/in-progress")},
	"POST /money/rates/delete": {ask: func(r *http.Request) string {
		return "Delete the rate for " + r.PostForm.Get("prefix") + "? Calls to it are then charged by the next matching rate, or refused."
	}, back: to("/money/rates")},
	"POST /numbers/remove": {ask: func(r *http.Request) string {
		return "Remove " + r.PostForm.Get("number") + " from the " + r.PostForm.Get("kind") + " numbers?"
	}, back: to("/numbers")},
	"POST /people/{id}/photo/delete": {ask: func(*http.Request) string {
		return "Remove this person's photo? Officers no longer see it when the person calls."
	}, back: func(r *http.Request) string { return "/people/" + url.PathEscape(r.PathValue("id")) }},
	"POST /users/{id}/disabled": {ask: func(*http.Request) string {
		return "Disable this user? They are signed out and can no longer sign in."
	}, back: to("/users"), skip: func(r *http.Request) bool { return r.PostForm.Get("disabled") != "true" }},
	"POST /users/{id}/totp/reset": {ask: func(*http.Request) string {
		return "Reset this user's second factor? They must enrol a new one before they play or export recordings."
	}, back: to("/users")},
	"POST /tokens/{id}/revoke": {ask: func(*http.Request) string {
		return "Revoke this API token? Whatever uses it stops working at once."
	}, back: to("/tokens")},
	"POST /appliances/{appliance}/retire": {ask: func(r *http.Request) string {
		return "Retire appliance " + r.PathValue("appliance") + "? It is disconnected and can no longer connect; this cannot be undone."
	}, back: to("/appliances")},
}

// confirmView is the data of confirm.html.
type confirmView struct {
	page.Layout
	Question, Action, Back string
	// Fields are the post's fields, sent again with confirm=yes.
	Fields []field
}

type field struct{ Name, Value string }

// confirmed reports whether the destructive action pattern's post r may
// act: it carries confirm=yes, or needs none. Otherwise it shows the
// action's confirmation page and returns false. A post from another
// origin or with a wrong CSRF token is left to the handler, which
// refuses it.
func (s *Server) confirmed(w http.ResponseWriter, r *http.Request, se *users.Session, pattern string) bool {
	c, ok := confirmations[pattern]
	if !ok || !signin.SameOrigin(r) {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if r.ParseForm() != nil || !signin.TokensEqual(r.PostForm.Get("csrf"), se.CSRF) {
		return true
	}
	if r.PostForm.Get("confirm") == "yes" || c.skip != nil && c.skip(r) {
		return true
	}
	v := confirmView{Layout: page.For(se, "Are you sure?"), Question: c.ask(r), Action: r.URL.Path, Back: c.back(r)}
	for k, vs := range r.PostForm {
		if k == "confirm" || k == "csrf" {
			continue
		}
		for _, x := range vs {
			v.Fields = append(v.Fields, field{k, x})
		}
	}
	s.render(w, http.StatusOK, "confirm.html", v)
	return false
}
