package sync_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// TestCommandsCheckedExecutedOnceAndAnswered sends, as central, a genuine
// lockdown, its duplicate, an expired command, a forged one and one for
// another appliance, and checks that only the genuine one is carried out,
// once, and that every one is answered.
func TestCommandsCheckedExecutedOnceAndAnswered(t *testing.T) {
	h := newHarness(t)
	st := h.openStore()
	_, centralKey, _ := ed25519.GenerateKey(nil)
	_, forger, _ := ed25519.GenerateKey(nil)
	cfg := h.config()
	cfg.PolicyKey = centralKey.Public().(ed25519.PublicKey)

	var mu sync.Mutex
	var executed []string
	c, err := syncclient.New(cfg, syncclient.Deps{Store: st, Clock: h.clk, Log: testLog(), OnCommand: func(cmd *wire.Command) error {
		mu.Lock()
		executed = append(executed, cmd.ID)
		mu.Unlock()
		return tx(st, cmd.Kind == wire.CmdLockdown)
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.run(c.Run)

	central := h.centralClient()
	answers := make(chan wire.CommandAnswer, 32)
	tok := central.Subscribe(wire.TopicCommandAnswers(appID), 1, func(_ mqtt.Client, m mqtt.Message) {
		a, err := wire.DecodeCommandAnswer(m.Payload(), appID)
		if err != nil {
			t.Errorf("answer undecodable: %v", err)
			return
		}
		answers <- *a
	})
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("subscribe", tok.Error())
	}
	now := h.clk.Now()
	send := func(c wire.Command, key ed25519.PrivateKey) {
		t.Helper()
		if key != nil {
			if err := sign.SignCommand(key, &c); err != nil {
				t.Fatal(err)
			}
		}
		data, _ := json.Marshal(&c)
		// The appliance subscribes after connecting: resend until answered.
		central.Publish(wire.TopicCommands(appID), 1, false, data).WaitTimeout(patience)
	}
	await := func(id string) wire.CommandAnswer {
		t.Helper()
		deadline := time.After(patience)
		for {
			select {
			case a := <-answers:
				if a.ID == id {
					return a
				}
			case <-deadline:
				t.Fatalf("no answer to %s", id)
			}
		}
	}
	cmd := func(id, kind string, issued time.Time, ttl time.Duration) wire.Command {
		return wire.Command{V: wire.ProtocolVersion, ID: id, ApplianceID: appID, Kind: kind, Issued: issued, Expires: issued.Add(ttl)}
	}

	// Wait until the client is subscribed: a refresh is answered.
	testkit.Eventually(t, patience, "the client to answer a refresh", func() bool {
		send(cmd("probe", wire.CmdRefresh, now, time.Hour), centralKey)
		select {
		case a := <-answers:
			if a.ID != "probe" || !a.OK {
				t.Fatalf("refresh answer: %+v", a)
			}
			return true
		case <-time.After(500 * time.Millisecond):
			return false
		}
	})

	send(cmd("lock-1", wire.CmdLockdown, now, time.Minute), centralKey)
	if a := await("lock-1"); !a.OK {
		t.Fatalf("lockdown answer: %+v", a)
	}
	send(cmd("lock-1", wire.CmdLockdown, now, time.Minute), centralKey) // redelivered
	if a := await("lock-1"); !a.OK {
		t.Fatalf("duplicate answer: %+v", a)
	}
	send(cmd("old-1", wire.CmdLiftLockdown, now.Add(-2*time.Minute), time.Minute), centralKey)
	if a := await("old-1"); a.OK || !strings.Contains(a.Error, "expired") {
		t.Fatalf("expired answer: %+v", a)
	}
	send(cmd("forged-1", wire.CmdLiftLockdown, now, time.Minute), forger)
	if a := await("forged-1"); a.OK || !strings.Contains(a.Error, "signature") {
		t.Fatalf("forged answer: %+v", a)
	}
	send(cmd("unsigned-1", wire.CmdLiftLockdown, now, time.Minute), nil)
	if a := await("unsigned-1"); a.OK || !strings.Contains(a.Error, "signature") {
		t.Fatalf("unsigned answer: %+v", a)
	}
	foreign := cmd("foreign-1", wire.CmdLiftLockdown, now, time.Minute)
	foreign.ApplianceID = "blk-b"
	send(foreign, centralKey)
	if a := await("foreign-1"); a.OK || !strings.Contains(a.Error, "another appliance") {
		t.Fatalf("foreign answer: %+v", a)
	}

	mu.Lock()
	got := strings.Join(executed, ",")
	mu.Unlock()
	if got != "lock-1" {
		t.Fatalf("executed %q, want only lock-1, once", got)
	}
	if on, _ := st.Lockdown(); !on {
		t.Fatal("lockdown not stored")
	}
	// The genuine commands (and the expired one) are recorded as events.
	evs, err := st.Pending(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, ev := range evs {
		if ev.Type == wire.EventCommand {
			var r wire.CommandRecord
			json.Unmarshal(ev.Payload, &r)
			recs = append(recs, r.ID)
		}
	}
	if strings.Join(recs, ",") != "probe,lock-1,old-1" {
		t.Fatalf("command events %v, want probe, lock-1, old-1", recs)
	}
}

func tx(st *store.Store, lock bool) error {
	return st.Update(func(tx *store.Tx) error { return tx.SetLockdown(lock) })
}
