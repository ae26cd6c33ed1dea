package server

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestCompatibilityTable runs the central of this tree and, as simulated
// appliances over MQTT, sends it what docs/COMPATIBILITY.md says it
// accepts and refuses: an appliance of capability 13 (BatchVersion 1, no
// epoch, a status without a capability), one of this build and one newer
// than central (a capability above central's, a status field central does
// not know) are stored, acknowledged and show their software; batches of
// a version outside MinBatchVersion..BatchVersion are refused and nothing
// of them is stored.
func TestCompatibilityTable(t *testing.T) {
	dir := t.TempDir()
	apps := []config.Appliance{{ID: "old", Block: "A", Password: "pw"}, {ID: "cur", Block: "A", Password: "pw"},
		{ID: "new", Block: "A", Password: "pw"}, {ID: "future", Block: "A", Password: "pw"}, {ID: "ancient", Block: "A", Password: "pw"}}
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		MQTT: config.MQTT{Listen: "127.0.0.1:0"}, Appliances: apps}
	cfg.Defaults()
	s, ctx := runServer(t, cfg)
	cases := []struct {
		app, software string
		v             int
		epoch         string
		status        string // the status payload, raw
		accepted      bool
	}{
		{"old", "v0.9.0", 1, "", `{"policy_version":0,"software":"v0.9.0"}`, true},
		{"cur", "v1.0.0", wire.BatchVersion, "e-cur", `{"policy_version":0,"software":"v1.0.0","capability":` + itoa(int(wire.CurrentCapabilityVersion)) + `}`, true},
		{"new", "v2.0.0", wire.BatchVersion, "e-new", `{"policy_version":0,"software":"v2.0.0","capability":` + itoa(int(wire.CurrentCapabilityVersion)+5) + `,"hardware":"rev C"}`, true},
		{"future", "v9.0.0", wire.BatchVersion + 1, "e-fut", `{"policy_version":0,"software":"v9.0.0"}`, false},
		{"ancient", "v0.0.1", wire.MinBatchVersion - 1, "", `{"policy_version":0,"software":"v0.0.1"}`, false},
	}
	acks := map[string]chan wire.Ack{}
	for _, c := range cases {
		acks[c.app] = make(chan wire.Ack, 4)
		cl := compatClient(t, s.Broker.Addr(), c.app)
		ch := acks[c.app]
		if tok := cl.Subscribe(wire.TopicAck(c.app), 1, func(_ mqtt.Client, m mqtt.Message) {
			var a wire.Ack
			if json.Unmarshal(m.Payload(), &a) == nil {
				ch <- a
			}
		}); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: subscribe: %v", c.app, tok.Error())
		}
		data, _ := json.Marshal(compatBatch(c.app, c.v, c.epoch, c.status))
		if tok := cl.Publish(wire.TopicEvents(c.app), 1, false, data); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: publish: %v", c.app, tok.Error())
		}
	}
	for _, c := range cases {
		if !c.accepted {
			if !testkit.Within(20*time.Second, 0, func() bool {
				al, err := s.Store.AlarmList(ctx, store.AlarmFilter{ApplianceID: c.app, Open: true})
				return err == nil && len(al) == 1 && al[0].Code == ingest.AlarmVersion && al[0].Origin == "central"
			}) {
				t.Errorf("%s (batch v%d): no %s alarm", c.app, c.v, ingest.AlarmVersion)
			}
			if n, _, err := s.Store.StoredEvents(ctx, c.app); err != nil || n != 0 {
				t.Errorf("%s (batch v%d): %d events stored (%v)", c.app, c.v, n, err)
			}
			continue
		}
		if !testkit.Within(20*time.Second, 0, func() bool {
			for {
				select {
				case a := <-acks[c.app]:
					if a.UpTo >= 2 {
						return true
					}
				default:
					return false
				}
			}
		}) {
			t.Errorf("%s (batch v%d): no ack up to 2", c.app, c.v)
		}
	}
	got := map[string]string{}
	for _, c := range cases {
		want := c.software
		if !c.accepted {
			want = ""
		}
		if !testkit.Within(10*time.Second, 0, func() bool {
			list, err := s.Store.Appliances(ctx)
			for _, a := range list {
				got[a.ID] = a.Software
			}
			return err == nil && got[c.app] == want
		}) {
			t.Errorf("%s: software %q in the appliances list, want %q", c.app, got[c.app], want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func compatClient(t *testing.T, addr, id string) mqtt.Client {
	t.Helper()
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(id).SetPassword("pw").SetAutoReconnect(false))
	if tok := cl.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(50) })
	return cl
}

// compatBatch is a batch of version v of two chained events of app's
// chain epoch: a card tap and the raw status.
func compatBatch(app string, v int, epoch, status string) *wire.Batch {
	tap, _ := json.Marshal(wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04ab"})
	now := time.Now().UTC()
	e1 := wire.Event{ApplianceID: app, Epoch: epoch, Seq: 1, Time: now, Type: wire.EventCardTap, Payload: tap}
	e1.Seal()
	e2 := wire.Event{ApplianceID: app, Epoch: epoch, Seq: 2, Time: now, Type: wire.EventStatus, Payload: json.RawMessage(status), PrevHash: e1.Hash}
	e2.Seal()
	return &wire.Batch{V: v, ApplianceID: app, Events: []wire.Event{e1, e2}}
}
