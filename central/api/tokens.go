package api

import (
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/openapi"

	"github.com/kinline/kinline/central/store/users"
)

// tokenBody is an API token as the API shows it (never the secret).
type tokenBody struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Owner     string     `json:"owner"`
	OwnerName string     `json:"owner_name"`
	Bootstrap bool       `json:"bootstrap"`
	Created   time.Time  `json:"created"`
	Expires   *time.Time `json:"expires"`
	LastUsed  *time.Time `json:"last_used"`
	Revoked   *time.Time `json:"revoked"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

func tokenAnswer(t *users.Token) tokenBody {
	return tokenBody{ID: t.ID, Name: t.Name, Role: t.Role, Owner: t.Owner, OwnerName: t.OwnerName, Bootstrap: t.Bootstrap,
		Created: t.Created, Expires: t.Expires, LastUsed: t.LastUsed, Revoked: t.Revoked, RevokedBy: t.RevokedBy}
}

// newTokenIn is POST /api/v1/tokens's body.
type newTokenIn struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	ExpiresDays int    `json:"expires_days"`
}

// tokenRoutes are the API tokens' routes.
func (s *Server) tokenRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/tokens":              s.listTokens,
		"POST /api/v1/tokens":             s.createToken,
		"DELETE /api/v1/tokens/{id}":      s.revokeToken,
		"POST /api/v1/tokens/{id}/revoke": s.revokeToken,
	}
}

// listTokens lists the caller's tokens (a system administrator's: every
// token), revoked and expired ones included.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.users.Tokens(r.Context(), callerFrom(r.Context()).TokenScope())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]tokenBody, len(ts))
	for i := range ts {
		out[i] = tokenAnswer(&ts[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// createToken makes a token for the caller's user (a token's owner), no
// stronger than the caller and, made by a token, not outliving it; the
// answer is the one time the secret is shown.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in newTokenIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	by := users.Creator{Actor: c.Actor, Role: c.Role, UserID: c.TokenOwner()}
	if c.TokenExpires != nil {
		by.NotAfter = *c.TokenExpires
	}
	if in.ExpiresDays < 0 {
		in.ExpiresDays = -1 // refused by CreateToken
	}
	secret, t, err := s.users.CreateToken(r.Context(), by, users.NewToken{Name: in.Name, Role: in.Role, TTL: time.Duration(in.ExpiresDays) * 24 * time.Hour})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		tokenBody
		Token string `json:"token"`
	}{tokenAnswer(t), secret})
}

// revokeToken revokes one of the caller's tokens (a system administrator:
// anyone's); another user's token answers 404.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	c := callerFrom(r.Context())
	t, err := s.users.RevokeToken(r.Context(), c.Actor, c.TokenScope(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenAnswer(t))
}

const pToken = "The token's id (t_...), from GET /api/v1/tokens."

const tokenRevokeDesc = "Revokes one of your tokens (a system administrator: anyone's), audited; it answers 401 from then on and its console sessions end. " +
	"Another user's token answers 404; revoking a revoked token changes nothing."

// tokenDocs documents the tokens' routes.
var tokenDocs = map[string]openapi.Doc{
	"GET /api/v1/tokens": {
		Summary: "List API tokens",
		Description: "Your tokens (a token: its owner's; a system administrator: everyone's), newest first, revoked and expired ones included: " +
			"id, name, role, owner, created, expires (null: never, the bootstrap token), last used and revoked. Never the secret.",
		Out: openapi.Obj{"tokens": []tokenBody{}},
	},
	"POST /api/v1/tokens": {
		Summary: "Create an API token",
		Description: "Creates a bearer token owned by you (a token creates one for its owner), answered once: only its SHA-256 is kept. " +
			"Its role may be your own or read_only (a system administrator: any but block_officer, which only a block officer's token has, scoped to the owner's blocks). " +
			"A token may not create one that outlives it. It plays and exports recordings only if its role allows and its owner has enrolled TOTP.",
		Body: newTokenIn{},
		Fields: map[string]string{
			"name":         "Required, unique among the owner's tokens that are not revoked.",
			"role":         `A user role, or "admin" (system_admin) or "viewer" (read_only).`,
			"expires_days": "Days until it expires: default 90, at most 365.",
		},
		Status: http.StatusCreated, Out: struct {
			tokenBody
			Token string `json:"token"`
		}{},
		Errors: map[int]any{403: "The role or lifetime is stronger than yours (or than the token creating it).", 409: "You have a token of that name."},
	},
	"DELETE /api/v1/tokens/{id}": {
		Summary: "Revoke an API token", Description: tokenRevokeDesc,
		Path: map[string]string{"id": pToken}, Out: tokenBody{},
		Errors: map[int]any{404: "No such token of yours."},
	},
	"POST /api/v1/tokens/{id}/revoke": {
		Summary: "Revoke an API token (POST)", Description: tokenRevokeDesc + " The same as DELETE /api/v1/tokens/{id}, for clients without DELETE.",
		Path: map[string]string{"id": pToken}, Out: tokenBody{},
		Errors: map[int]any{404: "No such token of yours."},
	},
}
