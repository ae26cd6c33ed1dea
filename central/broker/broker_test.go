package broker

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/shared/wire"
)

const wait = 20 * time.Second

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

func startBroker(t *testing.T) *Broker {
	t.Helper()
	b, err := New(Config{Listen: "127.0.0.1:0", Appliances: map[string]string{"blk-a": "secret-a", "blk-b": "secret-b"}}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dial connects a paho client without retries and returns the connect error.
func dial(t *testing.T, b *Broker, clientID, user, pass string, onLost func()) (mqtt.Client, error) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr()).
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

func TestAuthentication(t *testing.T) {
	b := startBroker(t)
	iu, ip := b.InternalCredentials()
	cases := []struct {
		name, client, user, pass string
		ok                       bool
	}{
		{"appliance", "blk-a", "blk-a", "secret-a", true},
		{"internal user, any client id", "central-1", iu, ip, true},
		{"bad password", "blk-a", "blk-a", "secret-b", false},
		{"empty password", "blk-a", "blk-a", "", false},
		{"unknown appliance", "blk-z", "blk-z", "secret-a", false},
		{"client id is not the username", "blk-b", "blk-a", "secret-a", false},
		{"wildcard client id", "blk-#", "blk-#", "secret-a", false},
		{"plus client id", "+", "+", "secret-a", false},
		{"slash in id", "blk-a/x", "blk-a/x", "secret-a", false},
		{"internal user, bad password", "central-1", iu, ip + "x", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, b, tc.client, tc.user, tc.pass, nil)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("admitted")
			}
		})
	}
}

func TestInternalCredentialsRandomPerStart(t *testing.T) {
	b := startBroker(t)
	u1, p1 := b.InternalCredentials()
	b.Close()
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	u2, p2 := b.InternalCredentials()
	if u1 != u2 || p1 == p2 || len(p1) < 32 {
		t.Fatalf("credentials %q/%q then %q/%q", u1, p1, u2, p2)
	}
	if wire.ValidApplianceID(u1) == nil {
		t.Fatalf("internal username %q could be an appliance id", u1)
	}
}

type collector struct {
	mu   sync.Mutex
	msgs map[string][]string
	got  chan string
}

func newCollector() *collector {
	return &collector{msgs: map[string][]string{}, got: make(chan string, 100)}
}

func (c *collector) handle(_ mqtt.Client, m mqtt.Message) {
	c.mu.Lock()
	c.msgs[m.Topic()] = append(c.msgs[m.Topic()], string(m.Payload()))
	c.mu.Unlock()
	c.got <- m.Topic()
}

func subscribe(t *testing.T, c mqtt.Client, filter string, h mqtt.MessageHandler) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, h)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	// paho keys the result by the filter without its "$share/<group>/".
	key := filter
	if strings.HasPrefix(key, "$share/") {
		key = strings.Join(strings.Split(key, "/")[2:], "/")
	}
	code, ok := tok.(*mqtt.SubscribeToken).Result()[key]
	if !ok {
		t.Fatalf("no result for %s", filter)
	}
	return code
}

func publish(t *testing.T, c mqtt.Client, topic, payload string) error {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) {
		return errors.New("publish timed out")
	}
	return tok.Error()
}

func TestACL(t *testing.T) {
	b := startBroker(t)
	iu, ip := b.InternalCredentials()
	central, err := dial(t, b, "central", iu, ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := newCollector()
	if code := subscribe(t, central, wire.TopicRoot+"/#", seen.handle); code >= 0x80 {
		t.Fatalf("internal user cannot subscribe to everything: %#x", code)
	}

	a, err := dial(t, b, "blk-a", "blk-a", "secret-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Subscriptions: own down topics yes, anything else no.
	for filter, allowed := range map[string]bool{
		wire.TopicAck("blk-a"):               true,
		wire.TopicRoot + "/blk-a/down/#":     true,
		wire.TopicAck("blk-b"):               false,
		wire.TopicRoot + "/+/down/ack":       false,
		wire.TopicRoot + "/#":                false,
		"#":                                  false,
		wire.TopicEvents("blk-a"):            false,
		"$share/g/" + wire.TopicAck("blk-a"): false,
		wire.TopicRoot + "/blk-ab/down/ack":  false,
		wire.TopicRoot + "/blk-a-x/down/#":   false,
		"$SYS/#":                             false,
	} {
		code := subscribe(t, a, filter, func(mqtt.Client, mqtt.Message) {})
		if allowed != (code < 0x80) {
			t.Errorf("subscribe %q: code %#x, allowed %v", filter, code, allowed)
		}
	}

	// Central's messages on a's down topic reach a, b's do not.
	gotA := newCollector()
	subscribe(t, a, wire.TopicRoot+"/blk-a/down/#", gotA.handle)
	if err := publish(t, central, wire.TopicAck("blk-b"), "for b"); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, central, wire.TopicAck("blk-a"), "for a"); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-gotA.got:
		if topic != wire.TopicAck("blk-a") {
			t.Fatalf("a received %s", topic)
		}
	case <-time.After(wait):
		t.Fatal("a did not receive its ack")
	}

	// Own up topic: delivered to central.
	if err := publish(t, a, wire.TopicEvents("blk-a"), "a's events"); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, seen, wire.TopicEvents("blk-a"))

	// Another appliance's up topic: dropped, and (MQTT 3.1.1) a is cut off.
	lost := make(chan struct{})
	var once sync.Once
	a2, err := dial(t, b, "blk-a", "blk-a", "secret-a", func() { once.Do(func() { close(lost) }) })
	if err != nil {
		t.Fatal(err)
	}
	a2.Publish(wire.TopicEvents("blk-b"), 1, false, "forged")
	a2.Publish(wire.TopicAck("blk-a"), 1, false, "forged own ack")
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("broker kept a client that published on another appliance's topic")
	}
	// A marker from b proves the broker has processed what came before.
	bc, err := dial(t, b, "blk-b", "blk-b", "secret-b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, bc, wire.TopicEvents("blk-b"), "marker"); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, seen, wire.TopicEvents("blk-b"))
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, p := range seen.msgs[wire.TopicEvents("blk-b")] {
		if p == "forged" {
			t.Fatal("forged message on blk-b's topic delivered")
		}
	}
	for _, p := range seen.msgs[wire.TopicAck("blk-a")] {
		if strings.Contains(p, "forged") {
			t.Fatal("appliance published on its own down topic")
		}
	}
}

func waitTopic(t *testing.T, c *collector, topic string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case got := <-c.got:
			if got == topic {
				return
			}
		case <-deadline:
			t.Fatalf("no message on %s", topic)
		}
	}
}

func TestLargePacket(t *testing.T) {
	b := startBroker(t)
	iu, ip := b.InternalCredentials()
	central, err := dial(t, b, "central", iu, ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := newCollector()
	subscribe(t, central, wire.TopicRecordings("blk-a"), seen.handle)
	a, err := dial(t, b, "blk-a", "blk-a", "secret-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 8<<20)
	if err := publish(t, a, wire.TopicRecordings("blk-a"), big); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, seen, wire.TopicRecordings("blk-a"))
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if got := seen.msgs[wire.TopicRecordings("blk-a")]; len(got) != 1 || len(got[0]) != len(big) {
		t.Fatal("8 MiB message not delivered intact")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{Appliances: map[string]string{"a/b": "x"}},
		{Appliances: map[string]string{"a": ""}},
		{MaxPacketSize: 10},
	} {
		if _, err := New(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
}
