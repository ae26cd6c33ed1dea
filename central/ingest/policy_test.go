package ingest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

func blockPol(v uint64, names string) *wire.Policy {
	p := &wire.Policy{V: 1, ApplianceID: "blk-a", Block: "A", Version: v, IssuedAt: time.Unix(1700000000+int64(v), 0).UTC()}
	for i := 0; i < 20; i++ {
		p.People = append(p.People, wire.Person{ID: fmt.Sprintf("%s%d", names, i), Name: names, Status: wire.StatusActive, Cards: []string{fmt.Sprintf("04%04X", i)}})
	}
	return p
}

// Central publishes a delta when it is smaller than the snapshot (and the
// delta applied to the last published policy gives exactly the new
// snapshot, signature included), the snapshot when it is not, and a
// snapshot when an appliance asks for one.
func TestPolicyDeltaOrSnapshot(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	e := setupCfg(t, func(s *ingesttest.Store) { s.SetPolicy(blockPol(1, "p")) }, func(c *ingest.Config) { c.PolicyKey = key })
	var v1 wire.Policy
	if err := json.Unmarshal(e.next(t, wire.TopicPolicy("blk-a")), &v1); err != nil || v1.Version != 1 {
		t.Fatalf("first snapshot: %+v %v", v1, err)
	}

	// One person changes: a delta.
	v2 := blockPol(2, "p")
	v2.People[4].Cards = append(v2.People[4].Cards, "FFFF")
	e.st.SetPolicy(v2)
	e.svc.PolicyChanged(context.Background(), "A")
	d, err := wire.DecodePolicyDelta(e.next(t, wire.TopicPolicyDelta("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Upsert) != 1 || d.BaseVersion != 1 || d.Version != 2 {
		t.Fatalf("delta %+v", d)
	}
	got, err := sign.ApplyPolicyDelta(pub, &v1, d)
	if err != nil {
		t.Fatalf("delta does not apply: %v", err)
	}
	want := *v2
	if err := sign.SignPolicy(key, &want); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(&want)
	if !bytes.Equal(g, w) {
		t.Fatalf("delta result\n%s\nsnapshot\n%s", g, w)
	}

	// Everyone replaced: the delta would be larger, so a snapshot.
	e.st.SetPolicy(blockPol(3, "q"))
	e.svc.PolicyChanged(context.Background(), "A")
	var v3 wire.Policy
	if err := json.Unmarshal(e.next(t, wire.TopicPolicy("blk-a")), &v3); err != nil || v3.Version != 3 || sign.VerifyPolicy(pub, &v3) != nil {
		t.Fatalf("snapshot 3: %+v %v", v3, err)
	}

	// The appliance asks: a snapshot of the current policy.
	e.publish(t, wire.TopicPolicyRequest("blk-a"), wire.PolicyRequest{V: 1, ApplianceID: "blk-a", Have: 1, Reason: "gap"})
	var again wire.Policy
	if err := json.Unmarshal(e.next(t, wire.TopicPolicy("blk-a")), &again); err != nil || again.Version != 3 {
		t.Fatalf("answer to the request: %+v %v", again, err)
	}
	// The counters move once the broker has acknowledged (maybe just after
	// the appliance got the message).
	testkit.EventuallyNil(t, wait, "the policy counters", func() error {
		if snaps, deltas, reqs := e.svc.PolicyStats(); deltas != 1 || reqs != 1 || snaps != 3 {
			return fmt.Errorf("stats: %d snapshots, %d deltas, %d requests; want 3, 1, 1", snaps, deltas, reqs)
		}
		return nil
	})
	// A request naming another appliance is refused.
	if _, err := ingest.ParsePolicyRequest("blk-a", []byte(`{"v":1,"appliance_id":"blk-b"}`)); err == nil {
		t.Fatal("request for another appliance accepted")
	}
}
