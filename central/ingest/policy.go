package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// Policy publishing: snapshots and deltas.
//
// Ingest remembers, in memory, the policy it last published to each
// appliance. When the appliance's policy changes it computes the
// wire.PolicyDelta from that one and publishes it (retained, on
// wire.TopicPolicyDelta) when its JSON is smaller than the snapshot's;
// otherwise, and always after a (re)connect (so after a restart of central,
// which forgets what it published), it publishes the snapshot (retained, on
// wire.TopicPolicy). A delta's signature is central's signature of the
// policy it produces (sign.SignPolicyDelta).
//
// An appliance that cannot apply a delta (it does not hold its base
// version) publishes a wire.PolicyRequest; ingest answers with a snapshot,
// at most once per SnapshotRequestInterval per appliance (the appliance
// asks again later if it still needs one).

// SnapshotRequestInterval is the least time between two snapshots published
// for one appliance's requests.
const SnapshotRequestInterval = 2 * time.Second

// PolicyStats counts what ingest published since New.
type PolicyStats struct {
	Snapshots, Deltas, Requests atomic.Uint64
}

// PolicyStats returns the counters of policy publishing: snapshots and
// deltas published, snapshot requests received.
func (s *Service) PolicyStats() (snapshots, deltas, requests uint64) {
	return s.polStats.Snapshots.Load(), s.polStats.Deltas.Load(), s.polStats.Requests.Load()
}

// outgoing is one policy message ready to publish.
type outgoing struct {
	id      string
	topic   string
	data    []byte
	version uint64
	delta   bool
}

// preparePolicy builds the message that brings appliance id to its current
// policy: a delta from the policy last published to it when that is
// smaller and snapshot is false, else the snapshot. It records the policy
// as published. nil, nil: the appliance has no policy. s.polMu must be
// held, and the message published before it is released, so that deltas
// leave in the order they were computed.
func (s *Service) preparePolicy(ctx context.Context, id string, snapshot bool) (*outgoing, error) {
	p, err := s.st.PolicyFor(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("policy lookup: %w", err)
	}
	if p == nil {
		return nil, nil
	}
	if p.ApplianceID != id || p.V != wire.ProtocolVersion {
		return nil, fmt.Errorf("store returned a policy for %q version %d", p.ApplianceID, p.V)
	}
	signed := *p // never modify the store's value
	if s.cfg.PolicyKey != nil {
		if err := sign.SignPolicy(s.cfg.PolicyKey, &signed); err != nil {
			return nil, fmt.Errorf("sign policy %d: %w", p.Version, err)
		}
	}
	snap, err := json.Marshal(&signed)
	if err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	out := &outgoing{id: id, topic: wire.TopicPolicy(id), data: snap, version: p.Version}
	if last := s.published[id]; !snapshot && last != nil && last.Version < p.Version {
		if d, res, derr := s.delta(last, &signed); derr != nil {
			s.log.Warn("ingest: policy delta not made, publishing the snapshot", "appliance", id, "from", last.Version, "to", p.Version, "err", derr)
		} else if data, merr := json.Marshal(d); merr == nil && len(data) < len(snap) {
			s.published[id] = res
			out.topic, out.data, out.delta = wire.TopicPolicyDelta(id), data, true
			return out, nil
		}
	}
	s.published[id] = &signed
	return out, nil
}

// delta returns the signed delta from last to p and the policy it
// produces.
func (s *Service) delta(last, p *wire.Policy) (*wire.PolicyDelta, *wire.Policy, error) {
	d, err := wire.DiffPolicy(last, p)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.PolicyKey != nil {
		if err := sign.SignPolicyDelta(s.cfg.PolicyKey, last, d); err != nil {
			return nil, nil, err
		}
	}
	res, err := d.Apply(last)
	if err != nil {
		return nil, nil, err
	}
	return d, res, nil
}

// publishPolicies publishes the policy of every appliance of block (""
// for all): as snapshots when snapshot is set, else as deltas where smaller.
func (s *Service) publishPolicies(ctx context.Context, block string, snapshot bool) {
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client == nil {
		s.log.Warn("ingest: policy not published: not running", "block", block)
		return
	}
	ids, err := s.st.AppliancesInBlock(ctx, block)
	if err != nil {
		s.log.Error("ingest: list appliances", "block", block, "err", err)
		return
	}
	type pending struct {
		out *outgoing
		tok mqtt.Token
	}
	var toks []pending
	s.polMu.Lock()
	for _, id := range ids {
		out, err := s.preparePolicy(ctx, id, snapshot)
		if err != nil {
			s.log.Error("ingest: policy not published", "appliance", id, "err", err)
			continue
		}
		if out == nil {
			continue
		}
		toks = append(toks, pending{out, client.Publish(out.topic, 1, true, out.data)})
	}
	s.polMu.Unlock()
	// Wait for all of them together, not one by one.
	for _, p := range toks {
		select {
		case <-p.tok.Done():
			if err := p.tok.Error(); err != nil {
				s.log.Error("ingest: publish policy", "appliance", p.out.id, "err", err)
				continue
			}
			if p.out.delta {
				s.polStats.Deltas.Add(1)
			} else {
				s.polStats.Snapshots.Add(1)
			}
		case <-ctx.Done():
			return
		}
	}
	if len(toks) > 0 {
		s.log.Info("ingest: policies published", "block", block, "count", len(toks), "snapshot", snapshot)
	}
}

// ParsePolicyRequest decodes an untrusted snapshot request received on
// applianceID's policy-request topic.
func ParsePolicyRequest(applianceID string, payload []byte) (*wire.PolicyRequest, error) {
	r, err := wire.DecodePolicyRequest(payload, applianceID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return r, nil
}

// handlePolicyRequest answers an appliance's snapshot request with its
// policy's snapshot.
func (s *Service) handlePolicyRequest(ctx context.Context, id string, payload []byte) error {
	r, err := ParsePolicyRequest(id, payload)
	if err != nil {
		return err
	}
	s.polStats.Requests.Add(1)
	s.polMu.Lock()
	if at, ok := s.answeredAt[id]; ok && time.Since(at) < SnapshotRequestInterval {
		s.polMu.Unlock()
		s.log.Debug("ingest: snapshot request too soon after the last, ignored", "appliance", id, "have", r.Have)
		return nil
	}
	s.answeredAt[id] = time.Now()
	s.polMu.Unlock()
	s.log.Info("ingest: appliance asks for a policy snapshot", "appliance", id, "have", r.Have, "reason", r.Reason)
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client == nil {
		return ErrNotConnected
	}
	if err := s.publishPolicyOf(ctx, client, id); err != nil {
		return fmt.Errorf("ingest: snapshot for %s: %w", id, err)
	}
	s.polStats.Snapshots.Add(1)
	return nil
}
