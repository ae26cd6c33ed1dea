package authz

import "github.com/kinline/kinline/central/store"

// tokenRoutes: API tokens (decision 0033). Every signed-in role lists,
// creates and revokes its own tokens (system administrators: everyone's);
// the handlers keep a new token's role within its creator's and owner's,
// and its life within the creating token's.
var tokenRoutes = map[string]Rule{
	"GET /api/v1/tokens":              {Roles: all},
	"POST /api/v1/tokens":             {Roles: all},
	"DELETE /api/v1/tokens/{id}":      {Roles: all},
	"POST /api/v1/tokens/{id}/revoke": {Roles: all},
	// Console pages (package web).
	"GET /tokens":              {Roles: all},
	"POST /tokens":             {Roles: all},
	"POST /tokens/{id}/revoke": {Roles: all},
}

// TokenOwner is the user whose tokens c lists, creates and revokes: its
// own user, or a token's owner.
func (c Caller) TokenOwner() string {
	if c.UserID != "" {
		return c.UserID
	}
	return c.Owner
}

// TokenScope is the owner filter of c's token listing and revocation: ""
// (every token) for a system administrator, else TokenOwner ("-", which
// is no user's id, when c has no user).
func (c Caller) TokenScope() string {
	if c.Role == store.RoleSystemAdmin {
		return ""
	}
	if o := c.TokenOwner(); o != "" {
		return o
	}
	return "-"
}
