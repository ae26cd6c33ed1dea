// Package commands is the JSON API's commands to appliances, and the
// console's way to end a call in progress (EndCall).
package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/kinline/kinline/central/api/openapi"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
)

// Commands to appliances: POST /api/v1/appliances/{appliance}/commands
// records a wire.Command (audited) and sends it through the Sender (the
// ingest service); GET lists the appliance's commands with their state
// ("pending", "answered", "expired"). Block officers only reach their
// blocks' appliances.

// Sender sends a command to its appliance (central/ingest.Service).
type Sender interface {
	SendCommand(ctx context.Context, c *wire.Command) error
}

// ErrUnavailable: the server cannot reach the appliances (no Sender, or
// sending failed).
var ErrUnavailable = httpjson.ErrUnavailable

// DefaultCommandTTL is the lifetime of a command when ttl_seconds is not
// given.
const DefaultCommandTTL = 60 * time.Second

// Handlers serve the commands routes.
type Handlers struct {
	st     *store.Store
	sender Sender
	log    *slog.Logger
	name   UserName
}

// UserName returns the full name of the console user userID, as the
// console's users page shows it.
type UserName func(ctx context.Context, userID string) (string, error)

// New returns the commands routes' handlers: commands are recorded in st
// and sent through sender (nil: none can be sent, ErrUnavailable);
// failures to send are logged to log. Each command says who sent it
// (wire.Command.By): the caller's actor, with a console user's name from
// name (nil: the actor alone).
func New(st *store.Store, sender Sender, log *slog.Logger, name UserName) *Handlers {
	return &Handlers{st: st, sender: sender, log: log, name: name}
}

// by names c as a command's sender: "user:alice (Alice Smith)" for a
// console user, the actor alone for a token or when the name cannot be
// had or would make an unusable wire.Command.By.
func (s *Handlers) by(ctx context.Context, c authz.Caller) string {
	by := c.Actor
	if c.UserID != "" && s.name != nil {
		switch n, err := s.name(ctx, c.UserID); {
		case err != nil:
			s.log.Warn("api: command sender's name not found", "user", c.UserID, "err", err)
		case n != "":
			by += " (" + n + ")"
		}
	}
	if wire.ValidCommandBy(by) == nil {
		return by
	}
	if wire.ValidCommandBy(c.Actor) == nil {
		return c.Actor
	}
	return ""
}

// Routes are the commands routes.
func (s *Handlers) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v1/appliances/{appliance}/commands": s.createCommand,
		"GET /api/v1/appliances/{appliance}/commands":  s.listCommands,
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

type commandIn struct {
	Kind       string `json:"kind"`
	CallID     string `json:"call_id"`
	TTLSeconds int    `json:"ttl_seconds"`
}

// scopedAppliance returns the path's appliance and its block: ErrNotFound
// when unknown, ErrOutOfScope outside a block officer's blocks.
func (s *Handlers) scopedAppliance(r *http.Request) (string, error) {
	id := r.PathValue("appliance")
	block, err := s.st.ApplianceBlock(r.Context(), id)
	if err != nil {
		return "", err
	}
	if err := callerFrom(r.Context()).CheckBlock(block); err != nil {
		return "", err
	}
	return id, nil
}

func (s *Handlers) createCommand(w http.ResponseWriter, r *http.Request) {
	id, err := s.scopedAppliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in commandIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	ttl := DefaultCommandTTL
	if in.TTLSeconds != 0 {
		if in.TTLSeconds < 0 || time.Duration(in.TTLSeconds)*time.Second > wire.MaxCommandTTL {
			s.fail(w, r, fmt.Errorf("%w: ttl_seconds must be 1..%d", httpjson.ErrBadRequest, int(wire.MaxCommandTTL/time.Second)))
			return
		}
		ttl = time.Duration(in.TTLSeconds) * time.Second
	}
	caller := callerFrom(r.Context())
	c, err := s.issueCommand(r.Context(), caller.Actor, s.by(r.Context(), caller), id, in.Kind, in.CallID, ttl)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, commandOut{ID: c.ID, ApplianceID: id, Kind: c.Kind, CallID: c.CallID, Issued: c.Issued,
		Expires: c.Expires, IssuedBy: callerFrom(r.Context()).Actor, State: store.CommandPending})
}

// issueCommand records a command to appliance (audited as actor's, sent
// as by's: wire.Command.By) and sends it: httpjson.ErrBadRequest for a
// malformed one, ErrUnavailable when it cannot be sent.
func (s *Handlers) issueCommand(ctx context.Context, actor, by, appliance, kind, callID string, ttl time.Duration) (*wire.Command, error) {
	now := s.st.Now().UTC()
	c := &wire.Command{V: wire.ProtocolVersion, ID: newCommandID(), ApplianceID: appliance, Kind: kind, CallID: callID, By: by, Issued: now, Expires: now.Add(ttl)}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", httpjson.ErrBadRequest, err)
	}
	sender := s.sender
	if sender == nil {
		return nil, fmt.Errorf("%w: no MQTT connection configured", ErrUnavailable)
	}
	if err := s.st.CreateCommand(ctx, actor, c); err != nil {
		return nil, err
	}
	if err := sender.SendCommand(ctx, c); err != nil {
		s.log.Error("api: command not sent", "appliance", appliance, "command", c.ID, "kind", c.Kind, "err", err)
		return nil, fmt.Errorf("%w: command %s recorded but not sent: %w", ErrUnavailable, c.ID, err)
	}
	return c, nil
}

// EndCall sends appliance an end_call command for a call in progress,
// audited as c's and naming c (wire.Command.By, the call record's
// ended_by): the console's way to end a call (through
// api.Server.EndCall). Errors are issueCommand's.
func (s *Handlers) EndCall(ctx context.Context, c authz.Caller, appliance, callID string) error {
	_, err := s.issueCommand(ctx, c.Actor, s.by(ctx, c), appliance, wire.CmdEndCall, callID, DefaultCommandTTL)
	return err
}

func (s *Handlers) listCommands(w http.ResponseWriter, r *http.Request) {
	id, err := s.scopedAppliance(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.st.Commands(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"commands": commandsBody(cs)})
}

func newCommandID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return "cmd-" + hex.EncodeToString(b[:])
}

// component is implemented by the answers: they are components of the
// OpenAPI document under the name componentName gives.
type component interface{ componentName() string }

// OwnType is the openapi.Owner of this package's types: inlined unless
// they name a component.
var OwnType = openapi.OwnerOf(component.componentName)

// commandOut is a command sent to an appliance and its answer.
type commandOut struct {
	ID          string     `json:"id"`
	ApplianceID string     `json:"appliance_id"`
	Kind        string     `json:"kind"`
	CallID      string     `json:"call_id,omitempty"`
	Issued      time.Time  `json:"issued"`
	Expires     time.Time  `json:"expires"`
	IssuedBy    string     `json:"issued_by"`
	State       string     `json:"state"`
	OK          bool       `json:"ok"`
	Error       string     `json:"error,omitempty"`
	AnsweredAt  *time.Time `json:"answered_at,omitempty"`
}

func (commandOut) componentName() string { return "store.Command" }

func commandBody(v *store.Command) commandOut {
	return commandOut{ID: v.ID, ApplianceID: v.ApplianceID, Kind: v.Kind, CallID: v.CallID, Issued: v.Issued, Expires: v.Expires, IssuedBy: v.IssuedBy, State: v.State, OK: v.OK, Error: v.Error, AnsweredAt: v.AnsweredAt}
}

func commandsBody(vs []store.Command) []commandOut {
	if vs == nil {
		return nil
	}
	out := make([]commandOut, len(vs))
	for i := range vs {
		out[i] = commandBody(&vs[i])
	}
	return out
}
