package broker

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// dialAddr connects a paho client over TLS to addr without retries.
func dialAddr(t *testing.T, addr string, cfg *tls.Config, clientID string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("ssl://" + addr).SetTLSConfig(cfg).
		SetClientID(clientID).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(wait)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// TestMosquittoACLConfinesAppliances runs a real Mosquitto with the
// documented configuration and ACL (mosquitto.conf.example,
// mosquitto.acl.example) and checks that an appliance's certificate cannot
// read what it must not: central's shared subscription, other appliances'
// up or down topics, or everything. A share taken by an appliance would
// receive part of every other appliance's batches, which the broker then
// drops, so central would miss them until the sender resends.
func TestMosquittoACLConfinesAppliances(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the test against a real Mosquitto")
	}
	pki := brokertest.NewPKI(t, "blk-a", "blk-b")
	m := brokertest.StartMosquitto(t, pki)
	central := dialAddr(t, m.Addr, pki.CentralTLS(t), wire.CentralIdentity)
	seen := newCollector()
	share := "$share/kinline-central/" + wire.TopicRoot + "/+/up/events"
	if code := subscribe(t, central, share, seen.handle); code >= 0x80 {
		t.Fatalf("central cannot take its shared subscription: %#x", code)
	}
	b := dialAddr(t, m.Addr, pki.ApplianceTLS(t, "blk-b"), "blk-b")
	stolen := newCollector()
	for filter, allowed := range map[string]bool{
		wire.TopicRoot + "/blk-b/down/#":    true,
		share:                               false,
		"$share/x/" + wire.TopicRoot + "/#": false,
		wire.TopicRoot + "/+/up/events":     false,
		wire.TopicEvents("blk-a"):           false,
		wire.TopicAck("blk-a"):              false,
		wire.TopicRoot + "/#":               false,
		"#":                                 false,
	} {
		code := subscribe(t, b, filter, stolen.handle)
		if allowed != (code < 0x80) {
			t.Errorf("blk-b subscribing to %q: SUBACK %#x, want allowed=%v", filter, code, allowed)
		}
	}
	a := dialAddr(t, m.Addr, pki.ApplianceTLS(t, "blk-a"), "blk-a")
	const n = 20
	for i := range n {
		if err := publish(t, a, wire.TopicEvents("blk-a"), fmt.Sprint("batch ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := publish(t, a, wire.TopicEvents("blk-a"), "marker"); err != nil {
		t.Fatal(err)
	}
	var got int
	if !testkit.Within(wait, 20*time.Millisecond, func() bool {
		seen.mu.Lock()
		got = len(seen.msgs[wire.TopicEvents("blk-a")])
		seen.mu.Unlock()
		return got == n+1
	}) {
		t.Errorf("central received %d of blk-a's %d messages", got, n+1)
	}
	stolen.mu.Lock()
	defer stolen.mu.Unlock()
	for topic, msgs := range stolen.msgs {
		t.Errorf("blk-b received %d messages on %s", len(msgs), topic)
	}
}
