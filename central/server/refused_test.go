package server

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// TestRefusedBatchesRaiseOneAlarm runs central with signed batches
// required and sends it batches signed with the wrong key: nothing is
// stored, and the refusals appear as one open central alarm (not one per
// retry) for the console.
func TestRefusedBatchesRaiseOneAlarm(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, forger, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), ApplianceKeysDir: keys,
		MQTT:       config.MQTT{Listen: "127.0.0.1:0"},
		Appliances: []config.Appliance{{ID: "appA", Block: "A", Password: "pw-a"}}}
	cfg.Defaults()
	if err := os.MkdirAll(filepath.Dir(cfg.ApplianceKeyFile("appA")), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := sign.SavePublicKey(cfg.ApplianceKeyFile("appA"), pub); err != nil {
		t.Fatal(err)
	}
	s, ctx := runServer(t, cfg)
	app := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + s.Broker.Addr()).SetClientID("appA").
		SetUsername("appA").SetPassword("pw-a").SetAutoReconnect(false))
	if tok := app.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	defer app.Disconnect(50)
	b, _ := json.Marshal(wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04ab"})
	ev := wire.Event{ApplianceID: "appA", Seq: 1, Time: time.Now().UTC(), Type: wire.EventCardTap, Payload: b}
	ev.Seal()
	batch := &wire.Batch{V: wire.ProtocolVersion, ApplianceID: "appA", Events: []wire.Event{ev}}
	if err := sign.SignBatch(forger, batch); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(batch)
	for range 3 { // the appliance retries what is not acknowledged
		if tok := app.Publish(wire.TopicEvents("appA"), 1, false, data); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	if !testkit.Within(20*time.Second, 0, func() bool { return s.Ingest.RefusedBatches("appA") >= 3 }) {
		t.Fatalf("refused %d batches", s.Ingest.RefusedBatches("appA"))
	}
	al, err := s.Store.AlarmList(ctx, store.AlarmFilter{ApplianceID: "appA", Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(al) != 1 || al[0].Code != store.AlarmBatchRefused || al[0].Origin != "central" || al[0].Block != "A" || !strings.Contains(al[0].Message, "signature") {
		t.Fatalf("alarms %+v", al)
	}
	if n, _, err := s.Store.StoredEvents(ctx, "appA"); err == nil && n != 0 {
		t.Fatalf("%d refused events stored", n)
	}
}
