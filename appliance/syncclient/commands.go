package syncclient

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// Commands (wire.Command, on the appliance's commands topic) are checked in
// this order, and every one that carries a usable id is answered
// (wire.CommandAnswer on the command-answers topic):
//
//  1. it names this appliance (else ErrCommandForeign);
//  2. with Config.PolicyKey set, it is signed with central's policy key
//     (else ErrCommandSignature: logged and answered, never recorded, so
//     forged commands cannot fill the outbox);
//  3. it is well formed (wire.Command.Check, else ErrCommandInvalid);
//  4. it was not taken before: the ids of commands taken are kept in the
//     store until they expire, and a command seen again is not executed
//     but answered again with its first answer;
//  5. it has not expired by the injected clock (else ErrCommandExpired:
//     it does nothing).
//
// A command that reaches step 4 is remembered, with its answer, and
// recorded as a wire.EventCommand in the outbox in the same transaction.
// refresh is carried out here (resend everything central has not
// acknowledged, resume the recording upload, report status); the other
// kinds go to Deps.OnCommand.

// Refusal reasons of commands, sent in wire.CommandAnswer.Error.
var (
	ErrCommandForeign     = errors.New("syncclient: command for another appliance")
	ErrCommandSignature   = errors.New("syncclient: command signature refused")
	ErrCommandInvalid     = errors.New("syncclient: invalid command")
	ErrCommandExpired     = errors.New("syncclient: command expired")
	ErrCommandUnsupported = errors.New("syncclient: command not supported here")
)

// inCommand is a command as the paho handler took it: decoded, with the
// refusal found before the loop (foreign appliance, signature).
type inCommand struct {
	cmd    wire.Command
	refuse error
}

// maxQueuedCommands bounds the commands waiting for the loop.
const maxQueuedCommands = 256

// takeCommand decodes and verifies a command on paho's router and queues it
// for the loop. It reports whether anything was queued.
func (c *Client) takeCommand(payload []byte) bool {
	cmd, err := wire.DecodeCommand(payload, c.cfg.ApplianceID)
	in := inCommand{}
	switch {
	case cmd == nil:
		c.log.Warn("sync: command refused: undecodable", "err", err)
		return false
	case err != nil:
		in.refuse = fmt.Errorf("%w: %w", ErrCommandForeign, err)
	case c.cfg.PolicyKey != nil:
		if err := sign.VerifyCommand(c.cfg.PolicyKey, cmd); err != nil {
			in.refuse = fmt.Errorf("%w: %w", ErrCommandSignature, err)
		}
	}
	if wire.ValidCommandID(cmd.ID) != nil {
		c.log.Warn("sync: command without a usable id refused", "kind", cmd.Kind, "refused", in.refuse)
		return false
	}
	in.cmd = *cmd
	c.mu.Lock()
	if len(c.commands) >= maxQueuedCommands {
		c.commands = c.commands[1:]
	}
	c.commands = append(c.commands, in)
	c.mu.Unlock()
	return true
}

// command checks and carries out one command and answers it. It returns an
// error only for a failure of the local store.
func (l *loop) command(in inCommand) error {
	c := l.c
	cmd := &in.cmd
	lg := c.log.With("command", cmd.ID, "kind", cmd.Kind, "call", cmd.CallID)
	now := c.clk.Now()
	answer := wire.CommandAnswer{V: wire.ProtocolVersion, ApplianceID: c.cfg.ApplianceID, ID: cmd.ID, At: now}
	if in.refuse != nil {
		lg.Error("sync: command refused", "err", in.refuse)
		answer.Error = in.refuse.Error()
		l.answer(&answer)
		return nil
	}
	if err := cmd.Check(); err != nil {
		lg.Warn("sync: command refused", "err", err)
		answer.Error = fmt.Errorf("%w: %w", ErrCommandInvalid, err).Error()
		l.answer(&answer)
		return nil
	}
	prev, err := c.deps.Store.CommandAnswer(cmd.ID)
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	if prev != nil {
		lg.Info("sync: command seen before, answered again, not executed")
		l.answer(prev)
		return nil
	}
	var result error
	switch {
	case !now.Before(cmd.Expires):
		result = fmt.Errorf("%w at %s (now %s)", ErrCommandExpired, cmd.Expires.UTC().Format("2006-01-02T15:04:05Z"), now.UTC().Format("2006-01-02T15:04:05Z"))
	case cmd.Kind == wire.CmdRefresh:
		l.rewind()
		l.closeUpload()
	case c.deps.OnCommand == nil:
		result = fmt.Errorf("%w: %s", ErrCommandUnsupported, cmd.Kind)
	default:
		result = c.deps.OnCommand(cmd)
	}
	answer.OK = result == nil
	if result != nil {
		answer.Error = result.Error()
		lg.Warn("sync: command not carried out", "err", result)
	} else {
		lg.Info("sync: command carried out")
	}
	rec := wire.CommandRecord{ID: cmd.ID, Kind: cmd.Kind, CallID: cmd.CallID, Expires: cmd.Expires, OK: answer.OK, Error: answer.Error}
	err = c.deps.Store.Update(func(tx *store.Tx) error {
		if err := tx.RememberCommand(cmd.ID, cmd.Expires, answer, now.Add(-wire.MaxCommandTTL)); err != nil {
			return err
		}
		if _, err := tx.Append(wire.EventCommand, rec); err != nil {
			return err
		}
		if cmd.Kind == wire.CmdRefresh && answer.OK {
			_, err := tx.Append(wire.EventStatus, wire.Status{PolicyVersion: l.policyVersion, Software: c.cfg.Software, Capability: wire.CurrentCapabilityVersion})
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("syncclient: record command: %w", err)
	}
	l.answer(&answer)
	return nil
}

// answer publishes a command's answer without waiting for it.
func (l *loop) answer(a *wire.CommandAnswer) {
	data, err := json.Marshal(a)
	if err != nil {
		l.c.log.Error("sync: encode command answer", "err", err)
		return
	}
	tok := l.client.Publish(wire.TopicCommandAnswers(l.c.cfg.ApplianceID), 1, false, data)
	l.watch(tok, "command answer", a.ID)
}
