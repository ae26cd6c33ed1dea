package hiltests

// Issue 10, items 10 and 13, against the real binaries with the PKI of
// kinline-provision: a compromised block A appliance forges, with its own
// event key, a call record and a call debit about a block B person (refused
// with an alarm, the person's balance unchanged); an exact replay of a
// genuine batch after its acknowledgement, and another appliance's batch on
// block A's events topic, each raise an alarm and change nothing.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/ingest"
	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// alarmsOf lists central's alarms about the stack's appliance with code.
func (fe *faultEnv) alarmsOf(code string) []centralstore.Alarm {
	fe.t.Helper()
	var out struct {
		Alarms []centralstore.Alarm `json:"alarms"`
	}
	if err := fe.Do(fe.ctx, "GET", "/api/v1/alarms?appliance="+stack.ApplianceID, nil, &out); err != nil {
		fe.t.Fatal(err)
	}
	var got []centralstore.Alarm
	for _, a := range out.Alarms {
		if a.Code == code {
			got = append(got, a)
		}
	}
	return got
}

// waitAlarms waits until central has at least n alarms of code about the
// appliance.
func (fe *faultEnv) waitAlarms(code string, n int) []centralstore.Alarm {
	fe.t.Helper()
	var got []centralstore.Alarm
	err := stack.WaitFor(fe.ctx, 60*time.Second, fmt.Sprintf("%d %s alarms", n, code), func() error {
		if got = fe.alarmsOf(code); len(got) < n {
			return fmt.Errorf("%d so far", len(got))
		}
		return nil
	})
	if err != nil {
		fe.t.Fatal(err)
	}
	return got
}

// publishAsAppliance publishes batches on a topic with the appliance's own
// TLS identity, the appliance held still meanwhile (see
// TestFaultTamperedEvent).
func (fe *faultEnv) publishAsAppliance(topic string, batches ...any) {
	fe.t.Helper()
	resume := fe.SuspendAppliance()
	defer resume()
	c := fe.mqttAs(true)
	for _, b := range batches {
		publish(fe.t, c, topic, false, b)
	}
	c.Disconnect(100)
}

func TestCrossBlockForgeryRefused(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	if err := fe.Do(fe.ctx, "POST", "/api/v1/blocks", map[string]string{"name": "B"}, nil); err != nil {
		t.Fatal(err)
	}
	var bob people.Person
	if err := fe.Do(fe.ctx, "POST", "/api/v1/inmates", map[string]any{"prison_number": "B9999ZZ", "name": "Bob of block B", "block": "B", "status": "active"}, &bob); err != nil {
		t.Fatal(err)
	}
	fe.recharge(bob.ID, "20.00", 2000, "R-bob")
	fe.completed()
	fe.refused()
	if _, err := fe.WaitCalls(fe.ctx, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	before := fe.ledgerOf(bob.ID)

	// Block A's appliance, compromised, signs with its own event key a
	// completed call and its debit naming block B's Bob.
	key, err := sign.LoadPrivateKey(filepath.Join(fe.pki, "appliances", stack.ApplianceID, "event.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	ans := now.Add(-time.Minute)
	rec := wire.CallRecord{CallID: "forged-cross-block", PersonID: bob.ID, PrisonNumber: "B9999ZZ", Terminal: "t1", Number: approved,
		Start: ans.Add(-5 * time.Second), Answer: &ans, End: now, Disposition: wire.DispCompleted, Cost: 700, Currency: "EUR"}
	debit := wire.LedgerEntry{ID: stack.ApplianceID + ":forged", Account: bob.ID, Kind: wire.LedgerCallDebit, Amount: -700, Currency: "EUR",
		Ref: rec.CallID, At: ans, Origin: stack.ApplianceID}
	var evs []wire.Event
	prev := ""
	for i, p := range []struct {
		typ wire.EventType
		v   any
	}{{wire.EventCall, rec}, {wire.EventLedger, debit}} {
		payload, err := json.Marshal(p.v)
		if err != nil {
			t.Fatal(err)
		}
		ev := wire.Event{ApplianceID: stack.ApplianceID, Epoch: "forged", Seq: uint64(i + 1), Time: now, Type: p.typ, Payload: payload, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		evs = append(evs, ev)
	}
	b := wire.Batch{V: wire.BatchVersion, ApplianceID: stack.ApplianceID, Events: evs}
	if err := sign.SignBatch(key, &b); err != nil {
		t.Fatal(err)
	}
	fe.publishAsAppliance(wire.TopicEvents(stack.ApplianceID), &b)

	al := fe.waitAlarms(centralstore.AlarmForeignPerson, 2)
	for _, a := range al {
		if !strings.Contains(a.Message, bob.ID) {
			t.Errorf("alarm %s: %s does not name Bob", a.Code, a.Message)
		}
	}
	after := fe.ledgerOf(bob.ID)
	if after.Balance != before.Balance || len(after.Lines) != len(before.Lines) {
		t.Fatalf("Bob's balance went from %d to %d (%d -> %d lines) on a forged debit by block A's appliance", before.Balance, after.Balance, len(before.Lines), len(after.Lines))
	}
	var c centralstore.Call
	err = fe.Do(fe.ctx, "GET", "/api/v1/calls/"+rec.CallID, nil, &c)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(http.StatusNotFound)) {
		t.Fatalf("the forged call at central: %+v, %v; want 404", c, err)
	}
}

// TestReplayAndWrongTopicAlarmed: a genuine signed batch, captured off the
// broker, is published again after central acknowledged it and the
// appliance reported so (a replay), and a batch naming another appliance is
// published on this appliance's topic. Each raises its alarm; nothing is
// stored twice or lost, and the appliance carries on.
func TestReplayAndWrongTopicAlarmed(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	batches := subscribe(t, fe.mqttAs(false), wire.TopicEvents(stack.ApplianceID))
	fe.completed()
	fe.refused()
	if _, err := fe.WaitCalls(fe.ctx, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	// A captured batch that the appliance later reported acknowledged (in
	// a later batch's Acked): one more call makes it send one.
	var genuine *wire.Batch
	fe.completed()
	err := stack.WaitFor(fe.ctx, 60*time.Second, "a captured batch the appliance reported acknowledged", func() error {
		var all []wire.Batch
		for _, raw := range batches() {
			var b wire.Batch
			if err := json.Unmarshal(raw, &b); err != nil {
				return err
			}
			all = append(all, b)
		}
		for i := range all {
			last := all[i].Events[len(all[i].Events)-1].Seq
			for _, later := range all {
				if later.Acked >= last {
					genuine = &all[i]
					return nil
				}
			}
		}
		return fmt.Errorf("none of %d captured batches reported acknowledged yet", len(all))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fe.WaitCalls(fe.ctx, fe.placed, time.Minute); err != nil {
		t.Fatal(err)
	}
	callsBefore := len(fe.allCalls())

	other := *genuine
	other.ApplianceID = "block-z-9"
	other.Events = append([]wire.Event(nil), genuine.Events...)
	for i := range other.Events {
		other.Events[i].ApplianceID = other.ApplianceID
		other.Events[i].Seal()
	}
	fe.publishAsAppliance(wire.TopicEvents(stack.ApplianceID), genuine, &other)
	fe.waitAlarms(centralstore.AlarmBatchReplayed, 1)
	fe.waitAlarms(ingest.AlarmWrongTopic, 1)
	if n := len(fe.allCalls()); n != callsBefore {
		t.Fatalf("central has %d calls after the replay, %d before", n, callsBefore)
	}

	fe.burst(3)
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the port placed %d", len(calls), fe.placed)
	}
	if n := len(fe.alarmsOf(centralstore.AlarmBatchReplayed)); n != 1 {
		t.Errorf("%d replay alarms, want 1 (the appliance's own resends are no replays)", n)
	}
}
