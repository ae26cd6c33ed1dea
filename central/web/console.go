package web

// The security and estate pages: alarms (appliances' and central's, with
// central alarms cleared by an administrator), the audit log (filters,
// CSV export, chain verification), console users (create with a role and
// block scope, reset a password or second factor, disable) and each user's
// own second-factor enrolment.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/central/web/page"
)

// consolePages are the pages of this file.
func (s *Server) consolePages() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /alarms":                 s.alarmsPage,
		"POST /alarms/{id}/clear":     s.clearAlarmForm,
		"GET /audit":                  s.auditPage,
		"GET /users":                  s.usersPage,
		"POST /users":                 s.createUserForm,
		"POST /users/{id}/password":   s.userPasswordForm,
		"POST /users/{id}/disabled":   s.userDisabledForm,
		"POST /users/{id}/totp/reset": s.userTOTPResetForm,
		"GET /account/totp":           s.totpPage,
		"POST /account/totp":          s.totpBeginForm,
		"POST /account/totp/confirm":  s.totpConfirmForm,
	}
}

// alarmsView is the data of console_alarms.html.
type alarmsView struct {
	page.Layout
	IsAdmin   bool // may see the clear column
	Alarms    []alarmRow
	Appliance string
	Open      bool
	page.Pager
}

type alarmRow struct {
	store.Alarm
	Clearable bool
}

// auditView is the data of console_audit.html.
type auditView struct {
	page.Layout
	Audit              []store.AuditEntry
	AuditQ             store.AuditFilter
	FromText, ToText   string
	CSVLink, VerifyURL string
	Verified           bool   // the chain was checked
	ChainOK            bool   // and it holds
	ChainError         string // or where it breaks
	page.Pager
}

// usersView is the data of console_users.html.
type usersView struct {
	page.Layout
	Users  []users.User
	Roles  []string
	Blocks []string
	Form   userFormData
}

// totpView is the data of console_totp.html: the user's own second factor.
type totpView struct {
	page.Layout
	User         *users.User
	SessionMFA   bool
	Secret, URI  string
	MustEnrol    bool
	TokenSession bool
}

type userFormData struct {
	Username, DisplayName, Role string
	Blocks                      []string
}

// HasBlock reports whether the form has block b ticked.
func (f userFormData) HasBlock(b string) bool {
	for _, x := range f.Blocks {
		if x == b {
			return true
		}
	}
	return false
}

// ---- alarms ----

const alarmsPageSize = 100

func (s *Server) alarmsPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderAlarms(w, r, se, http.StatusOK, "")
}

func (s *Server) renderAlarms(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string) {
	q := r.URL.Query()
	c := CallerOf(se)
	p := &alarmsView{Layout: page.For(se, "Alarms").WithNotice(r), IsAdmin: page.Allowed(se, "GET /users")}
	p.Error = errMsg
	p.Appliance, p.Open = strings.TrimSpace(q.Get("appliance")), q.Get("open") == "true"
	off, _ := strconv.Atoi(q.Get("offset"))
	off = max(off, 0)
	al, err := s.st.AlarmList(r.Context(), store.AlarmFilter{ApplianceID: p.Appliance, Open: p.Open, Blocks: c.ScopeBlocks(),
		Limit: alarmsPageSize + 1, Offset: off})
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error = msg
		s.render(w, st, "console_alarms.html", p)
		return
	}
	canClear := authz.Check("POST /alarms/{id}/clear", c, "") == nil
	for _, a := range al {
		p.Alarms = append(p.Alarms, alarmRow{Alarm: a, Clearable: canClear && a.Cleared == nil && a.Origin == "central" && a.Code != store.AlarmEventGap})
	}
	v := url.Values{"appliance": {p.Appliance}}
	if p.Open {
		v.Set("open", "true")
	}
	p.Alarms, p.Pager = page.Paginate(p.Alarms, off, alarmsPageSize, "/alarms", v)
	s.render(w, status, "console_alarms.html", p)
}

func (s *Server) clearAlarmForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	a, err := s.st.ClearAlarm(r.Context(), se.Actor, r.PathValue("id"), r.PostForm.Get("note"))
	if err != nil {
		st, msg := s.statusOf(err)
		r.URL.RawQuery = ""
		s.renderAlarms(w, r, se, st, msg)
		return
	}
	redirectNotice(w, r, "/alarms?appliance="+url.QueryEscape(a.ApplianceID), "Alarm cleared.")
}

// ---- audit log ----

const auditPageSize = 100

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	q := r.URL.Query()
	p := &auditView{Layout: page.For(se, "Audit log")}
	status := http.StatusOK
	f := store.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), Target: strings.TrimSpace(q.Get("target"))}
	p.FromText, p.ToText = q.Get("from"), q.Get("to")
	from, to, err := format.DayRange(p.FromText, p.ToText, s.loadZone()) // "to" is inclusive on the page
	if err != nil {
		p.Error, status, p.FromText, p.ToText = err.Error(), http.StatusBadRequest, "", ""
	}
	f.From, f.To = from, to
	p.AuditQ = f
	off, _ := strconv.Atoi(q.Get("offset"))
	off = max(off, 0)
	f.Limit, f.Offset = auditPageSize+1, off
	entries, err := s.st.AuditLog(r.Context(), f)
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error = msg
		s.render(w, st, "console_audit.html", p)
		return
	}
	filters := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target, "from": p.FromText, "to": p.ToText} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	// The export takes the same filters; its "to" is exclusive.
	csv := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target} {
		if v != "" {
			csv.Set(k, v)
		}
	}
	if !from.IsZero() {
		csv.Set("from", from.Format(time.RFC3339))
	}
	if !to.IsZero() {
		csv.Set("to", to.Format(time.RFC3339))
	}
	p.CSVLink = "/api/v1/audit.csv"
	if len(csv) > 0 {
		p.CSVLink += "?" + csv.Encode()
	}
	p.Audit, p.Pager = page.Paginate(entries, off, auditPageSize, "/audit", filters)
	v := url.Values{}
	for k, vs := range filters {
		v[k] = vs
	}
	v.Set("verify", "1")
	p.VerifyURL = "/audit?" + v.Encode()
	if q.Get("verify") == "1" {
		// Verifying reads the whole log, so it runs when asked for.
		p.Verified = true
		switch err := s.st.VerifyAudit(r.Context()); {
		case err == nil:
			p.ChainOK = true
		case errors.Is(err, store.ErrAuditTampered):
			p.ChainError = strings.TrimPrefix(err.Error(), "store: ")
			status = http.StatusConflict
		default:
			st, msg := s.statusOf(err)
			p.Verified, p.Error, status = false, msg, st
		}
	}
	s.render(w, status, "console_audit.html", p)
}

// ---- users ----

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderUsers(w, r, se, http.StatusOK, "", userFormData{Role: store.RoleReadOnly})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string, form userFormData) {
	p := &usersView{Layout: page.For(se, "Users").WithNotice(r), Form: form, Roles: store.UserRoles}
	p.Error = errMsg
	var err error
	if p.Users, err = s.users.Users(r.Context()); err == nil {
		var bs []store.Block
		bs, err = s.st.Blocks(r.Context())
		for _, b := range bs {
			p.Blocks = append(p.Blocks, b.Name)
		}
	}
	if err != nil {
		status, p.Error = s.statusOf(err)
	}
	s.render(w, status, "console_users.html", p)
}

func (s *Server) createUserForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	f := r.PostForm
	form := userFormData{Username: strings.TrimSpace(f.Get("username")), DisplayName: strings.TrimSpace(f.Get("display_name")),
		Role: f.Get("role"), Blocks: f["blocks"]}
	if form.Role != store.RoleBlockOfficer {
		form.Blocks = nil // the block boxes only count for block officers
	}
	u, err := s.users.CreateUser(r.Context(), se.Actor, users.NewUser{Username: form.Username, DisplayName: form.DisplayName,
		Role: form.Role, Blocks: form.Blocks, Password: f.Get("password")})
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderUsers(w, r, se, st, msg, form)
		return
	}
	redirectNotice(w, r, "/users", "User "+u.Username+" created.")
}

// userUpdate applies up to the path's user and answers.
func (s *Server) userUpdate(w http.ResponseWriter, r *http.Request, se *users.Session, up users.UserUpdate, done string) {
	u, err := s.users.UpdateUser(r.Context(), se.Actor, r.PathValue("id"), up)
	if err != nil {
		st, msg := s.statusOf(err)
		r.URL.RawQuery = ""
		s.renderUsers(w, r, se, st, msg, userFormData{Role: store.RoleReadOnly})
		return
	}
	redirectNotice(w, r, "/users", fmt.Sprintf("%s: %s.", u.Username, done))
}

func (s *Server) userPasswordForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	pw := r.PostForm.Get("password")
	s.userUpdate(w, r, se, users.UserUpdate{Password: &pw}, "password reset, sessions ended")
}

func (s *Server) userDisabledForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	var disabled bool
	switch r.PostForm.Get("disabled") {
	case "true":
		disabled = true
	case "false":
	default:
		s.renderUsers(w, r, se, http.StatusUnprocessableEntity, "Choose to disable or enable the user.", userFormData{Role: store.RoleReadOnly})
		return
	}
	if disabled && r.PathValue("id") == se.UserID {
		s.renderUsers(w, r, se, http.StatusUnprocessableEntity, "You cannot disable your own account.", userFormData{Role: store.RoleReadOnly})
		return
	}
	done := "enabled"
	if disabled {
		done = "disabled, sessions ended"
	}
	s.userUpdate(w, r, se, users.UserUpdate{Disabled: &disabled}, done)
}

func (s *Server) userTOTPResetForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	s.userUpdate(w, r, se, users.UserUpdate{ResetTOTP: true}, "second factor removed (the user enrols again), sessions ended")
}

// ---- the user's own second factor ----

// totpPage shows the user's second-factor state and, when they have none,
// the button that starts enrolment.
func (s *Server) totpPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderTOTP(w, r, se, http.StatusOK, "", "", "")
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg, secret, uri string) {
	p := &totpView{Layout: page.For(se, "Second factor").WithNotice(r), Secret: secret, URI: uri, SessionMFA: se.MFA,
		MustEnrol: authz.MustEnrolTOTP(se.Role)}
	p.Error = errMsg
	if se.UserID == "" {
		p.TokenSession = true
		s.render(w, status, "console_totp.html", p)
		return
	}
	u, err := s.users.User(r.Context(), se.UserID)
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error, status = msg, st
	}
	p.User = u
	s.render(w, status, "console_totp.html", p)
}

func (s *Server) totpBeginForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	if se.UserID == "" {
		s.renderTOTP(w, r, se, http.StatusUnprocessableEntity, "A token's session has no user to enrol.", "", "")
		return
	}
	secret, uri, err := s.users.BeginTOTPEnrolment(r.Context(), se.Actor, se.UserID)
	switch {
	case errors.Is(err, users.ErrTOTPEnrolled):
		s.renderTOTP(w, r, se, http.StatusConflict, "You already have a second factor. If you lost it, ask an administrator to reset it.", "", "")
		return
	case err != nil:
		st, msg := s.statusOf(err)
		s.renderTOTP(w, r, se, st, msg, "", "")
		return
	}
	s.renderTOTP(w, r, se, http.StatusOK, "", secret, uri)
}

func (s *Server) totpConfirmForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	if se.UserID == "" {
		s.renderTOTP(w, r, se, http.StatusUnprocessableEntity, "A token's session has no user to enrol.", "", "")
		return
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	err = s.users.ConfirmTOTPEnrolment(r.Context(), se.Actor, se.UserID, ck.Value, strings.TrimSpace(r.PostForm.Get("code")))
	switch {
	case errors.Is(err, store.ErrUnauthorized):
		s.renderTOTP(w, r, se, http.StatusUnauthorized, "That code is not right. Check the time on your phone and enter the current code from the app, or start again.", "", "")
		return
	case errors.Is(err, users.ErrTOTPEnrolled):
		s.renderTOTP(w, r, se, http.StatusConflict, "You already have a second factor.", "", "")
		return
	case err != nil:
		st, msg := s.statusOf(err)
		s.renderTOTP(w, r, se, st, msg, "", "")
		return
	}
	redirectNotice(w, r, "/account/totp", "Second factor enrolled: this session is verified, and from now on signing in needs a code from your app.")
}
