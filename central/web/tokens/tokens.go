// Package tokens is the console's API tokens page: a user lists, creates
// (the secret shown once) and revokes their own tokens; a system
// administrator sees and revokes everyone's (central/store/users holds
// the tokens, decision 0033).
package tokens

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/page"
)

// Store is what the page needs of the users store.
type Store interface {
	Tokens(ctx context.Context, owner string) ([]users.Token, error)
	CreateToken(ctx context.Context, by users.Creator, in users.NewToken) (string, *users.Token, error)
	RevokeToken(ctx context.Context, actor, owner, id string) (*users.Token, error)
}

// Deps are the console's parts the page uses.
type Deps struct {
	Users Store
	// Now is the store's clock.
	Now func() time.Time
	// Render writes a console template.
	Render func(w http.ResponseWriter, status int, name string, data any)
	// PostForm parses a post and checks its CSRF token and origin; false:
	// it answered.
	PostForm func(w http.ResponseWriter, r *http.Request, se *users.Session) bool
	// StatusOf maps an error to a status and a message for the page.
	StatusOf func(err error) (int, string)
	// RedirectNotice redirects to path with a notice shown there.
	RedirectNotice func(w http.ResponseWriter, r *http.Request, path, notice string)
}

// Handlers serve the page.
type Handlers struct{ d Deps }

// New returns the page's handlers.
func New(d Deps) *Handlers { return &Handlers{d: d} }

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

// Routes are the Tokens page's routes.
func (s *Handlers) Routes() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /tokens":              s.tokensPage,
		"POST /tokens":             s.createTokenForm,
		"POST /tokens/{id}/revoke": s.revokeTokenForm,
	}
}

func (s *Handlers) tokensPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderTokens(w, r, se, http.StatusOK, "", tokenForm{Role: store.RoleReadOnly, Days: int(users.DefaultTokenTTL.Hours() / 24)}, "", nil)
}

func (s *Handlers) renderTokens(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string, form tokenForm, secret string, created *users.Token) {
	c := authz.SessionCaller(se)
	p := &tokensView{Layout: page.For(se, "API tokens").WithNotice(r), Roles: store.UserRoles, AllSeen: c.TokenScope() == "",
		Secret: secret, Created: created, Form: form, Now: s.d.Now()}
	p.Error = errMsg
	var err error
	if p.Tokens, err = s.d.Users.Tokens(r.Context(), c.TokenScope()); err != nil {
		status, p.Error = s.d.StatusOf(err)
	}
	if secret != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.d.Render(w, status, "console_tokens.html", p)
}

// createTokenForm makes a token for the session's user (a token's session:
// the token's owner, no stronger and no longer lived than that token) and
// shows its secret once.
func (s *Handlers) createTokenForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.d.PostForm(w, r, se) {
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
	secret, t, err := s.d.Users.CreateToken(r.Context(), by, users.NewToken{Name: form.Name, Role: form.Role, TTL: time.Duration(form.Days) * 24 * time.Hour})
	if err != nil {
		st, msg := s.d.StatusOf(err)
		s.renderTokens(w, r, se, st, msg, form, "", nil)
		return
	}
	s.renderTokens(w, r, se, http.StatusCreated, "", tokenForm{Role: store.RoleReadOnly, Days: form.Days}, secret, t)
}

// revokeTokenForm revokes one of the session's tokens (a system
// administrator: anyone's).
func (s *Handlers) revokeTokenForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.d.PostForm(w, r, se) {
		return
	}
	c := authz.SessionCaller(se)
	t, err := s.d.Users.RevokeToken(r.Context(), c.Actor, c.TokenScope(), r.PathValue("id"))
	if err != nil {
		st, msg := s.d.StatusOf(err)
		s.renderTokens(w, r, se, st, msg, tokenForm{Role: store.RoleReadOnly, Days: int(users.DefaultTokenTTL.Hours() / 24)}, "", nil)
		return
	}
	if c.TokenID == t.ID {
		// The session signed in with this token ended with it.
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.d.RedirectNotice(w, r, "/tokens", "Token "+t.Name+" revoked.")
}
