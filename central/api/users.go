package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// UserStore is what the API needs of the console users' store
// (users.Store): the users routes and cookie sessions.
type UserStore interface {
	CreateUser(ctx context.Context, actor string, in users.NewUser) (*users.User, error)
	User(ctx context.Context, id string) (*users.User, error)
	Users(ctx context.Context) ([]users.User, error)
	UpdateUser(ctx context.Context, actor, id string, up users.UserUpdate) (*users.User, error)
	EnrollTOTP(ctx context.Context, actor, id string) (secret, uri string, err error)
	SessionByID(ctx context.Context, id string) (*users.Session, error)
}

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

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
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
func (s *Server) enrollTOTP(w http.ResponseWriter, r *http.Request) {
	secret, uri, err := s.users.EnrollTOTP(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"secret": secret, "otpauth_uri": uri})
}

// exportAudit streams the audit log (filtered by actor, action, target,
// from and to) as CSV; the export itself is audited first. Like playback
// it needs a verified second factor (package authz).
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="kinline-audit.csv"`)
	// Headers are only sent with the first byte, so an error before any
	// row is written still gets its JSON status.
	bw := &lazyWriter{w: w}
	if err := s.st.ExportAuditCSV(r.Context(), callerFrom(r.Context()).Actor, f, bw); err != nil {
		if bw.started {
			s.log.Error("api: audit export failed mid-stream", "err", err)
			return
		}
		w.Header().Del("Content-Disposition")
		s.fail(w, r, err)
	}
}

type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.started = true
	return l.w.Write(p)
}

// verifyAudit checks the audit log's hash chain: 200 {"ok": true} or 409
// with the first broken row.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) {
	err := s.st.VerifyAudit(r.Context())
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	case errors.Is(err, store.ErrAuditTampered):
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error": err.Error()})
	default:
		s.fail(w, r, err)
	}
}
