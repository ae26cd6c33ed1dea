package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/page"
)

// tokensView is the data of console_tokens.html: the session's tokens (a
// system administrator's: everyone's), the create form, and the secret of
// a token just created (shown this once).
type tokensView struct {
	page.Layout
	Tokens  []users.Token
	Roles   []string
	AllSeen bool
	Secret  string
	Created *users.Token
	Form    tokenForm
	Now     time.Time
}

// tokenForm is the create form's values.
type tokenForm struct {
	Name, Role string
	Days       int
}

// tokenPages are the Tokens page's routes.
func (s *Server) tokenPages() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /tokens":              s.tokensPage,
		"POST /tokens":             s.createTokenForm,
		"POST /tokens/{id}/revoke": s.revokeTokenForm,
	}
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderTokens(w, r, se, http.StatusOK, "", tokenForm{Role: store.RoleReadOnly, Days: int(users.DefaultTokenTTL.Hours() / 24)}, "", nil)
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string, form tokenForm, secret string, created *users.Token) {
	c := authz.SessionCaller(se)
	p := &tokensView{Layout: page.For(se, "API tokens").WithNotice(r), Roles: store.UserRoles, AllSeen: c.TokenScope() == "",
		Secret: secret, Created: created, Form: form, Now: s.st.Clock().Now()}
	p.Error = errMsg
	var err error
	if p.Tokens, err = s.users.Tokens(r.Context(), c.TokenScope()); err != nil {
		status, p.Error = s.statusOf(err)
	}
	if secret != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.render(w, status, "console_tokens.html", p)
}

// createTokenForm makes a token for the session's user (a token's session:
// the token's owner, no stronger and no longer lived than that token) and
// shows its secret once.
func (s *Server) createTokenForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	f := r.PostForm
	form := tokenForm{Name: strings.TrimSpace(f.Get("name")), Role: f.Get("role")}
	var err error
	if form.Days, err = strconv.Atoi(f.Get("days")); err != nil || form.Days < 1 {
		s.renderTokens(w, r, se, http.StatusUnprocessableEntity, "Give the days until the token expires (1 or more).", form, "", nil)
		return
	}
	c := authz.SessionCaller(se)
	by := users.Creator{Actor: c.Actor, Role: c.Role, UserID: c.TokenOwner()}
	if c.TokenExpires != nil {
		by.NotAfter = *c.TokenExpires
	}
	secret, t, err := s.users.CreateToken(r.Context(), by, users.NewToken{Name: form.Name, Role: form.Role, TTL: time.Duration(form.Days) * 24 * time.Hour})
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderTokens(w, r, se, st, msg, form, "", nil)
		return
	}
	s.renderTokens(w, r, se, http.StatusCreated, "", tokenForm{Role: store.RoleReadOnly, Days: form.Days}, secret, t)
}

// revokeTokenForm revokes one of the session's tokens (a system
// administrator: anyone's).
func (s *Server) revokeTokenForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	c := authz.SessionCaller(se)
	t, err := s.users.RevokeToken(r.Context(), c.Actor, c.TokenScope(), r.PathValue("id"))
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderTokens(w, r, se, st, msg, tokenForm{Role: store.RoleReadOnly, Days: int(users.DefaultTokenTTL.Hours() / 24)}, "", nil)
		return
	}
	if c.TokenID == t.ID {
		// The session signed in with this token ended with it.
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	redirectNotice(w, r, "/tokens", "Token "+t.Name+" revoked.")
}
