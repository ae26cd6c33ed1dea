package sync_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/mqttproxy"
)

// TestOutageOfDaysOnTheFakeClock: the appliance's link to the broker goes
// down (tools/mqttproxy offline: the broker and central stay up) for three
// simulated days on the injected clock, while calls and card taps go on
// being recorded every simulated hour and the client's ack timeout fires
// again and again. Meanwhile central sends commands, which the broker
// queues in the appliance's persistent session: two expire during the
// outage, one is still valid when the link comes back. On reconnect the
// backlog drains: central holds every event exactly once, in order and
// chained, with the simulated times of the three days; the expired
// commands are answered as expired and do nothing, the valid one is
// carried out once; each is recorded as an event.
func TestOutageOfDaysOnTheFakeClock(t *testing.T) {
	h := newHarness(t)
	proxy, err := mqttproxy.New(mqttproxy.Config{Upstream: strings.TrimPrefix(h.url, "tcp://")}, mqttproxy.Deps{Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(ingest.Config{Broker: h.url, Username: h.user, Password: h.pass, ClientID: "central-test", ChunkDir: h.chunkDir, PolicyKey: key}, h.fake, testLog())
	if err != nil {
		t.Fatal(err)
	}
	h.run(svc.Run)
	select {
	case <-svc.Ready():
	case <-time.After(patience):
		t.Fatal("ingest did not connect")
	}

	st := h.openStore()
	cfg := h.config()
	cfg.Broker = "tcp://" + proxy.Addr()
	cfg.PolicyKey = pub
	cfg.AckTimeout = 30 * time.Second // fires on every simulated hour of the outage
	var mu sync.Mutex
	var executed []string
	c, err := syncclient.New(cfg, syncclient.Deps{Store: st, Clock: h.clk, Log: testLog(), OnCommand: func(cmd *wire.Command) error {
		mu.Lock()
		executed = append(executed, cmd.ID)
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.run(c.Run)

	var amu sync.Mutex
	answers := map[string]wire.CommandAnswer{}
	central := h.centralClient()
	tok := central.Subscribe(wire.TopicCommandAnswers(appID), 1, func(_ mqtt.Client, m mqtt.Message) {
		a, err := wire.DecodeCommandAnswer(m.Payload(), appID)
		if err != nil {
			t.Errorf("command answer: %v", err)
			return
		}
		amu.Lock()
		answers[a.ID] = *a
		amu.Unlock()
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("subscribe", tok.Error())
	}
	answer := func(id string) (wire.CommandAnswer, bool) {
		amu.Lock()
		defer amu.Unlock()
		a, ok := answers[id]
		return a, ok
	}
	sendCall := func(id, callID string, ttl time.Duration) {
		t.Helper()
		now := h.clk.Now()
		c := &wire.Command{V: wire.ProtocolVersion, ID: id, ApplianceID: appID, Kind: wire.CmdEndCall, CallID: callID, Issued: now, Expires: now.Add(ttl)}
		if err := svc.SendCommand(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	send := func(id, kind string, ttl time.Duration) {
		t.Helper()
		now := h.clk.Now()
		c := &wire.Command{V: wire.ProtocolVersion, ID: id, ApplianceID: appID, Kind: kind, Issued: now, Expires: now.Add(ttl)}
		if err := svc.SendCommand(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}

	// Connected: events drain (so the client has subscribed: it
	// publishes only once its subscriptions are made) and a command is
	// carried out at once.
	recordHour(t, st, h.clk.Now(), 0)
	h.waitDelivered(st, 3)
	send("cmd-first", wire.CmdLockdown, time.Hour)
	testkit.Eventually(t, patience, "the answer to the first command", func() bool { a, ok := answer("cmd-first"); return ok && a.OK })
	before, err := st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	h.waitDelivered(st, int(before))
	start := h.clk.Now()

	// The outage: three days, an hour at a time.
	proxy.SetOffline(true)
	testkit.Eventually(t, patience, "the client to notice the outage", func() bool { return proxy.Stats().Refused > 0 })
	const hours = 72
	for hr := 1; hr <= hours; hr++ {
		h.clk.Advance(time.Hour)
		recordHour(t, st, h.clk.Now(), hr)
		switch hr {
		case 2:
			send("cmd-expires-soon", wire.CmdLockdown, time.Hour) // expires at hour 3
		case 30:
			sendCall("cmd-end-expires", "call-30-a", 6*time.Hour)
			send("cmd-lift-expires", wire.CmdLiftLockdown, 12*time.Hour)
		case 60:
			send("cmd-still-valid", wire.CmdLiftLockdown, wire.MaxCommandTTL)
		}
	}
	last, err := st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	if acked, _ := st.Acked(); acked != before || h.fake.Contiguous(appID) != before {
		t.Fatalf("during the outage: appliance acked %d, central holds %d contiguous; want both at %d", acked, h.fake.Contiguous(appID), before)
	}
	if _, ok := answer("cmd-expires-soon"); ok {
		t.Fatal("a command was answered while the link was down")
	}
	mu.Lock()
	if len(executed) != 1 {
		t.Fatalf("executed %v during the outage", executed)
	}
	mu.Unlock()
	t.Logf("after %v offline: %d events waiting (seq %d..%d); proxy %+v", h.clk.Now().Sub(start), last-before, before+1, last, proxy.Stats())

	// The link comes back. The late commands: the expired ones are
	// answered as expired and do nothing; the valid one is carried out.
	proxy.SetOffline(false)
	for _, id := range []string{"cmd-expires-soon", "cmd-end-expires", "cmd-lift-expires", "cmd-still-valid"} {
		testkit.Eventually(t, patience, "the answer to "+id, func() bool { _, ok := answer(id); return ok })
	}
	for _, id := range []string{"cmd-expires-soon", "cmd-end-expires", "cmd-lift-expires"} {
		if a, _ := answer(id); a.OK || !strings.Contains(a.Error, "expired") || !a.At.After(start.Add(60*time.Hour)) {
			t.Errorf("late command %s answered %+v, want expired (answered after the outage)", id, a)
		}
	}
	if a, _ := answer("cmd-still-valid"); !a.OK || a.Error != "" {
		t.Errorf("the command still valid at reconnect answered %+v", a)
	}

	// Everything drains (with the records of those commands), exactly
	// once, in order.
	final, err := st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	if final != last+4 {
		evs, _ := st.Pending(last, 100)
		for _, ev := range evs {
			t.Logf("after the outage: seq %d %s %s", ev.Seq, ev.Type, ev.Payload)
		}
		t.Fatalf("last seq %d after the reconnect, want %d: the outage's %d and a record of each of the 4 late commands", final, last+4, last)
	}
	h.waitDelivered(st, int(final))
	h.checkCentral(int(final))
	if dups, conflicts := h.fake.Duplicates(appID); dups != 0 || conflicts != 0 {
		t.Fatalf("%d events delivered twice (%d with other content) after one reconnect", dups, conflicts)
	}
	evs := h.fake.Events(appID)
	if first, end := evs[before].Time, evs[last-1].Time; end.Sub(first) < (hours-1)*time.Hour {
		t.Fatalf("the backlog spans %v of event time (%v to %v), want the %d hours of the outage", end.Sub(first), first, end, hours)
	}
	mu.Lock()
	got := strings.Join(executed, ",")
	mu.Unlock()
	if got != "cmd-first,cmd-still-valid" {
		t.Fatalf("commands carried out: %s; want cmd-first, then cmd-still-valid only", got)
	}
	// The appliance records each command it took, expired ones included,
	// and those records reached central.
	recs := map[string]wire.CommandRecord{}
	for _, ev := range h.fake.Events(appID) {
		if ev.Type == wire.EventCommand {
			var r wire.CommandRecord
			if err := json.Unmarshal(ev.Payload, &r); err != nil {
				t.Fatal(err)
			}
			recs[r.ID] = r
		}
	}
	if r := recs["cmd-expires-soon"]; r.OK || !strings.Contains(r.Error, "expired") {
		t.Errorf("central's record of the expired command: %+v", r)
	}
	if r := recs["cmd-still-valid"]; !r.OK {
		t.Errorf("central's record of the valid command: %+v", r)
	}
	h.closeStore(st)
}

// recordHour appends what an hour of use records: a card tap, an
// answered call and a refused one, at the simulated time now.
func recordHour(t *testing.T, st *store.Store, now time.Time, hour int) {
	t.Helper()
	answered := now.Add(-50 * time.Minute)
	err := st.Update(func(tx *store.Tx) error {
		if _, err := tx.Append(wire.EventCardTap, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04AB12", Known: true}); err != nil {
			return err
		}
		if _, err := tx.AppendCall(wire.CallRecord{CallID: fmt.Sprintf("call-%d-a", hour), PersonID: "p1", Terminal: "t1", Number: "+441234",
			Start: answered.Add(-10 * time.Second), Answer: &answered, End: answered.Add(5 * time.Minute), Disposition: wire.DispCompleted}); err != nil {
			return err
		}
		_, err := tx.AppendCall(wire.CallRecord{CallID: fmt.Sprintf("call-%d-r", hour), Terminal: "t1", Number: "+449999",
			Start: now.Add(-time.Minute), End: now.Add(-time.Minute), Disposition: wire.DispRefused, Reason: "no card tapped"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
