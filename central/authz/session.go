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
	return Caller{Actor: se.Actor, Role: store.UserRole(se.Role), UserID: se.UserID, Blocks: se.Blocks, MFA: se.MFA,
		TokenID: se.TokenID, Owner: se.Owner, TokenExpires: se.TokenExpires}
}

// TokenCaller is the identity of a request made with API token t
// (users.AuthenticateToken): its role, its owner's blocks, and a second
// factor when the owner has one.
func TokenCaller(t *users.Token) Caller {
	return Caller{Actor: "token:" + t.Name, Role: t.Role, Blocks: t.Blocks, MFA: t.OwnerTOTP, TokenID: t.ID, Owner: t.Owner, TokenExpires: t.Expires}
}
