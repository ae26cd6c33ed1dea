package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
)

// Commands to appliances: POST /api/v1/appliances/{appliance}/commands
// records a wire.Command (audited) and sends it through the Notifier when
// that is the ingest service (it implements CommandSender); GET lists the
// appliance's commands with their state ("pending", "answered",
// "expired"). Block officers only reach their blocks' appliances.

// CommandSender sends a command to its appliance (central/ingest.Service).
type CommandSender interface {
	SendCommand(ctx context.Context, c *wire.Command) error
}

// ErrUnavailable: the server cannot reach the appliances (no CommandSender,
// or sending failed).
var ErrUnavailable = httpjson.ErrUnavailable

// DefaultCommandTTL is the lifetime of a command when ttl_seconds is not
// given.
const DefaultCommandTTL = 60 * time.Second

type commandIn struct {
	Kind       string `json:"kind"`
	CallID     string `json:"call_id"`
	TTLSeconds int    `json:"ttl_seconds"`
}

// scopedAppliance returns the path's appliance and its block: ErrNotFound
// when unknown, ErrOutOfScope outside a block officer's blocks.
func (s *Server) scopedAppliance(r *http.Request) (string, error) {
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

func (s *Server) createCommand(w http.ResponseWriter, r *http.Request) {
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
			s.fail(w, r, fmt.Errorf("%w: ttl_seconds must be 1..%d", ErrBadRequest, int(wire.MaxCommandTTL/time.Second)))
			return
		}
		ttl = time.Duration(in.TTLSeconds) * time.Second
	}
	c, err := s.issueCommand(r.Context(), callerFrom(r.Context()).Actor, id, in.Kind, in.CallID, ttl)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, commandOut{ID: c.ID, ApplianceID: id, Kind: c.Kind, CallID: c.CallID, Issued: c.Issued,
		Expires: c.Expires, IssuedBy: callerFrom(r.Context()).Actor, State: store.CommandPending})
}

// issueCommand records a command to appliance (audited as actor's) and
// sends it: ErrBadRequest for a malformed one, ErrUnavailable when it
// cannot be sent.
func (s *Server) issueCommand(ctx context.Context, actor, appliance, kind, callID string, ttl time.Duration) (*wire.Command, error) {
	now := s.st.Now().UTC()
	c := &wire.Command{V: wire.ProtocolVersion, ID: newCommandID(), ApplianceID: appliance, Kind: kind, CallID: callID, Issued: now, Expires: now.Add(ttl)}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	sender, ok := s.n.(CommandSender)
	if !ok || sender == nil {
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
// audited as actor's: the console's way to end a call (central/server
// hands it to the console as web.Config.EndCall). Errors are issueCommand's.
func (s *Server) EndCall(ctx context.Context, actor, appliance, callID string) error {
	_, err := s.issueCommand(ctx, actor, appliance, wire.CmdEndCall, callID, DefaultCommandTTL)
	return err
}

func (s *Server) listCommands(w http.ResponseWriter, r *http.Request) {
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
