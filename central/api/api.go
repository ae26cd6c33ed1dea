// Package api is central's versioned JSON API under /api/v1: inmates, their
// cards and contacts, appliances, calls with their recordings, the audit
// log, officers, the blocks' call rules (dual authorization), the officer
// panel actions the appliances report, and console users.
//
// Authentication: "Authorization: Bearer <token>" (an API token of a
// console user, found by its SHA-256, with a role, an expiry and a
// revocation: users.AuthenticateToken and tokens.go), or the console's
// session cookie, in which case a state-changing request must also carry
// the session's CSRF token in the X-CSRF-Token header. Authorization: every
// route is in the access matrix of package authz (roles, block-officer
// scope, second factor for playback); block officers' list filters are
// forced to their blocks and other blocks' items answer 403. Errors are
// JSON {"error": "..."} with 400 (malformed request), 401 (no or bad
// credential), 403 (role, scope or missing second factor), 404, 409
// (duplicate) or 422 (invalid values).
//
// Some areas' handlers live in packages of their own, each with its
// routes, answers and OpenAPI docs: review (notes, bookmarks, statistics,
// billing), finance (money settings, rates, accounts, credits,
// reconciliation), consoleusers, commands; httpjson holds the JSON conventions
// they share with this package and openapi generates the document.
//
// The API does not know the console (package web): central/server composes
// the two into central's HTTP handler, and hands the console the API's
// EndCall.
//
// Every change is written to the audit log in the same transaction, and so
// are searches, recording playbacks and audit exports. The log is
// hash-chained (GET /api/v1/audit/verify checks it; GET /api/v1/audit.csv
// exports it). After a change that affects a block's policy the server
// calls the injected PolicyNotifier, which republishes the block's policy to
// its appliances.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kinline/kinline/central/api/commands"
	"github.com/kinline/kinline/central/api/consoleusers"
	"github.com/kinline/kinline/central/api/enrol"
	"github.com/kinline/kinline/central/api/finance"
	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/api/review"
	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// PolicyNotifier is told after every change that may alter a block's policy.
type PolicyNotifier interface {
	PolicyChanged(ctx context.Context, block string)
}

// Errors of the API layer (package httpjson's).
var (
	ErrBadRequest  = httpjson.ErrBadRequest
	ErrForbidden   = httpjson.ErrForbidden
	ErrUnavailable = httpjson.ErrUnavailable
)

// Deps are what the HTTP side of central needs. Store is required; a nil
// Users is users.New(Store), a nil People people.New(Store), a nil
// Tables tables.New(Store), a nil Reports reports.New(Store) (also the
// call search), a nil Money money.New(Store); a nil Notifier drops
// notifications; a nil
// Log discards. SessionTTL (default 8 h),
// SessionIdle (default 30 min) and SecureCookie configure the web console's
// sessions: the API reads none of them, central/server passes them on to
// the console it composes with the API.
type Deps struct {
	Store        *store.Store
	Users        *users.Store
	People       *people.Store
	Tables       *tables.Store
	Reports      *reports.Store
	Money        *money.Store
	Notifier     PolicyNotifier
	Log          *slog.Logger
	SessionTTL   time.Duration
	SessionIdle  time.Duration
	SecureCookie bool
	// Retired, when set, is told the id of an appliance just retired
	// (central/server drops its live connection).
	Retired func(id string)
	// SignInHint is the console's (web.Config.SignInHint).
	SignInHint string
}

// Server serves the JSON API under /api/.
type Server struct {
	st       *store.Store
	users    UserStore
	people   PeopleStore
	tables   TableStore
	search   CallStore
	n        PolicyNotifier
	log      *slog.Logger
	mux      *http.ServeMux
	commands *commands.Handlers
	patterns []string
}

// New builds the HTTP handler.
func New(d Deps) (*Server, error) {
	if d.Store == nil {
		return nil, errors.New("api: a store is required")
	}
	if d.Users == nil {
		d.Users = users.New(d.Store)
	}
	if d.People == nil {
		d.People = people.New(d.Store)
	}
	if d.Tables == nil {
		d.Tables = tables.New(d.Store)
	}
	if d.Reports == nil {
		d.Reports = reports.New(d.Store)
	}
	if d.Money == nil {
		d.Money = money.New(d.Store)
	}
	s := &Server{st: d.Store, users: d.Users, people: d.People, tables: d.Tables, search: d.Reports, n: d.Notifier, log: d.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	m := http.NewServeMux()
	routes := map[string]http.HandlerFunc{
		"POST /api/v1/inmates":               s.createPerson,
		"GET /api/v1/inmates":                s.listPersons,
		"GET /api/v1/inmates/{id}":           s.getPerson,
		"PATCH /api/v1/inmates/{id}":         s.patchPerson,
		"POST /api/v1/inmates/{id}/cards":    s.addCard,
		"POST /api/v1/inmates/{id}/contacts": s.addContact,
		"GET /api/v1/inmates/{id}/contacts":  s.listContacts,
		"GET /api/v1/blocks":                 s.listBlocks,
		"POST /api/v1/blocks":                s.createBlock,
		"GET /api/v1/blocks/{name}/rules":    s.getRules,
		"PUT /api/v1/blocks/{name}/rules":    s.putRules,
		"POST /api/v1/officers":              s.createOfficer,
		"GET /api/v1/officers":               s.listOfficers,
		"GET /api/v1/officer-actions":        s.listOfficerActions,
		"GET /api/v1/appliances":             s.listAppliances,
		"GET /api/v1/alarms":                 s.listAlarms,
		"POST /api/v1/alarms/{id}/clear":     s.clearAlarm,
		"GET /api/v1/calls":                  s.listCalls,
		"GET /api/v1/calls/in-progress":      s.callsInProgress,
		"GET /api/v1/calls/{id}":             s.getCall,
		"GET /api/v1/calls/{id}/recording":   s.getRecording,
		"GET /api/v1/audit":                  s.listAudit,
		"GET /api/v1/audit.csv":              s.exportAudit,
		"GET /api/v1/audit/verify":           s.verifyAudit,
	}
	// Each area's routes live beside its handlers.
	reviews := review.New(review.Deps{Store: d.Store, Reports: d.Reports, Settings: d.Money, Log: s.log, ScopedCall: s.scopedCall})
	finances := finance.New(finance.Deps{Store: d.Store, Money: d.Money, Notify: s.notify, Log: s.log})
	userRoutes := consoleusers.New(d.Users, s.log).Routes()
	sender, _ := d.Notifier.(commands.Sender)
	s.commands = commands.New(d.Store, sender, s.log)
	enrolments := enrol.New(enrol.Deps{Store: d.Store, Notify: s.notify, Retired: d.Retired, Log: s.log})
	for _, more := range []map[string]http.HandlerFunc{finances.Routes(), s.manageRoutes(), reviews.Routes(), userRoutes, s.commands.Routes(), s.openapiRoutes(), enrolments.Routes(), s.tokenRoutes(), versionRoutes()} {
		for p, h := range more {
			if _, dup := routes[p]; dup {
				return nil, fmt.Errorf("api: route %s registered twice", p)
			}
			routes[p] = h
		}
	}
	for pattern, h := range routes {
		if _, ok := authz.Routes[pattern]; !ok {
			return nil, fmt.Errorf("api: %w: %s", authz.ErrUnknownRoute, pattern)
		}
		s.patterns = append(s.patterns, pattern)
		m.HandleFunc(pattern, s.auth(pattern, h))
	}
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
	return s, nil
}

// EndCall sends appliance an end_call command for a call in progress,
// audited as actor's (commands.Handlers.EndCall): central/server hands it
// to the console as web.Config.EndCall.
func (s *Server) EndCall(ctx context.Context, actor, appliance, callID string) error {
	return s.commands.EndCall(ctx, actor, appliance, callID)
}

// ServeHTTP serves the JSON API; central/server sends it /api and /api/...
// (an unknown /api/ path answers a JSON 404).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// EnsureAdminToken bootstraps access; see users.Store.EnsureAdminToken.
func (s *Server) EnsureAdminToken(ctx context.Context, path string) error {
	return s.users.EnsureAdminToken(ctx, path, s.log)
}

// Caller is the authenticated identity of a request.
type Caller = authz.Caller

func callerFrom(ctx context.Context) Caller { return httpjson.Caller(ctx) }

// CSRFHeader carries a console session's CSRF token on state-changing API
// requests authenticated by the session cookie instead of a bearer token.
const CSRFHeader = "X-CSRF-Token"

// identify authenticates a request: a bearer token, else the console's
// session cookie (whose state-changing requests must carry CSRFHeader).
func (s *Server) identify(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		tok = strings.TrimSpace(tok)
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinline"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return Caller{}, false
		}
		t, err := s.users.AuthenticateToken(r.Context(), tok)
		if err != nil {
			if !errors.Is(err, store.ErrUnauthorized) {
				s.fail(w, r, err)
				return Caller{}, false
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinline", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return Caller{}, false
		}
		return authz.TokenCaller(t), true
	}
	if ck, err := r.Cookie(authz.SessionCookie); err == nil {
		se, err := s.users.SessionByID(r.Context(), ck.Value)
		if err != nil && !errors.Is(err, store.ErrUnauthorized) {
			s.fail(w, r, err)
			return Caller{}, false
		}
		if se != nil {
			if r.Method != http.MethodGet && r.Method != http.MethodHead &&
				subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(se.CSRF)) != 1 {
				writeError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader)
				return Caller{}, false
			}
			return authz.SessionCaller(se), true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="kinline"`)
	writeError(w, http.StatusUnauthorized, "missing bearer token")
	return Caller{}, false
}

// auth authenticates the request and applies the access matrix entry of
// pattern (package authz) before h runs.
func (s *Server) auth(pattern string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.identify(w, r)
		if !ok {
			return
		}
		if err := authz.Check(pattern, c, r.PathValue("id")); err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r.WithContext(httpjson.WithCaller(r.Context(), c)))
	}
}

// The JSON conventions of package httpjson, under the names the handlers use.
var (
	writeJSON  = httpjson.Write
	writeError = httpjson.Error
	decode     = httpjson.Decode
)

// fail answers err with its status and message (httpjson.Fail).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpjson.Fail(s.log, w, r, err)
}

// StatusFor maps store and API errors to HTTP statuses (httpjson.StatusFor).
func StatusFor(err error) int { return httpjson.StatusFor(err) }

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

type newPersonIn struct {
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
	// Calling windows and maximum call duration replacing the rule's, a
	// suspension's reason and end.
	Windows            []wire.Window `json:"windows"`
	MaxDurationSeconds int           `json:"max_duration_seconds"`
	StatusReason       string        `json:"status_reason"`
	SuspendedUntil     *time.Time    `json:"suspended_until"`
	// The person's own calls per day, week and month, replacing the
	// rule's (0: the rule's).
	CallsPerDay   int `json:"calls_per_day"`
	CallsPerWeek  int `json:"calls_per_week"`
	CallsPerMonth int `json:"calls_per_month"`
}

func (s *Server) createPerson(w http.ResponseWriter, r *http.Request) {
	var in newPersonIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	np := people.NewPerson{PrisonNumber: in.PrisonNumber, Name: in.Name, Block: in.Block, Status: in.Status, Language: in.Language,
		SupervisionLevel: in.SupervisionLevel, Confirm: in.Confirm, ConfirmWindowSeconds: in.ConfirmWindowSeconds,
		Windows: in.Windows, MaxDurationSeconds: in.MaxDurationSeconds, StatusReason: in.StatusReason,
		CallsPerDay: in.CallsPerDay, CallsPerWeek: in.CallsPerWeek, CallsPerMonth: in.CallsPerMonth}
	if in.SuspendedUntil != nil {
		np.SuspendedUntil = *in.SuspendedUntil
	}
	if in.PIN != nil {
		np.PIN = *in.PIN
		if np.PIN == "" {
			s.fail(w, r, fmt.Errorf("%w: pin must be 4 to 8 digits", store.ErrInvalid))
			return
		}
	}
	if err := callerFrom(r.Context()).CheckBlock(in.Block); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.people.CreatePerson(r.Context(), callerFrom(r.Context()).Actor, np)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), p.Block)
	w.Header().Set("Location", "/api/v1/inmates/"+p.ID)
	writeJSON(w, http.StatusCreated, personBody(p))
}

func (s *Server) listPersons(w http.ResponseWriter, r *http.Request) { s.listPeople(w, r, false) }

func (s *Server) listOfficers(w http.ResponseWriter, r *http.Request) { s.listPeople(w, r, true) }

// listPeople serves the people searches (people in prison, or officers),
// filtered to the caller's blocks and audited.
func (s *Server) listPeople(w http.ResponseWriter, r *http.Request, officers bool) {
	kind := "inmates"
	if officers {
		kind = "officers"
	}
	q := r.URL.Query()
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	if b := q.Get("block"); b != "" {
		if err := c.CheckBlock(b); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	people, err := s.people.People(r.Context(), people.PeopleFilter{Block: q.Get("block"), Status: q.Get("status"), Officers: officers, Blocks: c.ScopeBlocks(), Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), c.Actor, kind+".search", kind, r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{kind: peopleBody(people)})
}

func (s *Server) getPerson(w http.ResponseWriter, r *http.Request) {
	p, err := s.scopedPerson(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, personBody(p))
}

// scopedPerson loads the person {id}, refusing a scoped caller another
// block's person.
func (s *Server) scopedPerson(r *http.Request) (*people.Person, error) {
	p, err := s.people.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := callerFrom(r.Context()).CheckBlock(p.Block); err != nil {
		return nil, err
	}
	return p, nil
}

type personPatch struct {
	Name                 *string        `json:"name"`
	Block                *string        `json:"block"`
	Status               *string        `json:"status"`
	Language             *string        `json:"language"`
	PIN                  *string        `json:"pin"`
	SupervisionLevel     *string        `json:"supervision_level"`
	Confirm              *string        `json:"confirm"`
	ConfirmWindowSeconds *int           `json:"confirm_window_seconds"`
	Windows              *[]wire.Window `json:"windows"`
	MaxDurationSeconds   *int           `json:"max_duration_seconds"`
	StatusReason         *string        `json:"status_reason"`
	SuspendedUntil       *time.Time     `json:"suspended_until"`
	CallsPerDay          *int           `json:"calls_per_day"`
	CallsPerWeek         *int           `json:"calls_per_week"`
	CallsPerMonth        *int           `json:"calls_per_month"`
}

func (s *Server) patchPerson(w http.ResponseWriter, r *http.Request) {
	var in personPatch
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.scopedPerson(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Block != nil {
		if err := callerFrom(r.Context()).CheckBlock(*in.Block); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	p, blocks, err := s.people.UpdatePerson(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"),
		people.PersonUpdate{Name: in.Name, Block: in.Block, Status: in.Status, Language: in.Language, PIN: in.PIN,
			SupervisionLevel: in.SupervisionLevel, Confirm: in.Confirm, ConfirmWindowSeconds: in.ConfirmWindowSeconds,
			Windows: in.Windows, MaxDurationSeconds: in.MaxDurationSeconds, StatusReason: in.StatusReason, SuspendedUntil: in.SuspendedUntil,
			CallsPerDay: in.CallsPerDay, CallsPerWeek: in.CallsPerWeek, CallsPerMonth: in.CallsPerMonth})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), blocks...)
	writeJSON(w, http.StatusOK, personBody(p))
}

func (s *Server) addCard(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UID string `json:"uid"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.scopedPerson(r); err != nil {
		s.fail(w, r, err)
		return
	}
	block, err := s.people.AddCard(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"), in.UID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusCreated, map[string]string{"uid": policy.NormalizeUID(in.UID), "person_id": r.PathValue("id")})
}

// contactIn adds a contact. Status "" is approved (the caller, an
// administrator or the block's officer, decides at once; Reason says why)
// or "requested" to go through approval (POST /api/v1/contacts/{id}/decision).
type contactIn struct {
	Number       string `json:"number"`
	Name         string `json:"name"`
	Relationship string `json:"relationship"`
	Privileged   bool   `json:"privileged"`
	Identity     string `json:"identity"`
	Status       string `json:"status"`
	Reason       string `json:"reason"`
}

func (s *Server) addContact(w http.ResponseWriter, r *http.Request) {
	var in contactIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.scopedPerson(r); err != nil {
		s.fail(w, r, err)
		return
	}
	c, block, err := s.people.AddContact(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"),
		people.NewContact{Number: in.Number, Name: in.Name, Relationship: in.Relationship, Privileged: in.Privileged,
			Identity: in.Identity, Status: in.Status, Reason: in.Reason})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusCreated, contactBody(c))
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	if _, err := s.scopedPerson(r); err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.people.Contacts(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": contactsBody(cs)})
}

func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request) {
	bs, err := s.st.Blocks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	out := []blockOut{}
	for _, b := range bs {
		if c.InScope(b.Name) {
			out = append(out, blockBody(&b))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocks": out})
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
	c := callerFrom(r.Context())
	out := []applianceOut{}
	for _, a := range as {
		if c.InScope(a.Block) {
			out = append(out, applianceBody(&a))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"appliances": out})
}

// listAlarms serves GET /api/v1/alarms?appliance=&open=true&limit=&offset=,
// newest first; block officers get their blocks' appliances' alarms.
func (s *Server) listAlarms(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "appliance", "open", "limit", "offset":
		default:
			s.fail(w, r, fmt.Errorf("%w: unknown parameter %q", ErrBadRequest, k))
			return
		}
	}
	if o := q.Get("open"); o != "" && o != "true" && o != "false" {
		s.fail(w, r, fmt.Errorf("%w: open must be true or false", ErrBadRequest))
		return
	}
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	al, err := s.st.AlarmList(r.Context(), store.AlarmFilter{ApplianceID: q.Get("appliance"), Open: q.Get("open") == "true",
		Blocks: callerFrom(r.Context()).ScopeBlocks(), Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarms": alarmsBody(al)})
}

// clearAlarm serves POST /api/v1/alarms/{id}/clear {"note": "..."}: an
// operator clears a central alarm after looking into it (audited).
func (s *Server) clearAlarm(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Note string `json:"note"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.st.ClearAlarm(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"), in.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, alarmBody(a))
}

// callsInProgress serves GET /api/v1/calls/in-progress.
func (s *Server) callsInProgress(w http.ResponseWriter, r *http.Request) {
	c := callerFrom(r.Context())
	calls, err := s.st.CallsInProgress(r.Context(), store.InProgressFilter{Blocks: c.ScopeBlocks(), WithHidden: c.SeesHidden()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), c.Actor, "calls.in_progress", "calls", fmt.Sprintf("listed=%d", len(calls))); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": callsInProgressBody(calls)})
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	f, err := callquery.Parse(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	if f.Block != "" {
		if err := c.CheckBlock(f.Block); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	f.Blocks, f.ShowHidden = c.ScopeBlocks(), c.SeesHidden()
	calls, err := s.search.Calls(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), callerFrom(r.Context()).Actor, "calls.search", "calls", r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	resp := map[string]any{"calls": callsBody(calls), "limit": f.Limit, "offset": f.Offset}
	if len(calls) == f.Limit {
		resp["next_offset"] = f.Offset + f.Limit
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	c, err := s.scopedCall(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, callBody(c))
}

// scopedCall loads the call {id}, refusing a scoped caller another block's
// call; a hidden call is not found for a caller who may not see it.
func (s *Server) scopedCall(r *http.Request) (*store.Call, error) {
	c, err := s.st.Call(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	caller := callerFrom(r.Context())
	if c.Hidden && !caller.SeesHidden() {
		return nil, fmt.Errorf("%w: call %s", store.ErrNotFound, c.ID)
	}
	if err := caller.CheckBlock(c.Block); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request) {
	if _, err := s.scopedCall(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := recordings.Serve(w, r, s.st, callerFrom(r.Context()).Actor, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
	}
}

// auditFilter reads the audit log's filters: actor, action, target and
// from/to (RFC 3339 times or dates, UTC midnight; to exclusive).
func auditFilter(q url.Values) (store.AuditFilter, error) {
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target")}
	var err1, err2 error
	f.From, err1 = httpjson.QueryTime(q, "from", time.UTC)
	f.To, err2 = httpjson.QueryTime(q, "to", time.UTC)
	return f, errors.Join(err1, err2)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := auditFilter(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Limit, f.Offset = limit, offset
	log, err := s.st.AuditLog(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": auditEntriesBody(log)})
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	if err := callerFrom(r.Context()).CheckBlock(r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	rules, err := s.people.Rules(r.Context(), r.PathValue("name"))
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
	if err := s.people.SetRules(r.Context(), callerFrom(r.Context()).Actor, block, in.Rules); err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	rules, err := s.people.Rules(r.Context(), block)
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
	p, err := s.people.CreatePerson(r.Context(), callerFrom(r.Context()).Actor, people.NewPerson{
		PrisonNumber: in.StaffNumber, Name: in.Name, Block: in.Block, Officer: true, Cards: in.Cards,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), p.Block)
	w.Header().Set("Location", "/api/v1/inmates/"+p.ID)
	writeJSON(w, http.StatusCreated, personBody(p))
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
	acts, err := s.people.OfficerActions(r.Context(), people.OfficerActionFilter{
		ApplianceID: q.Get("appliance"), Officer: q.Get("officer"), CallID: q.Get("call"), Limit: limit, Offset: offset,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"officer_actions": officerActionsBody(acts)})
}
