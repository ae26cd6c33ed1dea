package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/wire"
)

// ReasonEndedByCentral is the reason of a call ended by central's end_call
// command.
const ReasonEndedByCentral = "ended by central"

// endedByCentral is what officerEnds records as the ender of such calls
// when the command does not say who sent it (Command.By, from a central
// of capability 20 or older).
const endedByCentral = "central"

// ErrNoSuchCall answers an end_call command for a call not in progress.
var ErrNoSuchCall = errors.New("daemon: no such call in progress")

// ErrSuperseded answers a lockdown or lift command older than the one that
// set the block's current lockdown state: it is not applied.
var ErrSuperseded = errors.New("daemon: superseded by a newer lockdown command")

// command carries out a command from central that the sync client has
// checked (syncclient.Deps.OnCommand). It returns at once: an ended call
// is torn down in the background.
func (s *System) command(cmd *wire.Command) error {
	switch cmd.Kind {
	case wire.CmdLockdown, wire.CmdLiftLockdown:
		on := cmd.Kind == wire.CmdLockdown
		var applied bool
		if err := s.Store.Update(func(tx *store.Tx) (err error) {
			applied, err = tx.SetLockdownAt(on, cmd.Issued)
			return err
		}); err != nil {
			return fmt.Errorf("daemon: store lockdown: %w", err)
		}
		if !applied {
			s.Log.Warn("lockdown command superseded by a newer one: not applied", "on", on, "command", cmd.ID, "issued", cmd.Issued)
			return fmt.Errorf("%w: %s issued %s", ErrSuperseded, cmd.Kind, cmd.Issued.Format(time.RFC3339Nano))
		}
		s.Authz.SetLockdown(on)
		s.Log.Warn("lockdown set by central", "on", on, "command", cmd.ID)
		return nil
	case wire.CmdEndCall:
		return s.ends.endByCentral(s.Calls, cmd.CallID, cmd.By)
	}
	return fmt.Errorf("daemon: command kind %q not handled", cmd.Kind)
}

// endByCentral ends one call in progress for central; by is who sent the
// command (Command.By, "" when central did not say), the call record's
// ended_by.
func (o *officerEnds) endByCentral(calls callEnder, callID, by string) error {
	found := false
	for _, c := range calls.ActiveCalls() {
		if c.CallID == callID {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	o.mu.Lock()
	if by == "" {
		by = endedByCentral
	}
	o.endedBy[callID] = ender{by: by, central: true}
	o.mu.Unlock()
	o.log.Info("central ends the call", "call", callID, "by", by)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), endCallTimeout)
		defer cancel()
		if err := calls.EndCall(ctx, callID); err != nil && !errors.Is(err, callctl.ErrNoSuchCall) {
			o.log.Warn("ending the call failed", "call", callID, "err", err)
		}
	}()
	return nil
}
