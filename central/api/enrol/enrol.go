// Package enrol is the JSON API's enrolment of appliances: adding one to a
// block, moving it to another and retiring it, system administrators only,
// each change audited by the store. An appliance central does not have
// enrolled is refused at connect (embedded broker) or at ingest (external
// Mosquitto) and alarmed; see central/server.
package enrol

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/store"
)

// Deps are what the enrolment routes need. Store is required; a nil
// Notify republishes nothing, a nil Retired tells nobody, a nil Log
// discards.
type Deps struct {
	Store *store.Store
	// Notify republishes the policies of the blocks named.
	Notify func(ctx context.Context, blocks ...string)
	// Retired is told the id of an appliance just retired (central/server
	// drops its live connection on the embedded broker).
	Retired func(id string)
	Log     *slog.Logger
}

// Handlers serve the enrolment routes.
type Handlers struct{ d Deps }

// New returns the enrolment routes' handlers.
func New(d Deps) *Handlers {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Notify == nil {
		d.Notify = func(context.Context, ...string) {}
	}
	if d.Retired == nil {
		d.Retired = func(string) {}
	}
	return &Handlers{d: d}
}

// Routes are the enrolment routes.
func (h *Handlers) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v1/appliances":                    h.enrol,
		"PATCH /api/v1/appliances/{appliance}":       h.move,
		"POST /api/v1/appliances/{appliance}/retire": h.retire,
	}
}

// component is implemented by the answers: they are components of the
// OpenAPI document under the name componentName gives.
type component interface{ componentName() string }

// OwnType is the openapi.Owner of this package's types: inlined unless
// they name a component.
var OwnType = openapi.OwnerOf(component.componentName)

type enrolIn struct {
	ID    string `json:"id"`
	Block string `json:"block"`
}

type moveIn struct {
	Block string `json:"block"`
}

// enrolmentOut is an appliance's enrolment after a change.
type enrolmentOut struct {
	ID    string `json:"id"`
	Block string `json:"block"`
	// From is the block it left (a move).
	From string `json:"from,omitempty"`
	// Retired is when it was retired (a retirement).
	Retired *time.Time `json:"retired,omitempty"`
}

func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpjson.Fail(h.d.Log, w, r, err)
}

func (h *Handlers) enrol(w http.ResponseWriter, r *http.Request) {
	var in enrolIn
	if err := httpjson.Decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.d.Store.EnrolAppliance(r.Context(), httpjson.Caller(r.Context()).Actor, in.ID, in.Block); err != nil {
		h.fail(w, r, err)
		return
	}
	h.d.Log.Info("appliance enrolled", "appliance", in.ID, "block", in.Block, "by", httpjson.Caller(r.Context()).Actor)
	h.d.Notify(r.Context(), in.Block)
	w.Header().Set("Location", "/api/v1/appliances/"+in.ID)
	httpjson.Write(w, http.StatusCreated, enrolmentOut{ID: in.ID, Block: in.Block})
}

func (h *Handlers) move(w http.ResponseWriter, r *http.Request) {
	var in moveIn
	if err := httpjson.Decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	id := r.PathValue("appliance")
	from, err := h.d.Store.MoveAppliance(r.Context(), httpjson.Caller(r.Context()).Actor, id, in.Block)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.d.Log.Info("appliance moved", "appliance", id, "from", from, "block", in.Block, "by", httpjson.Caller(r.Context()).Actor)
	h.d.Notify(r.Context(), from, in.Block)
	httpjson.Write(w, http.StatusOK, enrolmentOut{ID: id, Block: in.Block, From: from})
}

func (h *Handlers) retire(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("appliance")
	block, err := h.d.Store.RetireAppliance(r.Context(), httpjson.Caller(r.Context()).Actor, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.d.Log.Info("appliance retired", "appliance", id, "block", block, "by", httpjson.Caller(r.Context()).Actor)
	h.d.Retired(id)
	now := h.d.Store.Now().UTC()
	httpjson.Write(w, http.StatusOK, enrolmentOut{ID: id, Block: block, Retired: &now})
}
