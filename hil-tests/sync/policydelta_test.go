package sync_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// deltaPol is version v of appID's policy: 40 people, person "p7" renamed
// with the version, and person "p30" gone from version 5 on.
func deltaPol(v uint64) *wire.Policy {
	p := &wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: v, IssuedAt: time.Unix(1700000000+int64(v), 0).UTC(),
		Rules: []wire.CallRule{{Level: "", Confirm: wire.ConfirmNone}}}
	for i := 0; i < 40; i++ {
		if i == 30 && v >= 5 {
			continue
		}
		pe := wire.Person{ID: fmt.Sprintf("p%d", i), PrisonNumber: fmt.Sprintf("A%04d", i), Name: "Person", Status: wire.StatusActive,
			Cards: []string{fmt.Sprintf("04AB%04X", i)}, Numbers: []wire.ApprovedNumber{{Number: "+4420790000" + fmt.Sprint(i%10)}}}
		if i == 7 {
			pe.Name = fmt.Sprintf("Renamed v%d", v)
		}
		p.People = append(p.People, pe)
	}
	return p
}

// signedDelta is central's genuine delta from version from to version to.
func signedDelta(t *testing.T, key ed25519.PrivateKey, from, to uint64) *wire.PolicyDelta {
	t.Helper()
	base := deltaPol(from)
	d, err := wire.DiffPolicy(base, deltaPol(to))
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		if err := sign.SignPolicyDelta(key, base, d); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// checkStoredIsSnapshot asserts the appliance stores exactly central's
// signed snapshot of version v.
func (s *secure) checkStoredIsSnapshot(st interface {
	Policy() (*wire.Policy, error)
}, v uint64) {
	s.t.Helper()
	got, err := st.Policy()
	if err != nil {
		s.t.Fatal(err)
	}
	want := deltaPol(v)
	if err := sign.SignPolicy(s.pki.PolicyKey(s.t), want); err != nil {
		s.t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		s.t.Fatalf("stored policy is not the snapshot of version %d\n got %s\nwant %s", v, g, w)
	}
	if err := sign.VerifyPolicy(s.pki.PolicyPub(s.t), got); err != nil {
		s.t.Fatalf("stored policy does not verify: %v", err)
	}
}

func TestTLSPolicyDeltas(t *testing.T) {
	s := newSecure(t)
	key := s.pki.PolicyKey(t)
	s.fake.SetPolicy(deltaPol(1))
	s.startIngest()
	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	s.waitPolicy(1)

	// A change of one person travels as a delta and yields the snapshot.
	s.fake.SetPolicy(deltaPol(2))
	s.svc.PolicyChanged(context.Background(), "A")
	s.waitPolicy(2)
	s.waitStats(1, 1)
	s.checkStoredIsSnapshot(st, 2)
	s.fake.SetPolicy(deltaPol(3))
	s.svc.PolicyChanged(context.Background(), "A")
	s.waitPolicy(3)

	central := s.centralClient()
	send := func(d *wire.PolicyDelta) {
		t.Helper()
		data, _ := json.Marshal(d)
		if tok := central.Publish(wire.TopicPolicyDelta(appID), 1, false, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatal("publish delta")
		}
	}
	// A replayed genuine delta 1->2 is refused (older).
	send(signedDelta(t, key, 1, 2))
	// A genuine delta 5->6 shows a gap: the appliance keeps version 3
	// and asks for a snapshot, which central answers with its current
	// policy (version 4, never published before).
	s.fake.SetPolicy(deltaPol(4))
	send(signedDelta(t, key, 5, 6))
	s.waitPolicy(4)
	if _, _, reqs := s.svc.PolicyStats(); reqs != 1 {
		t.Fatalf("central got %d snapshot requests, want 1", reqs)
	}
	s.checkStoredIsSnapshot(st, 4)

	// Forged (another key) and unsigned deltas on the right base are
	// refused and raise the policy alarm.
	send(signedDelta(t, s.pki.EventKey(t, "blk-b"), 4, 5))
	s.waitAlarms(1)
	send(signedDelta(t, nil, 4, 5))

	// Central's genuine delta 4->5 (a person removed) is applied.
	s.fake.SetPolicy(deltaPol(5))
	s.svc.PolicyChanged(context.Background(), "A")
	s.waitPolicy(5)
	s.checkStoredIsSnapshot(st, 5)
	s.waitStats(2, 3)

	s.mu.Lock()
	applied := append([]uint64(nil), s.policies...)
	s.mu.Unlock()
	if fmt.Sprint(applied) != "[1 2 3 4 5]" {
		t.Fatalf("policies applied %v, want [1 2 3 4 5]", applied)
	}
	s.clk.Advance(syncclient.PolicyAlarmInterval)
	alarms := s.waitAlarms(2)
	if len(alarms) != 2 {
		t.Fatalf("alarms %+v", alarms)
	}
}

// waitStats waits until central counts snapshots and deltas published (a
// count moves when the broker acknowledges, maybe after the appliance has
// the message).
func (s *secure) waitStats(snapshots, deltas uint64) {
	s.t.Helper()
	var sn, de uint64
	testkit.Eventually(s.t, patience, "policy publishing counters", func() bool {
		sn, de, _ = s.svc.PolicyStats()
		return sn == snapshots && de == deltas
	})
}
