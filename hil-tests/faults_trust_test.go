package hiltests

// The trust faults of issue 5 against the real binaries, run with a PKI
// from kinline-provision (TLS, signed batches, signed policies and
// commands): a tampered event, a replayed old policy, and forged and
// expired commands. Each asserts the concrete refusal (central's or the
// appliance's state does not move) and ends with the same faultEnv.finish
// checks as the other fault tests: calls, acknowledgements, recordings,
// bbolt check, the event stream and the money.

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	centralstore "github.com/kinline/kinline/central/store"
	centralreports "github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// mqttAs connects to the broker's TLS listener with a certificate of the
// PKI: central's (asAppliance false: admitted like central's own client,
// so it may publish on an appliance's down topics) or the appliance's
// (client id = username = the appliance id, as the broker requires; the
// broker then hands the appliance's session to this client, and the
// appliance, cut off, reconnects and takes it back).
func (fe *faultEnv) mqttAs(asAppliance bool) mqtt.Client {
	t := fe.t
	t.Helper()
	co := tlsconf.ClientOptions{
		CertFile: filepath.Join(fe.pki, "central", "server.pem"),
		KeyFile:  filepath.Join(fe.pki, "central", "server.key"),
		CAFile:   filepath.Join(fe.pki, "ca.pem"),
	}
	opts := mqtt.NewClientOptions().AddBroker("ssl://" + fe.MQTTTLSAddr).SetClientID("fault-test-central").
		SetCleanSession(true).SetAutoReconnect(false)
	if asAppliance {
		dir := filepath.Join(fe.pki, "appliances", stack.ApplianceID)
		co = tlsconf.ClientOptions{CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client.key"), CAFile: filepath.Join(dir, "ca.pem")}
		opts.SetClientID(stack.ApplianceID).SetUsername(stack.ApplianceID)
	}
	tc, err := tlsconf.NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	c := mqtt.NewClient(opts.SetTLSConfig(tc))
	if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the broker over TLS (as the appliance: %v): %v", asAppliance, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publish publishes payload with QoS 1 and waits for the broker's PUBACK.
func publish(t *testing.T, c mqtt.Client, topic string, retained bool, payload any) {
	t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(topic, 1, retained, data); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("publish on %s: %v", topic, tok.Error())
	}
}

// subscribe collects the messages on topic.
func subscribe(t *testing.T, c mqtt.Client, topic string) func() [][]byte {
	t.Helper()
	var mu sync.Mutex
	var got [][]byte
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, m.Payload())
		mu.Unlock()
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe to %s: %v", topic, tok.Error())
	}
	return func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), got...)
	}
}

// logCount counts the lines of a daemon's log that match re.
func (fe *faultEnv) logCount(name string, re *regexp.Regexp) int {
	fe.t.Helper()
	return len(re.FindAllIndex(fe.readLog(name), -1))
}

// waitLog waits until a daemon's log has more than before lines matching re.
func (fe *faultEnv) waitLog(name string, re *regexp.Regexp, before int, what string) {
	fe.t.Helper()
	err := stack.WaitFor(fe.ctx, 30*time.Second, what, func() error {
		if n := fe.logCount(name, re); n <= before {
			return fmt.Errorf("%d matching lines in %s", n, name)
		}
		return nil
	})
	if err != nil {
		fe.t.Fatal(err)
	}
}

// ledgerOf is central's statement of an account.
func (fe *faultEnv) ledgerOf(account string) statement {
	fe.t.Helper()
	var st statement
	if err := fe.Do(fe.ctx, "GET", "/api/v1/accounts/"+account, nil, &st); err != nil {
		fe.t.Fatal(err)
	}
	return st
}

var batchRefused = regexp.MustCompile(`msg="event batch refused: signature not valid`)

// TestFaultTamperedEvent: a genuine signed batch carrying a call's debit is
// captured off the broker; the debit is altered to 1 cent, its event hash
// recomputed and the rest of the batch re-chained (so every event checks
// out alone and the chain holds: only the signature can tell), a new
// event is chained after the last one, and the batch, keeping the
// appliance's signature, is published on the appliance's events topic with
// the appliance's own TLS identity. Central refuses it for its signature:
// nothing of it is stored (the debit and balance are unchanged, no
// conflicting or unchained event is reported). The appliance, cut off
// while its identity was used, reconnects and carries on.
func TestFaultTamperedEvent(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	batches := subscribe(t, fe.mqttAs(false), wire.TopicEvents(stack.ApplianceID))
	eventPub, err := sign.LoadPublicKey(filepath.Join(fe.pki, "appliances", stack.ApplianceID, "event.pub"))
	if err != nil {
		t.Fatal(err)
	}
	fe.completed()
	fe.refused()
	if _, err := fe.WaitCalls(fe.ctx, 2, time.Minute); err != nil {
		t.Fatal(err)
	}

	// The captured batch with the call's debit, and that debit at central.
	var genuine *wire.Batch
	idx := -1
	err = stack.WaitFor(fe.ctx, 30*time.Second, "a captured batch with a call debit", func() error {
		for _, raw := range batches() {
			var b wire.Batch
			if err := json.Unmarshal(raw, &b); err != nil {
				return fmt.Errorf("captured batch: %w", err)
			}
			for i, ev := range b.Events {
				if ev.Type == wire.EventLedger {
					genuine, idx = &b, i
					return nil
				}
			}
		}
		return errors.New("none yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.VerifyBatch(eventPub, genuine); err != nil {
		t.Fatalf("the captured batch is not genuinely signed: %v", err)
	}
	var debit wire.LedgerEntry
	if err := json.Unmarshal(genuine.Events[idx].Payload, &debit); err != nil || debit.Kind != wire.LedgerCallDebit || debit.Amount >= -1 {
		t.Fatalf("captured debit %+v (%v)", debit, err)
	}
	before := fe.ledgerOf(debit.Account)

	// Tamper: the debit becomes 1 cent, hashes and chain made consistent
	// again, and one more event chained after the batch.
	tb := *genuine
	tb.Events = append([]wire.Event(nil), genuine.Events...)
	altered := debit
	altered.Amount = -1
	payload, err := json.Marshal(altered)
	if err != nil {
		t.Fatal(err)
	}
	tb.Events[idx].Payload = payload
	tb.Events[idx].Seal()
	for i := idx + 1; i < len(tb.Events); i++ {
		tb.Events[i].PrevHash = tb.Events[i-1].Hash
		tb.Events[i].Seal()
	}
	last := tb.Events[len(tb.Events)-1]
	extra := wire.Event{ApplianceID: stack.ApplianceID, Epoch: last.Epoch, Seq: last.Seq + 1, Time: last.Time.Add(time.Second), Type: wire.EventCardTap,
		Payload: json.RawMessage(`{"reader":"t1-reader","terminal":"t1","uid":"DEADBEEF","known":true}`), PrevHash: last.Hash}
	extra.Seal()
	tb.Events = append(tb.Events, extra)
	for i, ev := range tb.Events {
		if err := ev.Verify(); err != nil || i > 0 && ev.PrevHash != tb.Events[i-1].Hash {
			t.Fatalf("tampered event %d does not check out alone (%v): the test would not test the signature", ev.Seq, err)
		}
	}
	if err := sign.VerifyBatch(eventPub, &tb); err == nil {
		t.Fatal("the tampered batch still verifies")
	}

	// The appliance is held still while its identity is used: its MQTT
	// client reconnects at once when the broker hands its session to the
	// tampering client, and would take the session back before the
	// publish completes.
	refusedBefore := fe.logCount("kinline-central.log", batchRefused)
	resume := fe.SuspendAppliance()
	t.Cleanup(resume)
	tamperer := fe.mqttAs(true)
	publish(t, tamperer, wire.TopicEvents(stack.ApplianceID), false, &tb)
	fe.waitLog("kinline-central.log", batchRefused, refusedBefore, "central to refuse the tampered batch")
	tamperer.Disconnect(100)
	resume()

	// Nothing of it was stored: the debit and the balance are as before.
	after := fe.ledgerOf(debit.Account)
	if after.Balance != before.Balance {
		t.Errorf("balance moved from %d to %d after the tampered batch", before.Balance, after.Balance)
	}
	for _, l := range after.Lines {
		if l.Ref == debit.Ref && l.Kind == wire.LedgerCallDebit && int64(l.Amount) != debit.Amount {
			t.Errorf("central's debit of call %s is %d, the appliance debited %d", debit.Ref, l.Amount, debit.Amount)
		}
	}

	// The appliance, whose session the tampering client took over,
	// carries on; finish also checks that no event was refused as
	// conflicting or unchained (which the extra event would cause had it
	// been stored).
	fe.burst(4)
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the port placed %d", len(calls), fe.placed)
	}
	wantDispositions(t, calls, 3, 3)
	if n := fe.logCount("kinline-central.log", batchRefused); n != refusedBefore+1 {
		t.Errorf("central refused %d batches, want only the tampered one", n-refusedBefore)
	}
}

var policyReplayRefused = regexp.MustCompile(`msg="sync: older policy refused \(replayed\?\)".* version=(\d+)`)

// TestFaultReplayedPolicy: central's signed policy is captured off the
// broker; central then changes the rate (a higher connection fee) and
// credits a person, so the appliance applies a newer policy; the old one,
// still genuinely signed, is published again on the appliance's policy
// topic as the retained message (so the broker serves it again on every
// reconnect). The appliance refuses it, at once and again after a
// restart: the version it applies stays the newer one, and the next call
// is priced at the new rate.
func TestFaultReplayedPolicy(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	// Central publishes changes as deltas where smaller, so the retained
	// snapshot may predate the rates; a refresh makes central publish the
	// current snapshot, which is captured.
	a, err := fe.Appliance(fe.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := command(t, fe.env, map[string]any{"kind": wire.CmdRefresh}); !c.OK {
		t.Fatalf("refresh answered %+v", c)
	}
	old := fe.retainedVersion(a.PolicyVersionCurrent)
	policyPub, err := sign.LoadPublicKey(filepath.Join(fe.pki, "central", "policy.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.VerifyPolicy(policyPub, old); err != nil || old.Money == nil || len(old.Money.Rates) != 1 || old.Money.Rates[0].ConnectionFee != faultRate.ConnectionFee {
		t.Fatalf("captured policy v%d: %v, money %+v", old.Version, err, old.Money)
	}
	fe.completed()

	newRate := faultRate
	newRate.ConnectionFee = 500
	newRate.Name = "UK, 5 euro connection"
	fe.setRate(newRate)
	fe.recharge(fe.people[0], "5.00", 500, "R-extra")
	fe.waitPolicy()
	if a, err = fe.Appliance(fe.ctx); err != nil {
		t.Fatal(err)
	}
	applied := a.PolicyVersionApplied
	if applied <= old.Version {
		t.Fatalf("the appliance applies v%d, not newer than the captured v%d", applied, old.Version)
	}

	refused := fe.logCount("kinline-appliance.log", policyReplayRefused)
	publish(t, fe.mqttAs(false), wire.TopicPolicy(stack.ApplianceID), true, old)
	fe.waitReplayRefused(refused, old.Version, "the appliance to refuse the replayed policy")

	// A restart with the replay as the broker's retained policy: the
	// stored newer policy stands, the replay is refused again.
	fe.KillAppliance(syscall.SIGTERM)
	if ob := fe.inspect(); ob.policy == nil || ob.policy.Version != applied || ob.policy.Money.Rates[0].ConnectionFee != newRate.ConnectionFee {
		t.Fatalf("stored policy after the replay: %+v", ob.policy)
	}
	fe.retainedVersion(old.Version)
	refused = fe.logCount("kinline-appliance.log", policyReplayRefused)
	fe.restartAppliance()
	fe.waitReplayRefused(refused, old.Version, "the restarted appliance to refuse the retained replay")
	if a, err = fe.Appliance(fe.ctx); err != nil || a.PolicyVersionApplied < applied {
		t.Fatalf("central sees the appliance at v%d after the replay, it applied v%d (%v)", a.PolicyVersionApplied, applied, err)
	}

	// The next calls are priced at the new rate (finish checks each debit
	// against the rate in force when the call started).
	fe.completed()
	fe.refused()
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the port placed %d", len(calls), fe.placed)
	}
	wantDispositions(t, calls, 2, 1)
	newest := calls[0] // newest first
	if newest.Answer == nil {
		newest = calls[1]
	}
	costs := fe.loggedCosts()
	if c := costs[newest.ID]; c < newRate.ConnectionFee {
		t.Errorf("the call after the replay cost %d, less than the new connection fee %d: priced by the replayed policy", c, newRate.ConnectionFee)
	}
	if p := fe.last.policy; p == nil || p.Version < applied {
		t.Errorf("the appliance ended with policy %+v, older than v%d", p, applied)
	}

	// The billing report puts each call under the rate it was priced
	// with, though central's table has only the new rate by now: the call
	// after the change under the new one, those before under the old
	// (unnamed) one.
	var rep centralreports.BillingReport
	if err := fe.Do(fe.ctx, "GET", "/api/v1/reports/billing", nil, &rep); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int64{}
	var charged int64
	for _, r := range rep.Rows {
		if r.RatePrefix != faultRate.Prefix || r.DestinationType != faultRate.DestinationType {
			t.Errorf("billing row under a rate never in force: %+v", r)
		}
		byName[r.RateName] += r.Calls
		charged += int64(r.Charged)
	}
	var debited int64
	for _, c := range costs {
		debited += c
	}
	if byName[newRate.Name] != 1 || byName[""] != 1 || charged != debited {
		t.Errorf("billing report %+v: want 1 call under %q, 1 under the old rate, %d charged in all", rep.Rows, newRate.Name, debited)
	}
}

// retainedVersion waits until the broker's retained policy for the
// appliance is version v and returns it.
func (fe *faultEnv) retainedVersion(v uint64) *wire.Policy {
	fe.t.Helper()
	var p *wire.Policy
	err := stack.WaitFor(fe.ctx, 30*time.Second, fmt.Sprintf("the retained policy to be v%d", v), func() error {
		if p = retainedPolicy(fe.ctx, fe.t, fe.pki, fe.MQTTTLSAddr); p.Version != v {
			return fmt.Errorf("retained v%d", p.Version)
		}
		return nil
	})
	if err != nil {
		fe.t.Fatal(err)
	}
	return p
}

// waitReplayRefused waits for a refusal of policy v as a replay among the
// appliance's log lines after the first before ones.
func (fe *faultEnv) waitReplayRefused(before int, v uint64, what string) {
	fe.t.Helper()
	err := stack.WaitFor(fe.ctx, 30*time.Second, what, func() error {
		ms := policyReplayRefused.FindAllSubmatch(fe.readLog("kinline-appliance.log"), -1)
		for _, m := range ms[min(before, len(ms)):] {
			if string(m[1]) == fmt.Sprint(v) {
				return nil
			}
		}
		return fmt.Errorf("%d refusals in all", len(ms))
	})
	if err != nil {
		fe.t.Fatal(err)
	}
}

var callAllowed = regexp.MustCompile(`msg="call allowed".*? call=("[^"]*"|\S+)`)

// TestFaultForgedCommand: commands signed with a key that is not
// central's, and commands genuinely signed by central but expired, are
// published on the appliance's commands topic: a lockdown of each kind,
// then, while a call is up, an end_call of each kind for it. Every one is
// answered with its refusal and does nothing: calls are still allowed, the
// call stays up and its media keeps flowing, nothing is locked down; the
// appliance's answers do not create or change any command at central.
// Central's genuine end_call then ends the call, proving the test can tell.
func TestFaultForgedCommand(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	centralKey, err := sign.LoadPrivateKey(filepath.Join(fe.pki, "central", "policy.key"))
	if err != nil {
		t.Fatal(err)
	}
	_, wrongKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := fe.mqttAs(false)
	answers := subscribe(t, cl, wire.TopicCommandAnswers(stack.ApplianceID))
	send := func(id, kind, callID string, key ed25519.PrivateKey, issued time.Time) {
		t.Helper()
		c := wire.Command{V: wire.ProtocolVersion, ID: id, ApplianceID: stack.ApplianceID, Kind: kind, CallID: callID,
			Issued: issued.UTC(), Expires: issued.Add(2 * time.Minute).UTC()}
		if err := sign.SignCommand(key, &c); err != nil {
			t.Fatal(err)
		}
		publish(t, cl, wire.TopicCommands(stack.ApplianceID), false, &c)
	}
	answer := func(id string) wire.CommandAnswer {
		t.Helper()
		var got wire.CommandAnswer
		err := stack.WaitFor(fe.ctx, 30*time.Second, "the answer to "+id, func() error {
			for _, raw := range answers() {
				a, err := wire.DecodeCommandAnswer(raw, stack.ApplianceID)
				if err != nil {
					return fmt.Errorf("answer: %w", err)
				}
				if a.ID == id {
					got = *a
					return nil
				}
			}
			return errors.New("not answered yet")
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	refusedFor := func(id, why string) {
		t.Helper()
		if a := answer(id); a.OK || !strings.Contains(a.Error, why) {
			t.Fatalf("command %s answered %+v, want a refusal for its %s", id, a, why)
		}
	}

	// Lockdowns: forged, and genuine but expired.
	send("forged-lockdown", wire.CmdLockdown, "", wrongKey, time.Now())
	send("expired-lockdown", wire.CmdLockdown, "", centralKey, time.Now().Add(-10*time.Minute))
	refusedFor("forged-lockdown", "signature")
	refusedFor("expired-lockdown", "expired")
	fe.completed() // not in lockdown

	// A call in progress, and end_calls for it.
	fe.tap(t, faultCards[fe.next%len(faultCards)])
	fe.next++
	allowedBefore := fe.logCount("kinline-appliance.log", callAllowed)
	live, err := fe.port.Dial(fe.ctx, approved, nil)
	if err != nil {
		t.Fatalf("call to be ended: %v", err)
	}
	fe.waitLog("kinline-appliance.log", callAllowed, allowedBefore, "the live call to be allowed")
	all := callAllowed.FindAllSubmatch(fe.readLog("kinline-appliance.log"), -1)
	callID := strings.Trim(string(all[len(all)-1][1]), `"`)
	// Central lists it as in progress (how a console user finds the call
	// to end).
	inProgress := func(want int) []centralstore.CallInProgress {
		t.Helper()
		var out struct{ Calls []centralstore.CallInProgress }
		err := stack.WaitFor(fe.ctx, 30*time.Second, fmt.Sprintf("%d calls in progress at central", want), func() error {
			if err := fe.Do(fe.ctx, "GET", "/api/v1/calls/in-progress", nil, &out); err != nil {
				return err
			}
			if len(out.Calls) != want {
				return fmt.Errorf("%d listed", len(out.Calls))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Calls
	}
	if cs := inProgress(1); cs[0].CallID != callID || cs[0].ApplianceID != stack.ApplianceID || cs[0].Number == "" {
		t.Fatalf("in progress at central %+v, want call %s", cs, callID)
	}
	send("forged-end", wire.CmdEndCall, callID, wrongKey, time.Now())
	send("expired-end", wire.CmdEndCall, callID, centralKey, time.Now().Add(-10*time.Minute))
	refusedFor("forged-end", "signature")
	refusedFor("expired-end", "expired")
	rtp := live.Stats().Received
	select {
	case <-live.RemoteHangup():
		t.Fatal("the appliance hung up the call on a forged or expired end_call")
	case <-time.After(2 * time.Second):
	}
	if now := live.Stats().Received; now <= rtp {
		t.Fatalf("no media from the appliance after the refused end_calls (%d packets before, %d after)", rtp, now)
	}

	// Central's own commands are untouched by the answers to the forged
	// ones; its genuine end_call ends the call.
	path := "/api/v1/appliances/" + stack.ApplianceID + "/commands"
	var list struct{ Commands []centralstore.Command }
	if err := fe.Do(fe.ctx, "GET", path, nil, &list); err != nil || len(list.Commands) != 0 {
		t.Fatalf("central lists commands %+v (%v) before issuing any", list.Commands, err)
	}
	if c := command(t, fe.env, map[string]any{"kind": wire.CmdEndCall, "call_id": callID}); !c.OK {
		t.Fatalf("central's end_call answered %+v", c)
	}
	select {
	case <-live.RemoteHangup():
	case <-time.After(15 * time.Second):
		t.Fatal("central's genuine end_call did not end the call")
	}
	live.Hangup(fe.ctx)
	fe.placed++
	inProgress(0) // its record has ended it at central
	if err := fe.Do(fe.ctx, "GET", path, nil, &list); err != nil || len(list.Commands) != 1 {
		t.Fatalf("central lists commands %+v (%v), want its one end_call", list.Commands, err)
	}

	fe.refused()
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the port placed %d", len(calls), fe.placed)
	}
	var ended *centralstore.Call
	for i := range calls {
		if calls[i].ID == callID {
			ended = &calls[i]
		}
	}
	if ended == nil || ended.Disposition != wire.DispEnded || ended.Reason != "ended by central" {
		t.Fatalf("the call ended by central's command is recorded as %+v", ended)
	}
	// The record names who sent the end_call (wire.Command.By): the
	// API token the test drives central with.
	if ended.EndedBy != "token:admin" {
		t.Fatalf("the call ended by central's command says ended_by %q, want token:admin", ended.EndedBy)
	}
	if fe.last.lockdown {
		t.Error("the appliance is in lockdown after forged and expired lockdowns only")
	}
}
