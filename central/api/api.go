// Package api is central's HTTP front: the versioned JSON API under /api/v1
// (and, through package web, the console at /): inmates, their
// cards and contacts, appliances, calls with their recordings, and the audit
// log, officers, the blocks' call rules (dual authorization) and the officer
// panel actions the appliances report. Every request carries "Authorization: Bearer <token>"; tokens are
// checked against the SHA-256 hashes in the store in constant time. Admin
// tokens may change things, viewer tokens only read. Errors are JSON
// {"error": "..."} with 400 (malformed request), 401 (no or bad token), 403
// (role), 404, 409 (duplicate) or 422 (invalid values).
//
// Every change is written to the audit log in the same transaction, and so
// are searches and recording playbacks. After a change that affects a block's
// policy the server calls the injected PolicyNotifier, which republishes the
// block's policy to its appliances.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kinline/kinline/central/api/callquery"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/web"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// PolicyNotifier is told after every change that may alter a block's policy.
type PolicyNotifier interface {
	PolicyChanged(ctx context.Context, block string)
}

// Errors of the API layer.
var (
	ErrBadRequest = errors.New("api: bad request")
	ErrForbidden  = errors.New("api: forbidden")
)

// Deps are what the HTTP side of central needs. Store is required; a nil
// Notifier drops notifications; a nil Log discards. SessionTTL (default 8 h)
// and SecureCookie configure the web console's sessions.
type Deps struct {
	Store        *store.Store
	Notifier     PolicyNotifier
	Log          *slog.Logger
	SessionTTL   time.Duration
	SecureCookie bool
}

// Server serves the JSON API under /api/ and the web console (package web)
// everywhere else: it is central's whole HTTP handler.
type Server struct {
	st      *store.Store
	n       PolicyNotifier
	log     *slog.Logger
	mux     *http.ServeMux
	console http.Handler
}

// New builds the HTTP handler.
func New(d Deps) (*Server, error) {
	if d.Store == nil {
		return nil, errors.New("api: a store is required")
	}
	s := &Server{st: d.Store, n: d.Notifier, log: d.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	console, err := web.New(web.Config{Store: d.Store, Log: s.log.With("part", "web"), SessionTTL: d.SessionTTL, SecureCookie: d.SecureCookie})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s.console = console.Handler()
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/inmates", s.auth(true, s.createInmate))
	m.HandleFunc("GET /api/v1/inmates", s.auth(false, s.listInmates))
	m.HandleFunc("GET /api/v1/inmates/{id}", s.auth(false, s.getInmate))
	m.HandleFunc("PATCH /api/v1/inmates/{id}", s.auth(true, s.patchInmate))
	m.HandleFunc("POST /api/v1/inmates/{id}/cards", s.auth(true, s.addCard))
	m.HandleFunc("POST /api/v1/inmates/{id}/contacts", s.auth(true, s.addContact))
	m.HandleFunc("GET /api/v1/inmates/{id}/contacts", s.auth(false, s.listContacts))
	m.HandleFunc("GET /api/v1/blocks", s.auth(false, s.listBlocks))
	m.HandleFunc("POST /api/v1/blocks", s.auth(true, s.createBlock))
	m.HandleFunc("GET /api/v1/blocks/{name}/rules", s.auth(false, s.getRules))
	m.HandleFunc("PUT /api/v1/blocks/{name}/rules", s.auth(true, s.putRules))
	m.HandleFunc("POST /api/v1/officers", s.auth(true, s.createOfficer))
	m.HandleFunc("GET /api/v1/officers", s.auth(false, s.listOfficers))
	m.HandleFunc("GET /api/v1/officer-actions", s.auth(false, s.listOfficerActions))
	m.HandleFunc("GET /api/v1/appliances", s.auth(false, s.listAppliances))
	m.HandleFunc("GET /api/v1/alarms", s.auth(false, s.listAlarms))
	m.HandleFunc("GET /api/v1/calls", s.auth(false, s.listCalls))
	m.HandleFunc("GET /api/v1/calls/{id}", s.auth(false, s.getCall))
	m.HandleFunc("GET /api/v1/calls/{id}/recording", s.auth(false, s.getRecording))
	m.HandleFunc("GET /api/v1/audit", s.auth(false, s.listAudit))
	m.HandleFunc("POST /api/v1/tokens", s.auth(true, s.createToken))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
	return s, nil
}

// ServeHTTP routes /api/ to the JSON API and everything else to the console.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.console.ServeHTTP(w, r)
}

// Handler returns s as an http.Handler.
func (s *Server) Handler() http.Handler { return s }

// EnsureAdminToken bootstraps access; see store.Store.EnsureAdminToken.
func (s *Server) EnsureAdminToken(ctx context.Context, path string) error {
	return s.st.EnsureAdminToken(ctx, path)
}

type ctxKey struct{}

// Caller is the authenticated identity of a request.
type Caller struct {
	Actor string // for the audit log, e.g. "token:admin"
	Role  string
}

func callerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(ctxKey{}).(Caller)
	return c
}

func (s *Server) auth(write bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok = strings.TrimSpace(tok)
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinline"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		t, err := s.st.Authenticate(r.Context(), tok)
		if err != nil {
			if !errors.Is(err, store.ErrUnauthorized) {
				s.fail(w, r, err)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinline", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		if write && t.Role != store.RoleAdmin {
			writeError(w, http.StatusForbidden, "this token may only read")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, Caller{Actor: "token:" + t.Name, Role: t.Role})))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail maps an error to its status and message.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusFor(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	} else {
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "store: "), "api: ")
	}
	writeError(w, status, msg)
}

// StatusFor maps store and API errors to HTTP statuses.
func StatusFor(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, callquery.ErrBadQuery):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoRecording):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrRecordingConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrUnknownBlock):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// decode reads a JSON body of at most 64 KiB into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type must be application/json", ErrBadRequest)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: invalid JSON body: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after JSON body", ErrBadRequest)
	}
	return nil
}

func (s *Server) notify(ctx context.Context, blocks ...string) {
	if s.n == nil {
		return
	}
	seen := map[string]bool{}
	for _, b := range blocks {
		if b != "" && !seen[b] {
			seen[b] = true
			s.n.PolicyChanged(ctx, b)
		}
	}
}

type inmateIn struct {
	PrisonNumber string  `json:"prison_number"`
	Name         string  `json:"name"`
	Block        string  `json:"block"`
	Status       string  `json:"status"`
	Language     string  `json:"language"`
	PIN          *string `json:"pin"`
	// Dual authorization: the person's supervision level (selects the
	// block's call rule) and a per-person override of its confirmation.
	SupervisionLevel     string `json:"supervision_level"`
	Confirm              string `json:"confirm"`
	ConfirmWindowSeconds int    `json:"confirm_window_seconds"`
}

func (s *Server) createInmate(w http.ResponseWriter, r *http.Request) {
	var in inmateIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	np := store.NewPerson{PrisonNumber: in.PrisonNumber, Name: in.Name, Block: in.Block, Status: in.Status, Language: in.Language,
		SupervisionLevel: in.SupervisionLevel, Confirm: in.Confirm, ConfirmWindowSeconds: in.ConfirmWindowSeconds}
	if in.PIN != nil {
		np.PIN = *in.PIN
		if np.PIN == "" {
			s.fail(w, r, fmt.Errorf("%w: pin must be 4 to 8 digits", store.ErrInvalid))
			return
		}
	}
	p, err := s.st.CreatePerson(r.Context(), callerFrom(r.Context()).Actor, np)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), p.Block)
	w.Header().Set("Location", "/api/v1/inmates/"+p.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listInmates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	people, err := s.st.People(r.Context(), store.PeopleFilter{Block: q.Get("block"), Status: q.Get("status"), Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"inmates": people})
}

func (s *Server) getInmate(w http.ResponseWriter, r *http.Request) {
	p, err := s.st.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type inmatePatch struct {
	Name                 *string `json:"name"`
	Block                *string `json:"block"`
	Status               *string `json:"status"`
	Language             *string `json:"language"`
	PIN                  *string `json:"pin"`
	SupervisionLevel     *string `json:"supervision_level"`
	Confirm              *string `json:"confirm"`
	ConfirmWindowSeconds *int    `json:"confirm_window_seconds"`
}

func (s *Server) patchInmate(w http.ResponseWriter, r *http.Request) {
	var in inmatePatch
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p, blocks, err := s.st.UpdatePerson(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"),
		store.PersonUpdate{Name: in.Name, Block: in.Block, Status: in.Status, Language: in.Language, PIN: in.PIN,
			SupervisionLevel: in.SupervisionLevel, Confirm: in.Confirm, ConfirmWindowSeconds: in.ConfirmWindowSeconds})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), blocks...)
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) addCard(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UID string `json:"uid"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	block, err := s.st.AddCard(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"), in.UID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusCreated, map[string]string{"uid": policy.NormalizeUID(in.UID), "person_id": r.PathValue("id")})
}

type contactIn struct {
	Number       string `json:"number"`
	Name         string `json:"name"`
	Relationship string `json:"relationship"`
	Privileged   bool   `json:"privileged"`
}

func (s *Server) addContact(w http.ResponseWriter, r *http.Request) {
	var in contactIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c, block, err := s.st.AddContact(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"),
		store.NewContact{Number: in.Number, Name: in.Name, Relationship: in.Relationship, Privileged: in.Privileged})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	cs, err := s.st.Contacts(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": cs})
}

func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request) {
	bs, err := s.st.Blocks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocks": bs})
}

func (s *Server) createBlock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.EnsureBlock(r.Context(), callerFrom(r.Context()).Actor, in.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name})
}

func (s *Server) listAppliances(w http.ResponseWriter, r *http.Request) {
	as, err := s.st.Appliances(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"appliances": as})
}

func (s *Server) listAlarms(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	al, err := s.st.Alarms(r.Context(), q.Get("appliance"), q.Get("open") == "true")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if al == nil {
		al = []store.Alarm{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarms": al})
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	f, err := callquery.Parse(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	calls, err := s.st.Calls(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), callerFrom(r.Context()).Actor, "calls.search", "calls", r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	resp := map[string]any{"calls": calls, "limit": f.Limit, "offset": f.Offset}
	if len(calls) == f.Limit {
		resp["next_offset"] = f.Offset + f.Limit
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	c, err := s.st.Call(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request) {
	if err := recordings.Serve(w, r, s.st, callerFrom(r.Context()).Actor, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	log, err := s.st.AuditLog(r.Context(), store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": log})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	tok, err := s.st.CreateToken(r.Context(), callerFrom(r.Context()).Actor, in.Name, in.Role)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name, "role": in.Role, "token": tok})
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.st.Rules(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": r.PathValue("name"), "rules": rules})
}

// rulesIn is the body of PUT /api/v1/blocks/{name}/rules: the block's whole
// set of call rules, replacing the previous one.
type rulesIn struct {
	Rules []wire.CallRule `json:"rules"`
}

func (s *Server) putRules(w http.ResponseWriter, r *http.Request) {
	var in rulesIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Rules == nil {
		in.Rules = []wire.CallRule{}
	}
	block := r.PathValue("name")
	if err := s.st.SetRules(r.Context(), callerFrom(r.Context()).Actor, block, in.Rules); err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	rules, err := s.st.Rules(r.Context(), block)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": block, "rules": rules})
}

// officerIn enrols a member of staff whose card confirms calls on a block's
// officer panel.
type officerIn struct {
	StaffNumber string   `json:"staff_number"`
	Name        string   `json:"name"`
	Block       string   `json:"block"`
	Cards       []string `json:"cards"`
}

func (s *Server) createOfficer(w http.ResponseWriter, r *http.Request) {
	var in officerIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.st.CreatePerson(r.Context(), callerFrom(r.Context()).Actor, store.NewPerson{
		PrisonNumber: in.StaffNumber, Name: in.Name, Block: in.Block, Officer: true, Cards: in.Cards,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), p.Block)
	w.Header().Set("Location", "/api/v1/inmates/"+p.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listOfficers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	people, err := s.st.People(r.Context(), store.PeopleFilter{Block: q.Get("block"), Status: q.Get("status"), Officers: true, Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"officers": people})
}

func (s *Server) listOfficerActions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "appliance", "officer", "call", "limit", "offset":
		default:
			s.fail(w, r, fmt.Errorf("%w: unknown parameter %q", ErrBadRequest, k))
			return
		}
	}
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	acts, err := s.st.OfficerActions(r.Context(), store.OfficerActionFilter{
		ApplianceID: q.Get("appliance"), Officer: q.Get("officer"), CallID: q.Get("call"), Limit: limit, Offset: offset,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"officer_actions": acts})
}
