// Package web is central's minimal server-rendered web console: sign in with
// an API token, then list calls newest first and play their recordings. It
// needs no JavaScript build step (and no JavaScript at all).
//
// Sessions: POST /login exchanges a valid token for a random session id that
// is stored (hashed) in the database with an expiry and set as an HttpOnly,
// SameSite=Strict cookie, so cross-site requests never carry it. POST forms
// also refuse a foreign Origin. Every sign-in, search and playback is written
// to the audit log with the signed-in token's name.
package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kinline/kinline/central/api/callquery"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// CookieName is the session cookie's name.
const CookieName = "kinline_session"

// Config configures the console. Store is required. SessionTTL defaults to
// 8 hours. SecureCookie marks the cookie Secure (set it when served over TLS).
type Config struct {
	Store        *store.Store
	Log          *slog.Logger
	SessionTTL   time.Duration
	SecureCookie bool
}

// Server is the console.
type Server struct {
	cfg  Config
	st   *store.Store
	log  *slog.Logger
	tmpl *template.Template
	mux  *http.ServeMux
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
	t, err := template.New("").Funcs(template.FuncMap{"duration": formatDuration}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	s := &Server{cfg: cfg, st: cfg.Store, log: cfg.Log, tmpl: t}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.root)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /calls", s.session(s.calls))
	m.HandleFunc("GET /calls/{id}/recording", s.session(s.recording))
	s.mux = m
	return s, nil
}

// Handler serves the console. package api mounts it at "/" beside the JSON
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

type page struct {
	Title        string
	Actor        string
	Error        string
	Filter       store.CallFilter
	Calls        []store.Call
	Dispositions []string
	Prev, Next   string
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, name, p); err != nil {
		s.log.Error("web: render", "template", name, "err", err)
	}
}

func (s *Server) current(r *http.Request) *store.Session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	se, err := s.st.SessionByID(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, store.ErrUnauthorized) {
			s.log.Error("web: session lookup", "err", err)
		}
		return nil
	}
	return se
}

type sessionHandler func(http.ResponseWriter, *http.Request, *store.Session)

func (s *Server) session(h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.current(r)
		if se == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, se)
	}
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	if s.current(r) == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/calls", http.StatusSeeOther)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", page{Title: "Sign in"})
}

// sameOrigin refuses form posts whose Origin (sent by browsers on POST) names
// another site.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	tok := r.PostFormValue("token")
	t, err := s.st.Authenticate(r.Context(), tok)
	if err != nil {
		status := http.StatusUnauthorized
		msg := "That token is not valid."
		if !errors.Is(err, store.ErrUnauthorized) {
			s.log.Error("web: authenticate", "err", err)
			status, msg = http.StatusInternalServerError, "Sign-in failed; try again."
		}
		s.render(w, status, "login.html", page{Title: "Sign in", Error: msg})
		return
	}
	id, err := s.st.CreateSession(r.Context(), "token:"+t.Name, t.Role, s.cfg.SessionTTL)
	if err != nil {
		s.log.Error("web: create session", "err", err)
		s.render(w, http.StatusInternalServerError, "login.html", page{Title: "Sign in", Error: "Sign-in failed; try again."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookie,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL.Seconds())})
	http.Redirect(w, r, "/calls", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if err := s.st.DeleteSession(r.Context(), c.Value); err != nil {
			s.log.Error("web: logout", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookie,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) calls(w http.ResponseWriter, r *http.Request, se *store.Session) {
	q := r.URL.Query()
	// Empty form fields mean "any".
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			q.Del(k)
		}
	}
	p := page{Title: "Calls", Actor: se.Actor, Dispositions: callquery.Dispositions}
	f, err := callquery.Parse(q)
	if err != nil {
		p.Error = err.Error()
		p.Filter = store.CallFilter{Inmate: q.Get("inmate"), Number: q.Get("number")}
		s.render(w, http.StatusBadRequest, "calls.html", p)
		return
	}
	p.Filter = f
	p.Calls, err = s.st.Calls(r.Context(), f)
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "calls.search", "console", q.Encode())
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

func (s *Server) recording(w http.ResponseWriter, r *http.Request, se *store.Session) {
	if err := recordings.Serve(w, r, s.st, se.Actor, r.PathValue("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrNoRecording) {
			http.Error(w, "no recording for this call", http.StatusNotFound)
			return
		}
		s.log.Error("web: recording", "err", err)
		http.Error(w, "could not serve the recording", http.StatusInternalServerError)
	}
}

func formatDuration(sec float64) string {
	if sec <= 0 {
		return "—"
	}
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
