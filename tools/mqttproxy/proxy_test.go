package mqttproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/internal/testkit"
)

const wait = 30 * time.Second

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker starts central's embedded broker on a free port and returns
// it with the credentials of its internal (all-topics) user.
func startBroker(t *testing.T) (b *broker.Broker, user, pass string) {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	user, pass = b.InternalCredentials()
	return b, user, pass
}

func startProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg, Deps{Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// received collects messages by arrival.
type received struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (r *received) add(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *received) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, string(m.Payload()))
	}
	return out
}

func (r *received) waitN(t *testing.T, n int) []string {
	t.Helper()
	testkit.Eventually(t, wait, fmt.Sprintf("%d messages", n), func() bool { return len(r.payloads()) >= n })
	return r.payloads()
}

// settle publishes markers after what pub sent to topic and waits until
// each has arrived copies times. The packets of a connection keep their
// order through the proxy and the broker, so everything sent before the
// markers, and any copy the proxy made of it, has then arrived: a check
// that nothing more arrives needs no sleep. It returns what arrived, the
// markers left out.
func (r *received) settle(t *testing.T, pub mqtt.Client, topic string, copies int, markers ...string) []string {
	t.Helper()
	var toks []mqtt.Token
	for _, m := range markers {
		toks = append(toks, pub.Publish(topic, 1, false, m))
	}
	for i, tok := range toks { // all sent first: a held one waits for the next
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish marker %s: %v", markers[i], tok.Error())
		}
	}
	testkit.Eventually(t, wait, fmt.Sprintf("the markers %v, %d times each", markers, copies), func() bool {
		c := count(r.payloads())
		for _, m := range markers {
			if c[m] < copies {
				return false
			}
		}
		return true
	})
	var got []string
	for _, s := range r.payloads() {
		if !slices.Contains(markers, s) {
			got = append(got, s)
		}
	}
	return got
}

type clientOpts struct {
	id        string
	clean     bool
	reconnect bool
	onConnect func(mqtt.Client)
	onLost    func(error)
}

func connectClient(t *testing.T, addr, user, pass string, o clientOpts) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(o.id).
		SetUsername(user).SetPassword(pass).SetCleanSession(o.clean).
		SetAutoReconnect(o.reconnect).SetMaxReconnectInterval(time.Second).
		SetConnectTimeout(wait).SetOrderMatters(true)
	if o.onConnect != nil {
		opts.SetOnConnectHandler(o.onConnect)
	}
	if o.onLost != nil {
		opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) { o.onLost(err) })
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect %s via %s: %v", o.id, addr, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func subscribe(t *testing.T, c mqtt.Client, topic string, r *received) {
	t.Helper()
	tok := c.Subscribe(topic, 1, r.add)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
}

// publishAll publishes msg-0..msg-(n-1) at QoS 1 without waiting between
// them, then waits for every PUBACK.
func publishAll(t *testing.T, c mqtt.Client, topic string, n int) []string {
	t.Helper()
	var toks []mqtt.Token
	var sent []string
	for i := range n {
		m := fmt.Sprintf("msg-%03d", i)
		sent = append(sent, m)
		toks = append(toks, c.Publish(topic, 1, false, m))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	return sent
}

func count(ss []string) map[string]int {
	m := map[string]int{}
	for _, s := range ss {
		m[s]++
	}
	return m
}

func TestProxyPassesThrough(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1})
	var r received
	sub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "sub", clean: true})
	subscribe(t, sub, "t/pass", &r)
	pub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "pub", clean: true})
	sent := publishAll(t, pub, "t/pass", 50)
	r.waitN(t, 50)
	if got := r.settle(t, pub, "t/pass", 1, "end"); !slices.Equal(got, sent) {
		t.Fatalf("received %v, want %v", got, sent)
	}
	st := p.Stats() // the 50 and the marker
	if st.Connections != 2 || st.Up.Publishes != 51 || st.Down.Publishes != 51 || st.Up.Duplicated+st.Down.Duplicated+st.Up.Reordered+st.Down.Reordered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Duplicated client-to-broker PUBLISHes reach subscribers twice: the broker
// treats the DUP copy as the resend it looks like.
func TestProxyDuplicatesUp(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1, Up: Faults{Duplicate: 1}})
	var r received
	sub := connectClient(t, b.Addr(), user, pass, clientOpts{id: "sub", clean: true})
	subscribe(t, sub, "t/dup", &r)
	pub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "pub", clean: true})
	sent := publishAll(t, pub, "t/dup", 20)
	r.waitN(t, 40)
	got := r.settle(t, pub, "t/dup", 2, "end")
	c := count(got)
	for _, m := range sent {
		if c[m] != 2 {
			t.Fatalf("%s received %d times, want 2 (%v)", m, c[m], got)
		}
	}
	if len(got) != 40 || p.Stats().Up.Duplicated != 20+1 { // the marker too
		t.Fatalf("received %d, stats %+v", len(got), p.Stats())
	}
}

// Duplicated broker-to-client PUBLISHes are delivered twice by paho, the
// copy flagged DUP.
func TestProxyDuplicatesDown(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1, Down: Faults{Duplicate: 1}})
	var r received
	sub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "sub", clean: true})
	subscribe(t, sub, "t/dup", &r)
	pub := connectClient(t, b.Addr(), user, pass, clientOpts{id: "pub", clean: true})
	sent := publishAll(t, pub, "t/dup", 20)
	r.waitN(t, 40)
	r.settle(t, pub, "t/dup", 2, "end")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 40+2 { // and the marker twice
		t.Fatalf("received %d, want 40 and the marker twice", len(r.msgs))
	}
	for i, m := range sent {
		orig, cp := r.msgs[2*i], r.msgs[2*i+1]
		if string(orig.Payload()) != m || string(cp.Payload()) != m || orig.Duplicate() || !cp.Duplicate() || cp.MessageID() != orig.MessageID() {
			t.Fatalf("message %d: %q dup=%v id=%d then %q dup=%v id=%d", i, orig.Payload(), orig.Duplicate(), orig.MessageID(),
				cp.Payload(), cp.Duplicate(), cp.MessageID())
		}
	}
}

// With Reorder 1 and a long hold, every pair of PUBLISHes swaps.
func TestProxyReorders(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1, Up: Faults{Reorder: 1}, HoldMax: 10 * time.Second})
	var r received
	sub := connectClient(t, b.Addr(), user, pass, clientOpts{id: "sub", clean: true})
	subscribe(t, sub, "t/order", &r)
	pub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "pub", clean: true})
	sent := publishAll(t, pub, "t/order", 20)
	r.waitN(t, 20)
	// Two markers: they swap too, and none waits out the hold.
	got := r.settle(t, pub, "t/order", 1, "end-1", "end-2")
	var want []string
	for i := 0; i < len(sent); i += 2 {
		want = append(want, sent[i+1], sent[i])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if st := p.Stats(); st.Up.Reordered != 10+1 || st.Up.HoldExpiry != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A held PUBLISH with no successor goes out after HoldMax.
func TestProxyHoldExpires(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1, Up: Faults{Reorder: 1}, HoldMax: 100 * time.Millisecond})
	var r received
	sub := connectClient(t, b.Addr(), user, pass, clientOpts{id: "sub", clean: true})
	subscribe(t, sub, "t/hold", &r)
	pub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "pub", clean: true})
	publishAll(t, pub, "t/hold", 1)
	if got := r.waitN(t, 1); got[0] != "msg-000" || p.Stats().Up.HoldExpiry != 1 {
		t.Fatalf("got %v, stats %+v", got, p.Stats())
	}
}

// The Drop fault cuts the connection at the first packet after CONNECT.
func TestProxyDropCutsConnection(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1, Up: Faults{Drop: 1}})
	lost := make(chan error, 1)
	pub := connectClient(t, p.Addr(), user, pass, clientOpts{id: "pub", clean: true, onLost: func(err error) { lost <- err }})
	pub.Publish("t/drop", 1, false, "x")
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("connection not lost")
	}
	if st := p.Stats(); st.Up.Cuts != 1 || st.Up.Publishes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Cut drops every connection; a persistent-session client reconnects
// through the proxy and a message published across the cut still arrives.
func TestProxyCutAndReconnect(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1})
	var r received
	sub := connectClient(t, b.Addr(), user, pass, clientOpts{id: "sub", clean: true})
	subscribe(t, sub, "t/cut", &r)
	connected := make(chan struct{}, 4)
	lost := make(chan struct{}, 4)
	pub := connectClient(t, p.Addr(), user, pass, clientOpts{
		id: "pub", reconnect: true,
		onConnect: func(mqtt.Client) { connected <- struct{}{} },
		onLost:    func(error) { lost <- struct{}{} },
	})
	<-connected
	publishAll(t, pub, "t/cut", 3)
	if n := p.Cut(); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("the client did not notice the cut")
	}
	tok := pub.Publish("t/cut", 1, false, "after-cut")
	select {
	case <-connected:
	case <-time.After(wait):
		t.Fatal("no reconnect through the proxy")
	}
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish across the cut: %v", tok.Error())
	}
	got := r.waitN(t, 4)
	if c := count(got); c["after-cut"] != 1 || c["msg-000"] != 1 || c["msg-002"] != 1 {
		t.Fatalf("received %v", got)
	}
	if st := p.Stats(); st.Cuts != 1 || st.Connections != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	p := startProxy(t, Config{Upstream: "127.0.0.1:1", DialTimeout: 2 * time.Second})
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + p.Addr()).SetClientID("x").SetConnectTimeout(wait).SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatal("connect did not fail in time")
	}
	if tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("connected through a proxy whose broker is down")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no upstream":       {},
		"upstream no port":  {Upstream: "localhost"},
		"probability > 1":   {Upstream: "127.0.0.1:1883", Up: Faults{Duplicate: 1.5}},
		"negative reorder":  {Upstream: "127.0.0.1:1883", Down: Faults{Reorder: -0.1}},
		"NaN drop":          {Upstream: "127.0.0.1:1883", Down: Faults{Drop: nan()}},
		"bad runtime value": {Upstream: "127.0.0.1:1883"},
	} {
		p, err := New(cfg, Deps{})
		if name == "bad runtime value" {
			if err != nil {
				t.Fatal(err)
			}
			if err := p.SetFaults(Faults{Drop: 2}, Faults{}); !errors.Is(err, ErrConfig) {
				t.Errorf("SetFaults: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	p, err := New(Config{Upstream: "127.0.0.1:1883"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// TestProxyOffline: offline, the connected client is cut and its attempts
// to reconnect are closed before they reach the broker, which keeps the
// client's session and queues a QoS 1 message for it; back online, the
// client reconnects and gets the message published during the outage.
func TestProxyOffline(t *testing.T) {
	b, user, pass := startBroker(t)
	p := startProxy(t, Config{Upstream: b.Addr(), Seed: 1})
	var r received
	connected := make(chan struct{}, 16)
	lost := make(chan struct{}, 16)
	sub := connectClient(t, p.Addr(), user, pass, clientOpts{
		id: "offline-sub", reconnect: true,
		onConnect: func(c mqtt.Client) {
			if tok := c.Subscribe("t/offline", 1, r.add); tok.WaitTimeout(wait) && tok.Error() == nil {
				connected <- struct{}{}
			}
		},
		onLost: func(error) { lost <- struct{}{} },
	})
	<-connected
	pub := connectClient(t, b.Addr(), user, pass, clientOpts{id: "offline-pub", clean: true})
	// The subscription is made: a message published now arrives.
	publishAll(t, pub, "t/offline", 1)
	r.waitN(t, 1)

	if n := p.SetOffline(true); n != 1 {
		t.Fatalf("going offline cut %d connections, want 1", n)
	}
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("the client did not notice the outage")
	}
	if tok := pub.Publish("t/offline", 1, false, "during"); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish during the outage: %v", tok.Error())
	}
	// The client keeps trying (its reconnect interval is at most 1 s)
	// and is refused every time.
	testkit.EventuallyNil(t, wait, "two refused reconnections", func() error {
		if st := p.Stats(); st.Refused < 2 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if sub.IsConnectionOpen() || len(r.payloads()) != 1 {
		t.Fatalf("the client is connected (%v) or got %v during the outage", sub.IsConnectionOpen(), r.payloads())
	}
	accepted := p.Stats().Connections

	p.SetOffline(false)
	select {
	case <-connected:
	case <-time.After(wait):
		t.Fatal("no reconnect once back online")
	}
	// QoS 1 may deliver msg-000 again (its PUBACK may have been cut).
	testkit.EventuallyNil(t, wait, "the message published during the outage", func() error {
		if got := r.payloads(); count(got)["during"] == 0 {
			return fmt.Errorf("received %v", got)
		}
		return nil
	})
	st := p.Stats()
	if st.Connections <= accepted || st.Cuts != 1 {
		t.Fatalf("stats %+v", st)
	}
}
