package authz

import (
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// SessionCookie is the name of the console's session cookie. The console
// sets it at sign-in; the JSON API accepts it too (a state-changing request
// must then also carry the session's CSRF token).
const SessionCookie = "kinline_session"

// SessionCaller is the identity of a console session.
func SessionCaller(se *users.Session) Caller {
	return Caller{Actor: se.Actor, Role: store.UserRole(se.Role), UserID: se.UserID, Blocks: se.Blocks, MFA: se.MFA}
}
