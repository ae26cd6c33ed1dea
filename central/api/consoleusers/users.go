// Package consoleusers is the JSON API's console users routes: create,
// list, read and change console users and enrol their second factor
// (TOTP). Package api registers its routes (Routes) and documents them
// (Docs).
package consoleusers

import (
	"context"
	"github.com/kinline/kinline/central/api/openapi"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/store/users"
)

// Store is what the users routes need of the console users' store
// (users.Store).
type Store interface {
	CreateUser(ctx context.Context, actor string, in users.NewUser) (*users.User, error)
	User(ctx context.Context, id string) (*users.User, error)
	Users(ctx context.Context) ([]users.User, error)
	UpdateUser(ctx context.Context, actor, id string, up users.UserUpdate) (*users.User, error)
	EnrollTOTP(ctx context.Context, actor, id string) (secret, uri string, err error)
}

// Handlers serve the users routes.
type Handlers struct {
	users Store
	log   *slog.Logger
}

// New returns the users routes' handlers; internal errors are logged to log.
func New(st Store, log *slog.Logger) *Handlers { return &Handlers{users: st, log: log} }

// Routes are the users routes.
func (s *Handlers) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v1/users":           s.createUser,
		"GET /api/v1/users":            s.listUsers,
		"GET /api/v1/users/{id}":       s.getUser,
		"PATCH /api/v1/users/{id}":     s.patchUser,
		"POST /api/v1/users/{id}/totp": s.enrollTOTP,
	}
}

// The JSON conventions of package httpjson.
var (
	writeJSON  = httpjson.Write
	decode     = httpjson.Decode
	callerFrom = httpjson.Caller
)

func (s *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpjson.Fail(s.log, w, r, err)
}

// component is implemented by the answers: they are components of the
// OpenAPI document under the name componentName gives.
type component interface{ componentName() string }

// OwnType is the openapi.Owner of this package's types: inlined unless
// they name a component.
var OwnType = openapi.OwnerOf(component.componentName)

// userOut is a console user as the API answers it (never the password
// hash or TOTP secret). It is the API's own type, so a change to
// users.User does not change the API unnoticed.
type userOut struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	DisplayName  string     `json:"display_name"`
	Role         string     `json:"role"`
	Blocks       []string   `json:"blocks"`
	TOTP         bool       `json:"totp_enrolled"`
	Disabled     bool       `json:"disabled"`
	FailedLogins int        `json:"failed_logins"`
	LockedUntil  *time.Time `json:"locked_until,omitempty"`
	Created      time.Time  `json:"created"`
	Updated      time.Time  `json:"updated"`
}

func (userOut) componentName() string { return "store.User" }

func userBody(u *users.User) userOut {
	return userOut{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role, Blocks: u.Blocks, TOTP: u.TOTP,
		Disabled: u.Disabled, FailedLogins: u.FailedLogins, LockedUntil: u.LockedUntil, Created: u.Created, Updated: u.Updated}
}

type userIn struct {
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Role        string   `json:"role"`
	Blocks      []string `json:"blocks"`
	Password    string   `json:"password"`
}

func (s *Handlers) createUser(w http.ResponseWriter, r *http.Request) {
	var in userIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.users.CreateUser(r.Context(), callerFrom(r.Context()).Actor, users.NewUser{
		Username: in.Username, DisplayName: in.DisplayName, Role: in.Role, Blocks: in.Blocks, Password: in.Password})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/users/"+u.ID)
	writeJSON(w, http.StatusCreated, userBody(u))
}

func (s *Handlers) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.users.Users(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]userOut, len(us))
	for i := range us {
		out[i] = userBody(&us[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Handlers) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.users.User(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody(u))
}

type userPatch struct {
	DisplayName *string   `json:"display_name"`
	Role        *string   `json:"role"`
	Blocks      *[]string `json:"blocks"`
	Disabled    *bool     `json:"disabled"`
	Password    *string   `json:"password"`
	ResetTOTP   bool      `json:"reset_totp"`
}

func (s *Handlers) patchUser(w http.ResponseWriter, r *http.Request) {
	var in userPatch
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.users.UpdateUser(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"), users.UserUpdate{
		DisplayName: in.DisplayName, Role: in.Role, Blocks: in.Blocks, Disabled: in.Disabled, Password: in.Password, ResetTOTP: in.ResetTOTP})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody(u))
}

// enrollTOTP gives the user a new TOTP secret and answers it once, with the
// otpauth:// URI for an authenticator app.
func (s *Handlers) enrollTOTP(w http.ResponseWriter, r *http.Request) {
	secret, uri, err := s.users.EnrollTOTP(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"secret": secret, "otpauth_uri": uri})
}
