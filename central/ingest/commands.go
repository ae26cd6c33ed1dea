package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// Commands: central publishes a wire.Command (QoS 1, not retained, signed
// with Config.PolicyKey when set) on the appliance's commands topic, and
// receives the appliances' wire.CommandAnswer on a shared subscription.
// Answers go to the store when it implements CommandAnswerStore; otherwise
// they are only logged.

// ErrCommand: a command could not be sent.
var ErrCommand = errors.New("ingest: command not sent")

// CommandAnswerStore is the optional part of Store that records the
// appliances' answers to commands (central/store.Store implements it).
type CommandAnswerStore interface {
	AnswerCommand(ctx context.Context, a *wire.CommandAnswer) error
}

// commandPublishTimeout bounds the wait for the broker's PUBACK.
const commandPublishTimeout = 30 * time.Second

// SendCommand checks c, signs it when Config.PolicyKey is set (c itself is
// not modified) and publishes it, QoS 1 and not retained, on the
// appliance's commands topic, waiting for the broker to take it. For
// wire.CmdRefresh it then republishes the appliance's policy (retained).
func (s *Service) SendCommand(ctx context.Context, c *wire.Command) error {
	if err := c.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrCommand, err)
	}
	out := *c
	if s.cfg.PolicyKey != nil {
		if err := sign.SignCommand(s.cfg.PolicyKey, &out); err != nil {
			return fmt.Errorf("%w: sign: %w", ErrCommand, err)
		}
	}
	data, err := json.Marshal(&out)
	if err != nil {
		return fmt.Errorf("%w: encode: %w", ErrCommand, err)
	}
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client == nil || !client.IsConnected() {
		return fmt.Errorf("%w: %w", ErrCommand, ErrNotConnected)
	}
	if err := waitToken(ctx, client.Publish(wire.TopicCommands(c.ApplianceID), 1, false, data)); err != nil {
		return fmt.Errorf("%w: %s to %s: %w", ErrCommand, c.Kind, c.ApplianceID, err)
	}
	s.log.Info("ingest: command sent", "appliance", c.ApplianceID, "command", c.ID, "kind", c.Kind, "call", c.CallID)
	if c.Kind == wire.CmdRefresh {
		if err := s.publishPolicyOf(ctx, client, c.ApplianceID); err != nil {
			return fmt.Errorf("%w: refresh %s: %w", ErrCommand, c.ApplianceID, err)
		}
	}
	return nil
}

// publishPolicyOf publishes one appliance's current policy as a snapshot,
// retained and signed when Config.PolicyKey is set, and waits for the
// broker to take it. No policy yet is not an error.
func (s *Service) publishPolicyOf(ctx context.Context, client mqtt.Client, id string) error {
	s.polMu.Lock()
	out, err := s.preparePolicy(ctx, id, true)
	if err != nil || out == nil {
		s.polMu.Unlock()
		return err
	}
	tok := client.Publish(out.topic, 1, true, out.data)
	s.polMu.Unlock()
	return waitToken(ctx, tok)
}

// waitToken waits for an MQTT token, ctx or commandPublishTimeout.
func waitToken(ctx context.Context, tok mqtt.Token) error {
	t := time.NewTimer(commandPublishTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no PUBACK within %s", commandPublishTimeout)
	}
}

// onCommandAnswer runs on paho's router: it decodes the answer and hands
// it to the store in its own goroutine, so the router never waits on it.
func (s *Service) onCommandAnswer(_ mqtt.Client, m mqtt.Message) {
	id, ok := wire.ApplianceFromTopic(m.Topic())
	if !ok {
		s.log.Warn("ingest: command answer on unexpected topic", "topic", m.Topic())
		return
	}
	a, err := ParseCommandAnswer(id, m.Payload())
	if err != nil {
		s.log.Warn("ingest: command answer refused", "appliance", id, "err", err)
		return
	}
	s.goTracked(func(ctx context.Context) { s.handleCommandAnswer(ctx, a) })
}

// ParseCommandAnswer decodes an untrusted command answer received on
// applianceID's command-answers topic.
func ParseCommandAnswer(applianceID string, payload []byte) (*wire.CommandAnswer, error) {
	a, err := wire.DecodeCommandAnswer(payload, applianceID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return a, nil
}

func (s *Service) handleCommandAnswer(ctx context.Context, a *wire.CommandAnswer) {
	// The appliance's answer text is "answer_error": "err" is left to
	// central's own failure below, so no line carries the key twice.
	lg := s.log.With("appliance", a.ApplianceID, "command", a.ID, "ok", a.OK, "answer_error", a.Error)
	cs, ok := s.st.(CommandAnswerStore)
	if !ok {
		lg.Info("ingest: command answered (not stored: the store keeps no commands)")
		return
	}
	if err := cs.AnswerCommand(ctx, a); err != nil {
		lg.Warn("ingest: command answer not stored", "err", err)
		return
	}
	lg.Info("ingest: command answered")
}
