package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
)

// TestUnknownApplianceRefusedAtConnect runs central with the embedded
// broker's TLS listener on kinline-provision's PKI: an appliance with a
// valid certificate that central has not enrolled is refused at CONNECT
// and alarmed with its address; an enrolled one (imported from the config)
// is admitted and its certificate's expiry kept; retired through the API,
// its connection is dropped and its reconnection refused.
func TestUnknownApplianceRefusedAtConnect(t *testing.T) {
	pki := brokertest.NewPKI(t, "appA", "appX")
	dir := t.TempDir()
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		MQTT:       config.MQTT{Listen: "127.0.0.1:0", TLS: &config.TLS{Listen: "127.0.0.1:0", CA: pki.CA(), Cert: pki.ServerCert(), Key: pki.ServerKey(), CRL: pki.CRL()}},
		Appliances: []config.Appliance{{ID: "appA", Block: "A"}}}
	cfg.Defaults()
	s, ctx := runServer(t, cfg)
	dial := func(id string, onLost func()) error {
		opts := mqtt.NewClientOptions().AddBroker("ssl://" + s.MQTTTLSAddr()).SetTLSConfig(pki.ApplianceTLS(t, id)).
			SetClientID(id).SetUsername(id).SetAutoReconnect(false).SetConnectTimeout(20 * time.Second).
			SetConnectionLostHandler(func(mqtt.Client, error) { onLost() })
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(20 * time.Second) {
			t.Fatal("connect timed out")
		}
		if tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(50) })
		}
		return tok.Error()
	}
	if err := dial("appX", func() {}); err == nil {
		t.Fatal("an appliance central has not enrolled was admitted")
	}
	al, err := s.Store.AlarmList(ctx, store.AlarmFilter{ApplianceID: "appX", Open: true})
	if err != nil || len(al) != 1 || al[0].Code != store.AlarmUnknownAppliance || al[0].Source != "enrolment" || !strings.Contains(al[0].Message, "127.0.0.1:") {
		t.Fatalf("alarms %+v %v", al, err)
	}

	var lost atomic.Bool
	if err := dial("appA", func() { lost.Store(true) }); err != nil {
		t.Fatalf("enrolled appliance refused: %v", err)
	}
	as, err := s.Store.Appliances(ctx)
	if err != nil || len(as) != 1 || as[0].CertNotAfter == nil || as[0].CertNotAfter.Before(time.Now()) {
		t.Fatalf("appliances %+v %v", as, err)
	}

	tok, err := os.ReadFile(cfg.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+s.HTTPAddr()+"/api/v1/appliances/appA/retire", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retire: %d", resp.StatusCode)
	}
	testkit.Eventually(t, 20*time.Second, "the retired appliance's connection dropped", lost.Load)
	if err := dial("appA", func() {}); err == nil {
		t.Fatal("a retired appliance reconnected")
	}
	if al, _ := s.Store.AlarmList(ctx, store.AlarmFilter{ApplianceID: "appA", Open: true}); len(al) != 1 || al[0].Code != store.AlarmUnknownAppliance {
		t.Fatalf("retired appliance's alarms %+v", al)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	brokertest.Cleanup()
	os.Exit(code)
}
