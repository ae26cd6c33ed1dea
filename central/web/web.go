// Package web is central's server-rendered web console: calls (search,
// playback, review notes and bookmarks, calls in progress), people and
// their contacts, cards and photos, blocks and their rules, the
// prison-wide numbers and settings, money (rates, accounts, recharges,
// reconciliation), statistics and billing, imports and exports, users and
// the audit log. It needs no JavaScript build step (and no JavaScript at
// all).
//
// Sign-in (package signin) is by username and password, plus a one-time
// code (TOTP) when the user has enrolled one, or with an API token (the
// admin token written at first start). Sessions: a random id stored
// (hashed) in the database with an absolute expiry (SessionTTL) and an
// idle timeout (SessionIdle), set as an HttpOnly, SameSite=Strict cookie.
// Every state-changing form carries a CSRF token (the session's, or for
// the sign-in form a double-submit cookie) and POSTs from a foreign Origin
// are refused. Every page has its own view type over a shared layout
// (package page, with the navigation, the pager and the access checks
// pages show their forms by); the subpackages chart, format and importjob
// hold the charts' layout, the text forms of values and the background
// imports, and finance the money pages.
// Pages obey the access matrix in
// package authz: block officers see only their blocks' calls, people,
// accounts, blocks, appliances, terminals and alarms; hidden calls are
// shown to investigators and system administrators only; playback and
// exports need a role allowed to and a verified second factor, and a
// privileged call is never played. Users whose role plays and exports
// recordings (system administrators, investigators) and who have no
// second factor are sent to enrol one (/account/totp) when they sign in.
// The navigation holds the pages the signed-in role may open, and a page
// it may not answers 403 with a page saying why and where to go.
// Destructive actions (ending a call, deleting a rate, removing a number
// or a photo, disabling a user, resetting a second factor, revoking a
// token, retiring an appliance) show a confirmation page first
// (confirm.go). Moments are shown, and date filters read, in the prison's
// time zone (zone.go).
// Every sign-in, failed sign-in, search and playback is written to the
// audit log, and every change that alters a block's policy is published to
// its appliances through the PolicyNotifier, as the JSON API does.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinline/kinline/central/authz"

	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/finance"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/central/web/importjob"
	"github.com/kinline/kinline/central/web/page"
	"github.com/kinline/kinline/central/web/signin"
)

//go:embed templates/*.html
var templateFS embed.FS

// CookieName is the session cookie's name.
const CookieName = authz.SessionCookie

// LoginCookieName is the sign-in form's double-submit CSRF cookie.
const LoginCookieName = signin.LoginCookieName

// Config configures the console. Store is required; a nil Users is
// users.New(Store), a nil People people.New(Store), a nil Tables
// tables.New(Store), a nil Reports reports.New(Store), a nil Money
// money.New(Store), a nil Calls reports.New(Store). SessionTTL (absolute
// session lifetime) defaults to 8 hours, SessionIdle (sign-out after no
// request for this long) to 30 minutes. SecureCookie marks the cookies
// Secure (set it when served over TLS).
type Config struct {
	Store        *store.Store
	Users        UserStore
	People       PeopleStore
	Tables       TableStore
	Reports      ReportStore
	Money        MoneyStore
	Calls        CallStore
	Log          *slog.Logger
	SessionTTL   time.Duration
	SessionIdle  time.Duration
	SecureCookie bool
	// Notifier is told about every console change that may alter a
	// block's policy (package api's notifier republishes it); nil: nobody
	// is told.
	Notifier PolicyNotifier
	// EndCall sends the appliance an end_call command for a call in
	// progress, audited as actor's (package api's); nil: the console
	// cannot end calls.
	EndCall func(ctx context.Context, actor, appliance, callID string) error
	// Retired, when set, is told the id of an appliance just retired
	// (central/server drops its live connection); nil: nobody is told.
	Retired func(id string)
	// SignInHint, when set, is shown under the sign-in page's token form
	// (the demo says where its admin token file is); a real installation
	// leaves it empty and advertises no file.
	SignInHint string
}

// UserStore is what the console needs of the console users' store
// (users.Store): sign-in, sessions, the users page and self-enrolment of
// a second factor.
type UserStore interface {
	Login(ctx context.Context, username, password, code string) (*users.User, bool, error)
	StartSession(ctx context.Context, in users.NewSession) (string, *users.Session, error)
	SessionByID(ctx context.Context, id string) (*users.Session, error)
	DeleteSession(ctx context.Context, id string) error
	User(ctx context.Context, id string) (*users.User, error)
	Users(ctx context.Context) ([]users.User, error)
	CreateUser(ctx context.Context, actor string, in users.NewUser) (*users.User, error)
	UpdateUser(ctx context.Context, actor, id string, up users.UserUpdate) (*users.User, error)
	BeginTOTPEnrolment(ctx context.Context, actor, id string) (secret, uri string, err error)
	ConfirmTOTPEnrolment(ctx context.Context, actor, id, sessionID, code string) error
	AuthenticateToken(ctx context.Context, secret string) (*users.Token, error)
	Tokens(ctx context.Context, owner string) ([]users.Token, error)
	CreateToken(ctx context.Context, by users.Creator, in users.NewToken) (string, *users.Token, error)
	RevokeToken(ctx context.Context, actor, owner, id string) (*users.Token, error)
}

// TableStore is what the console needs of the batch import and the
// exports (tables.Store).
type TableStore interface {
	Import(ctx context.Context, actor, kind string, table [][]string, dryRun bool, progress func(done, total int)) (*tables.ImportReport, error)
	ExportTable(ctx context.Context, actor, what, format string, blocks []string) ([][]string, error)
}

// CallStore is what the console needs of the call search and the calls
// export (reports.Store).
type CallStore interface {
	Calls(ctx context.Context, f reports.CallFilter) ([]store.Call, error)
	ExportCalls(ctx context.Context, actor, format string, blocks []string, f reports.CallFilter) ([][]string, error)
}

// ReportStore is what the console needs of the reports (reports.Store):
// statistics, billing and the review of calls.
type ReportStore interface {
	Stats(ctx context.Context, f reports.StatsFilter) (*reports.Stats, error)
	Billing(ctx context.Context, f reports.BillingFilter) (*reports.BillingReport, error)
	ExportBilling(ctx context.Context, actor, format string, f reports.BillingFilter) ([][]string, error)
	ReviewNotes(ctx context.Context, callID string) ([]reports.ReviewNote, error)
	AddReviewNote(ctx context.Context, actor, callID string, in reports.NewReviewNote) (*reports.ReviewNote, error)
	Bookmarks(ctx context.Context, callID string) ([]reports.Bookmark, error)
	AddBookmark(ctx context.Context, actor, callID string, at time.Duration, label string) (*reports.Bookmark, error)
	RemoveBookmark(ctx context.Context, actor, callID, id string, anyAuthor bool) error
}

// MoneyStore is what the console needs of the money (money.Store): the
// money pages' (package finance) and the prison's time zone for the
// statistics and reports.
type MoneyStore = finance.Store

// CallerOf is the authz identity of a console session.
func CallerOf(se *users.Session) authz.Caller { return authz.SessionCaller(se) }

// Server is the console.
type Server struct {
	cfg     Config
	st      *store.Store
	users   UserStore
	people  PeopleStore
	tables  TableStore
	reports ReportStore
	money   MoneyStore
	search  CallStore
	log     *slog.Logger
	tmpl    *template.Template
	mux     *http.ServeMux
	// patterns are the page routes registered (each in the authz matrix).
	patterns []string
	auth     *signin.Signin
	// imports runs the batch imports in the background (Close stops them).
	imports *importjob.Runner

	notifyMu sync.Mutex
	notifier PolicyNotifier
	// zone is the prison's time zone the pages show moments in, read
	// from the settings as each page renders.
	zone atomic.Pointer[time.Location]
}

// New builds the console.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: a store is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.Users == nil {
		cfg.Users = users.New(cfg.Store)
	}
	if cfg.People == nil {
		cfg.People = people.New(cfg.Store)
	}
	if cfg.Tables == nil {
		cfg.Tables = tables.New(cfg.Store)
	}
	if cfg.Reports == nil {
		cfg.Reports = reports.New(cfg.Store)
	}
	if cfg.Money == nil {
		cfg.Money = money.New(cfg.Store)
	}
	if cfg.Calls == nil {
		cfg.Calls = reports.New(cfg.Store)
	}
	s := &Server{cfg: cfg, st: cfg.Store, users: cfg.Users, people: cfg.People, tables: cfg.Tables, reports: cfg.Reports, money: cfg.Money, search: cfg.Calls, log: cfg.Log,
		imports: importjob.NewRunner(ImportJobTimeout), notifier: cfg.Notifier}
	s.zone.Store(time.UTC)
	t, err := template.New("").Funcs(template.FuncMap{"duration": format.Duration}).Funcs(s.timeFuncs()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	s.tmpl = t
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.root)
	s.auth = signin.New(signin.Config{Users: cfg.Users, Audit: cfg.Store, Log: cfg.Log, SessionTTL: cfg.SessionTTL, SessionIdle: cfg.SessionIdle,
		SecureCookie: cfg.SecureCookie, Form: func(w http.ResponseWriter, status int, csrf, msg string) {
			s.render(w, status, "login.html", loginView{page.Layout{Title: "Sign in", Error: msg, CSRF: csrf}, cfg.SignInHint})
		}})
	m.HandleFunc("GET /login", s.auth.Page)
	m.HandleFunc("POST /login", s.auth.Login)
	m.HandleFunc("POST /logout", s.auth.Logout)
	routes := map[string]page.Handler{
		"GET /calls":                s.calls,
		"GET /calls/{id}/recording": s.recording,
	}
	// Each area's pages live beside their handlers.
	finances := finance.New(finance.Deps{Store: cfg.Store, Money: cfg.Money, Render: s.render, Notify: s.notifyBlocks, Log: cfg.Log})
	for _, more := range []map[string]page.Handler{finances.Routes(), s.managePages(), s.reviewPages(), s.consolePages(), s.inProgressPages(), s.enrolPages(), s.tokenPages()} {
		for p, h := range more {
			if _, dup := routes[p]; dup {
				return nil, fmt.Errorf("web: page %s registered twice", p)
			}
			routes[p] = h
		}
	}
	for pattern, h := range routes {
		if _, ok := authz.Routes[pattern]; !ok {
			return nil, fmt.Errorf("web: %w: %s", authz.ErrUnknownRoute, pattern)
		}
		s.patterns = append(s.patterns, pattern)
		m.HandleFunc(pattern, s.session(pattern, h))
	}
	s.mux = m
	return s, nil
}

// Close stops the console's background work: it cancels the running
// import jobs (nothing of a cancelled import is written) and waits for
// them to end. Call it when the server stops, after the HTTP server has
// shut down.
func (s *Server) Close() {
	s.imports.Close()
}

// Handler serves the console. central/server mounts it at "/" beside the JSON
// API at "/api/".
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; media-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		s.mux.ServeHTTP(w, r)
	})
}

// loginView is the data of login.html: Hint is Config.SignInHint.
type loginView struct {
	page.Layout
	Hint string
}

// callsView is the data of calls.html: the search form, a page of calls.
type callsView struct {
	page.Layout
	CanPlay      bool
	Filter       reports.CallFilter
	Calls        []store.Call
	Dispositions []string
	page.Pager
}

// render writes template name with data, never cached.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	s.zone.Store(s.loadZone())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("web: render", "template", name, "err", err)
	}
}

// session requires a live session and applies the access matrix entry of
// pattern (package authz).
func (s *Server) session(pattern string, h page.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.auth.Current(r)
		if se == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err := authz.Check(pattern, CallerOf(se), r.PathValue("id")); err != nil {
			s.forbidden(w, r, se, err)
			return
		}
		if !s.confirmed(w, r, se, pattern) {
			return
		}
		h(w, r, se)
	}
}

// forbidden answers 403 with the refusal page for err (package page).
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, se *users.Session, err error) {
	s.render(w, http.StatusForbidden, "forbidden.html", page.Refused(r, se, err))
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	if s.auth.Current(r) == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/calls", http.StatusSeeOther)
}

func (s *Server) calls(w http.ResponseWriter, r *http.Request, se *users.Session) {
	q := r.URL.Query()
	// Empty form fields mean "any".
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			q.Del(k)
		}
	}
	c := CallerOf(se)
	p := callsView{Layout: page.For(se, "Calls"), Dispositions: callquery.Dispositions, CanPlay: page.Allowed(se, "GET /calls/{id}/recording")}
	f, err := callquery.ParseIn(q, s.loadZone())
	if err == nil && f.Block != "" {
		if err := c.CheckBlock(f.Block); err != nil {
			s.forbidden(w, r, se, err)
			return
		}
	}
	f.Blocks, f.ShowHidden = c.ScopeBlocks(), c.SeesHidden()
	if err != nil {
		p.Error = err.Error()
		p.Filter = reports.CallFilter{Person: q.Get("inmate"), Name: q.Get("name"), Block: q.Get("block"), Number: q.Get("number"),
			Contact: q.Get("contact"), Officer: q.Get("officer"), Disposition: q.Get("disposition")}
		s.render(w, http.StatusBadRequest, "calls.html", p)
		return
	}
	p.Filter = f
	p.Calls, err = s.search.Calls(r.Context(), f)
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "calls.search", "console", q.Encode())
	}
	if errors.Is(err, store.ErrInvalid) { // e.g. a name matching too many people
		p.Error = strings.TrimPrefix(err.Error(), "store: invalid input: ")
		s.render(w, http.StatusUnprocessableEntity, "calls.html", p)
		return
	}
	if err != nil {
		s.log.Error("web: calls", "err", err)
		p.Error = "Could not load calls."
		s.render(w, http.StatusInternalServerError, "calls.html", p)
		return
	}
	link := func(off int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("offset", strconv.Itoa(off))
		return "/calls?" + v.Encode()
	}
	if f.Offset > 0 {
		p.Prev = link(max(0, f.Offset-f.Limit))
	}
	if len(p.Calls) == f.Limit {
		p.Next = link(f.Offset + f.Limit)
	}
	s.render(w, http.StatusOK, "calls.html", p)
}

// recording plays a call's recording: never a privileged call's (package
// recordings refuses it), never another block's for a block officer, and
// a hidden call's only for those who may see hidden calls (others are told
// there is no such recording).
func (s *Server) recording(w http.ResponseWriter, r *http.Request, se *users.Session) {
	c := CallerOf(se)
	call, err := s.st.Call(r.Context(), r.PathValue("id"))
	if err == nil && call.Hidden && !c.SeesHidden() {
		err = store.ErrNotFound
	}
	if err == nil {
		err = c.CheckBlock(call.Block)
	}
	if err == nil {
		err = recordings.Serve(w, r, s.st, se.Actor, call.ID)
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoRecording):
		http.Error(w, "no recording for this call", http.StatusNotFound)
	case errors.Is(err, authz.ErrOutOfScope):
		http.Error(w, page.ForbiddenText(err), http.StatusForbidden)
	case errors.Is(err, recordings.ErrPrivileged):
		http.Error(w, "This is a privileged call: it is never recorded and never played.", http.StatusForbidden)
	default:
		s.log.Error("web: recording", "err", err)
		http.Error(w, "could not serve the recording", http.StatusInternalServerError)
	}
}
