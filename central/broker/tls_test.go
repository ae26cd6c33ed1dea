package broker

import (
	"crypto/tls"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

func TestMain(m *testing.M) {
	code := m.Run()
	brokertest.Cleanup()
	os.Exit(code)
}

// startTLSBroker starts a broker with a TLS listener on the PKI's files and
// no password appliances; the periodic CRL check runs on clk.
func startTLSBroker(t *testing.T, pki *brokertest.PKI, clk clock.Clock) *Broker {
	t.Helper()
	b, err := New(Config{
		Listen: "127.0.0.1:0",
		Clock:  clk,
		TLS: &TLSConfig{Listen: "127.0.0.1:0", CertFile: pki.ServerCert(), KeyFile: pki.ServerKey(),
			CAFile: pki.CA(), CRLFile: pki.CRL(), CRLCheckInterval: 5 * time.Second},
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dialTLS connects a paho client over TLS without retries.
func dialTLS(t *testing.T, b *Broker, cfg *tls.Config, clientID, user, pass string, onLost func()) (mqtt.Client, error) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("ssl://" + b.TLSAddr()).SetTLSConfig(cfg).
		SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(wait)
	if onLost != nil {
		opts.SetConnectionLostHandler(func(mqtt.Client, error) { onLost() })
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatal("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func TestTLSAuthentication(t *testing.T) {
	pki := brokertest.NewPKI(t, "blk-a", "blk-b", "blk-c")
	pki.Revoke(t, "blk-c")
	b := startTLSBroker(t, pki, nil)
	iu, ip := b.InternalCredentials()
	a := pki.ApplianceTLS(t, "blk-a")
	noCert := a.Clone()
	noCert.Certificates = nil
	cases := []struct {
		name               string
		cfg                *tls.Config
		client, user, pass string
		ok                 bool
	}{
		{"appliance as itself, no password", a, "blk-a", "blk-a", "", true},
		{"appliance, password ignored", a, "blk-a", "blk-a", "whatever", true},
		{"central certificate, any client id", pki.CentralTLS(t), "central-7", "", "", true},
		{"another appliance's client id", a, "blk-b", "blk-b", "", false},
		{"client id of another, own username", a, "blk-b", "blk-a", "", false},
		{"own client id, another's username", a, "blk-a", "blk-b", "", false},
		{"no username", a, "blk-a", "", "", false},
		{"wildcard client id", a, "blk-#", "blk-a", "", false},
		{"plus client id", a, "+", "blk-a", "", false},
		{"internal user's password over TLS", a, "blk-a", iu, ip, false},
		{"revoked certificate", pki.ApplianceTLS(t, "blk-c"), "blk-c", "blk-c", "", false},
		{"no client certificate", noCert, "blk-a", "blk-a", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialTLS(t, b, tc.cfg, tc.client, tc.user, tc.pass, nil)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("admitted")
			}
		})
	}
	// With no password appliances configured, the plain listener admits
	// no appliance at all.
	if _, err := dial(t, b, "blk-a", "blk-a", "", nil); err == nil {
		t.Fatal("plain listener admitted an appliance without password")
	}
	if _, err := dial(t, b, "central", iu, ip, nil); err != nil {
		t.Fatalf("internal user on the plain listener: %v", err)
	}
}

func TestTLSACL(t *testing.T) {
	pki := brokertest.NewPKI(t, "blk-a", "blk-b")
	b := startTLSBroker(t, pki, nil)
	central, err := dialTLS(t, b, pki.CentralTLS(t), "central", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := newCollector()
	if code := subscribe(t, central, wire.TopicRoot+"/#", seen.handle); code >= 0x80 {
		t.Fatalf("central certificate cannot subscribe to everything: %#x", code)
	}
	a, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-a"), "blk-a", "blk-a", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for filter, allowed := range map[string]bool{
		wire.TopicRoot + "/blk-a/down/#": true,
		wire.TopicAck("blk-b"):           false,
		wire.TopicRoot + "/+/down/ack":   false,
		wire.TopicEvents("blk-a"):        false,
		"#":                              false,
	} {
		code := subscribe(t, a, filter, func(mqtt.Client, mqtt.Message) {})
		if allowed != (code < 0x80) {
			t.Errorf("subscribe %q: code %#x, allowed %v", filter, code, allowed)
		}
	}
	if err := publish(t, a, wire.TopicEvents("blk-a"), "a's events"); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, seen, wire.TopicEvents("blk-a"))

	// Publishing on blk-b's topic cuts a off and delivers nothing.
	lost := make(chan struct{})
	var once sync.Once
	a2, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-a"), "blk-a", "blk-a", "", func() { once.Do(func() { close(lost) }) })
	if err != nil {
		t.Fatal(err)
	}
	a2.Publish(wire.TopicEvents("blk-b"), 1, false, "forged")
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("broker kept a TLS client that published on another appliance's topic")
	}
	bc, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-b"), "blk-b", "blk-b", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, bc, wire.TopicEvents("blk-b"), "marker"); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, seen, wire.TopicEvents("blk-b"))
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if slices.Contains(seen.msgs[wire.TopicEvents("blk-b")], "forged") {
		t.Fatal("forged message on blk-b's topic delivered")
	}
}

func TestRevokedConnectionDropped(t *testing.T) {
	pki := brokertest.NewPKI(t, "blk-a", "blk-b")
	clk := clock.NewFake(time.Now())
	b := startTLSBroker(t, pki, clk)
	lostA := make(chan struct{})
	var onceA sync.Once
	a, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-a"), "blk-a", "blk-a", "", func() { onceA.Do(func() { close(lostA) }) })
	if err != nil {
		t.Fatal(err)
	}
	lostB := make(chan struct{})
	bc, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-b"), "blk-b", "blk-b", "", func() { close(lostB) })
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, a, wire.TopicEvents("blk-a"), "before"); err != nil {
		t.Fatal(err)
	}

	// A check with an unchanged list drops nobody.
	if got := b.CheckRevocations(); len(got) != 0 {
		t.Fatalf("dropped %v with nothing revoked", got)
	}
	pki.Revoke(t, "blk-a")
	// Nothing happens before the check interval has passed...
	clk.Advance(4 * time.Second)
	select {
	case <-lostA:
		t.Fatal("dropped before the periodic check")
	case <-time.After(100 * time.Millisecond):
	}
	// ...and the periodic check drops blk-a, not blk-b.
	clk.Advance(time.Second)
	select {
	case <-lostA:
	case <-time.After(wait):
		t.Fatal("revoked appliance still connected after the periodic check")
	}
	if err := publish(t, bc, wire.TopicEvents("blk-b"), "still here"); err != nil {
		t.Fatalf("blk-b affected: %v", err)
	}
	select {
	case <-lostB:
		t.Fatal("blk-b dropped")
	default:
	}
	// And it cannot come back.
	if _, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-a"), "blk-a", "blk-a", "", nil); err == nil {
		t.Fatal("revoked appliance reconnected")
	}
	// The timer keeps running: a later revocation is acted on too.
	pki.Revoke(t, "blk-b")
	clk.Advance(5 * time.Second)
	select {
	case <-lostB:
	case <-time.After(wait):
		t.Fatal("second revocation not acted on")
	}
}

func TestTLSConfigValidation(t *testing.T) {
	if _, err := New(Config{TLS: &TLSConfig{CertFile: "x"}}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("incomplete TLS config: %v", err)
	}
	b, err := New(Config{Listen: "127.0.0.1:0", TLS: &TLSConfig{Listen: "127.0.0.1:0", CertFile: "/nonexistent/a", KeyFile: "/nonexistent/b", CAFile: "/nonexistent/c", CRLFile: "/nonexistent/d"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); !errors.Is(err, ErrConfig) {
		t.Fatalf("Start with missing files: %v", err)
	}
	if b.Addr() != "" || b.TLSAddr() != "" {
		t.Fatal("listening after a failed start")
	}
}
