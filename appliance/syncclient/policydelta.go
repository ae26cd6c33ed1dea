package syncclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// Policy deltas (wire.PolicyDelta, retained on wire.TopicPolicyDelta).
//
// A delta is applied only when its BaseVersion is the version of the stored
// policy and, with Config.PolicyKey set, when its signature verifies over
// the policy it produces (sign.ApplyPolicyDelta): the result is then
// stored like a snapshot of that version. A delta not newer than the stored
// policy is refused (a replay, or the retained delta already applied). A
// delta from another base (a gap: a delta or snapshot was missed) leaves the
// policy as it is and makes the client publish a wire.PolicyRequest on
// wire.TopicPolicyRequest, at most once per Config.PolicyRequestInterval for
// the same stored version; central answers with a snapshot. Central answers
// at most one request per appliance every few seconds and the request or
// its answer can be lost, so while the stored policy is older than the
// newest version a delta announced, the client asks again every
// PolicyRequestInterval (while connected) until it holds that version or a
// newer one, or a snapshot at least as new as the stored policy says that
// is central's current version. A delta whose signature does not verify is refused and
// counted into the AlarmPolicyRejected alarm like a forged snapshot.

// maxQueuedDeltas bounds the deltas waiting for the sync loop.
const maxQueuedDeltas = 64

// takeDelta records a delta for the loop; it runs on paho's router.
func (c *Client) takeDelta(payload []byte) bool {
	if len(payload) == 0 {
		return false // a cleared retained message
	}
	d, err := wire.DecodePolicyDelta(payload, c.cfg.ApplianceID)
	if err != nil {
		c.log.Warn("sync: policy delta refused", "err", err)
		return false
	}
	c.mu.Lock()
	if len(c.deltas) >= maxQueuedDeltas {
		c.deltas = c.deltas[1:]
	}
	c.deltas = append(c.deltas, d)
	c.mu.Unlock()
	return true
}

// applyDelta applies d to the stored policy when it can, else asks for a
// snapshot (see above).
func (l *loop) applyDelta(d *wire.PolicyDelta) error {
	c := l.c
	cur := l.policyVersion
	switch {
	case d.Version < cur:
		c.log.Warn("sync: older policy delta refused (replayed?)", "base", d.BaseVersion, "version", d.Version, "stored", cur)
		return nil
	case d.Version == cur:
		c.log.Debug("sync: policy delta already applied", "version", d.Version)
		return nil
	case d.BaseVersion != cur:
		l.behind = max(l.behind, d.Version)
		return l.requestSnapshot(fmt.Sprintf("delta %d->%d, have %d", d.BaseVersion, d.Version, cur))
	}
	base, err := c.deps.Store.Policy()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	if base == nil {
		l.behind = max(l.behind, d.Version)
		return l.requestSnapshot(fmt.Sprintf("delta %d->%d, have no policy", d.BaseVersion, d.Version))
	}
	var res *wire.Policy
	if c.cfg.PolicyKey != nil {
		res, err = sign.ApplyPolicyDelta(c.cfg.PolicyKey, base, d)
	} else {
		res, err = d.Apply(base)
	}
	switch {
	case errors.Is(err, wire.ErrDeltaBase):
		c.log.Warn("sync: policy delta does not fit the stored policy", "base", d.BaseVersion, "version", d.Version, "err", err)
		l.behind = max(l.behind, d.Version)
		return l.requestSnapshot(fmt.Sprintf("delta %d->%d does not apply: %v", d.BaseVersion, d.Version, err))
	case err != nil:
		c.log.Error("sync: policy delta refused: signature", "base", d.BaseVersion, "version", d.Version, "err", err)
		l.rejected++
		l.rejectWhy = fmt.Sprintf("policy delta %d->%d refused: %v", d.BaseVersion, d.Version, err)
		return nil
	}
	c.log.Info("sync: policy delta applied", "base", d.BaseVersion, "version", d.Version, "upserted", len(d.Upsert), "removed", len(d.Remove))
	return l.applyPolicy(res)
}

// requestSnapshot publishes a wire.PolicyRequest, unless one was published
// for the same stored version less than PolicyRequestInterval ago.
func (l *loop) requestSnapshot(reason string) error {
	c := l.c
	now := c.clk.Now()
	if !l.requestedAt.IsZero() && l.requestedHave == l.policyVersion && now.Sub(l.requestedAt) < c.cfg.PolicyRequestInterval {
		c.log.Debug("sync: snapshot already requested", "have", l.policyVersion, "reason", reason)
		return nil
	}
	if len(reason) > wire.MaxPolicyRequestReason {
		reason = reason[:wire.MaxPolicyRequestReason]
	}
	req := wire.PolicyRequest{V: wire.ProtocolVersion, ApplianceID: c.cfg.ApplianceID, Have: l.policyVersion, Reason: reason}
	data, err := json.Marshal(&req)
	if err != nil {
		return fmt.Errorf("syncclient: encode policy request: %w", err)
	}
	c.log.Info("sync: asking central for a policy snapshot", "have", l.policyVersion, "reason", reason)
	tok := l.client.Publish(wire.TopicPolicyRequest(c.cfg.ApplianceID), 1, false, data)
	l.watch(tok, "policy request", l.policyVersion)
	l.requestedAt, l.requestedHave = now, l.policyVersion
	// Wake the loop when the next request is allowed, for retrySnapshot.
	if l.requestTimer != nil {
		l.requestTimer.Stop()
	}
	l.requestTimer = c.clk.AfterFunc(c.cfg.PolicyRequestInterval, c.signal)
	return nil
}

// retrySnapshot asks for a snapshot again, once PolicyRequestInterval has
// passed since the last request, while the stored policy is older than the
// newest version a delta announced (l.behind); it forgets l.behind once
// that version is reached. The loop calls it while connected.
func (l *loop) retrySnapshot() error {
	if l.behind <= l.policyVersion {
		l.behind = 0
		return nil
	}
	if l.c.clk.Now().Sub(l.requestedAt) < l.c.cfg.PolicyRequestInterval {
		return nil // the request timer wakes the loop when it is due
	}
	return l.requestSnapshot(fmt.Sprintf("still behind: have %d, a delta announced %d", l.policyVersion, l.behind))
}

// openFile is the default Config.OpenRecording: the file as it is on disk.
func openFile(path string) (io.ReadSeekCloser, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readAt fills buf from offset off of the recording, seeking only when the
// reads are not consecutive.
func (up *upload) readAt(buf []byte, off int64) error {
	if up.pos != off {
		if _, err := up.f.Seek(off, io.SeekStart); err != nil {
			up.pos = -1
			return err
		}
		up.pos = off
	}
	n, err := io.ReadFull(up.f, buf)
	up.pos += int64(n)
	if err != nil {
		up.pos = -1
	}
	return err
}
