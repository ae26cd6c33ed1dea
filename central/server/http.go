package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kinline/kinline/central/api"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web"
)

// HTTP is central's whole HTTP side: the JSON API (package api) under /api
// and /api/..., the console (package web) everywhere else. The two share
// the stores, and the console ends calls through the API's EndCall and
// tells the API's notifier about its policy changes.
type HTTP struct {
	API     *api.Server
	Console *web.Server
	console http.Handler
}

// NewHTTP builds the API and the console from d (d.Store is required; the
// other stores default as in api.Deps, once, for both) and composes them.
// d's session settings configure the console.
func NewHTTP(d api.Deps) (*HTTP, error) {
	if d.Store == nil {
		return nil, errors.New("server: a store is required")
	}
	if d.Users == nil {
		d.Users = users.New(d.Store)
	}
	if d.Tables == nil {
		d.Tables = tables.New(d.Store)
	}
	if d.Reports == nil {
		d.Reports = reports.New(d.Store)
	}
	if d.People == nil {
		d.People = people.New(d.Store)
	}
	if d.Money == nil {
		d.Money = money.New(d.Store)
	}
	a, err := api.New(d)
	if err != nil {
		return nil, err
	}
	cfg := web.Config{Store: d.Store, Users: d.Users, People: d.People, Tables: d.Tables, Reports: d.Reports, Money: d.Money, Calls: d.Reports,
		SessionTTL: d.SessionTTL, SessionIdle: d.SessionIdle, SecureCookie: d.SecureCookie, EndCall: a.EndCall, Notifier: d.Notifier, Retired: d.Retired,
		SignInHint: d.SignInHint}
	if d.Log != nil {
		cfg.Log = d.Log.With("part", "web")
	}
	c, err := web.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return &HTTP{API: a, Console: c, console: c.Handler()}, nil
}

// ServeHTTP sends /api and /api/... to the JSON API and everything else to
// the console.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		h.API.ServeHTTP(w, r)
		return
	}
	h.console.ServeHTTP(w, r)
}

// Close stops the HTTP side's background work. Call it after the HTTP
// server has shut down and before the store closes.
func (h *HTTP) Close() {
	h.Console.Close()
}
