package server

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestUnknownApplianceRefusedWithMosquitto runs central on a real
// Mosquitto configured as documented: Mosquitto admits any appliance
// kinline-provision made rules for, so central refuses the batches of one
// it has not enrolled (not stored, not acknowledged) and raises the same
// unknown_appliance alarm; an enrolled appliance's batches go through.
func TestUnknownApplianceRefusedWithMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the test against a real Mosquitto")
	}
	pki := brokertest.NewPKI(t, "appA", "appX")
	m := brokertest.StartMosquitto(t, pki)
	off := false
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"),
		MQTT:       config.MQTT{Embedded: &off, Broker: m.URL, TLS: &config.TLS{CA: pki.CA(), Cert: pki.ServerCert(), Key: pki.ServerKey()}},
		Appliances: []config.Appliance{{ID: "appA", Block: "A"}}}
	cfg.Defaults()
	s, ctx := runServer(t, cfg)
	acks := make(chan string, 10)
	send := func(id string) {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL).SetTLSConfig(pki.ApplianceTLS(t, id)).
			SetClientID(id).SetUsername(id).SetAutoReconnect(false).SetConnectTimeout(20 * time.Second))
		if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("%s connect to Mosquitto: %v", id, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		if tok := c.Subscribe(wire.TopicAck(id), 1, func(mqtt.Client, mqtt.Message) { acks <- id }); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("%s subscribe: %v", id, tok.Error())
		}
		b, _ := json.Marshal(wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04ab"})
		ev := wire.Event{ApplianceID: id, Seq: 1, Time: time.Now().UTC(), Type: wire.EventCardTap, Payload: b}
		ev.Seal()
		data, _ := json.Marshal(wire.Batch{V: wire.ProtocolVersion, ApplianceID: id, Events: []wire.Event{ev}})
		if tok := c.Publish(wire.TopicEvents(id), 1, false, data); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("%s publish: %v", id, tok.Error())
		}
	}
	send("appX")
	testkit.EventuallyNil(t, 20*time.Second, "appX's unknown_appliance alarm", func() error {
		al, err := s.Store.AlarmList(ctx, store.AlarmFilter{ApplianceID: "appX", Open: true})
		if err == nil && (len(al) != 1 || al[0].Code != store.AlarmUnknownAppliance || al[0].Source != "enrolment" || !strings.Contains(al[0].Message, "ingest")) {
			return errAlarms(al)
		}
		return err
	})
	send("appA")
	select {
	case got := <-acks:
		if got != "appA" {
			t.Fatalf("ack for %s: a batch of an appliance not enrolled was acknowledged", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the enrolled appliance's batch was not acknowledged")
	}
	if n, _, err := s.Store.StoredEvents(ctx, "appX"); err == nil && n != 0 {
		t.Fatalf("%d events of an appliance not enrolled stored", n)
	}
}

type errAlarms []store.Alarm

func (e errAlarms) Error() string {
	b, _ := json.Marshal([]store.Alarm(e))
	return "alarms " + string(b)
}
