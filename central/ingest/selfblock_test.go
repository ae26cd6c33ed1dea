package ingest_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// TestSelfBlockLeavesThePolicyAtOnce: when the family presses 9 the
// appliance reports a number_blocked event; ingest records it in the
// central store and republishes the block's policy, which no longer has
// the number.
func TestSelfBlockLeavesThePolicyAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "c.db"), filepath.Join(dir, "rec"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpsertAppliance(ctx, "blk-a", "A"); err != nil {
		t.Fatal(err)
	}
	ann, err := people.New(st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"+44 20 1111", "+44 20 2222"} {
		if _, _, err := people.New(st).AddContact(ctx, "test", ann.ID, people.NewContact{Number: n, Name: "X"}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{"blk-a": "pw-a"}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	down := make(chan mqtt.Message, 100)
	app := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("blk-a").
		SetUsername("blk-a").SetPassword("pw-a").SetAutoReconnect(false))
	if tok := app.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	defer app.Disconnect(50)
	if tok := app.Subscribe(wire.TopicRoot+"/blk-a/down/#", 1, func(_ mqtt.Client, m mqtt.Message) { down <- m }); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal("subscribe")
	}
	user, pass := b.InternalCredentials()
	svc, err := ingest.New(ingest.Config{Broker: "tcp://" + b.Addr(), Username: user, Password: pass, ClientID: "central-test", ChunkDir: t.TempDir()}, policysnap.NewIngestStore(st, people.New(st)), testLog())
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// next returns the policy the appliance holds after the next policy
	// message (a snapshot, or a delta applied to the last one).
	var held *wire.Policy
	next := func() *wire.Policy {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case m := <-down:
				switch m.Topic() {
				case wire.TopicPolicy("blk-a"):
					var p wire.Policy
					if err := json.Unmarshal(m.Payload(), &p); err != nil {
						t.Fatal(err)
					}
					held = &p
					return held
				case wire.TopicPolicyDelta("blk-a"):
					var d wire.PolicyDelta
					if err := json.Unmarshal(m.Payload(), &d); err != nil {
						t.Fatal(err)
					}
					p, err := d.Apply(held)
					if err != nil {
						t.Fatal(err)
					}
					held = p
					return held
				}
			case <-deadline:
				t.Fatal("no policy published")
			}
		}
	}
	numbers := func(p *wire.Policy) string {
		var out []string
		for _, pp := range p.People {
			for _, n := range pp.Numbers {
				out = append(out, n.Number)
			}
		}
		return strings.Join(out, " ")
	}
	p0 := next() // the snapshot published at connect
	if got := numbers(p0); got != "+44201111 +44202222" {
		t.Fatalf("initial numbers %q", got)
	}
	payload, _ := json.Marshal(wire.NumberBlocked{CallID: "call-1", PersonID: ann.ID, Terminal: "t1", Number: "+44 20 1111", At: time.Now().UTC()})
	ev := wire.Event{ApplianceID: "blk-a", Seq: 1, Time: time.Now().UTC(), Type: wire.EventNumberBlocked, Payload: payload}
	ev.Seal()
	data, _ := json.Marshal(wire.Batch{V: wire.ProtocolVersion, ApplianceID: "blk-a", Events: []wire.Event{ev}})
	if tok := app.Publish(wire.TopicEvents("blk-a"), 1, false, data); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	p1 := next()
	for p1.Version == p0.Version { // the connect snapshot again (QoS 1 may redeliver)
		p1 = next()
	}
	if p1.Version <= p0.Version || numbers(p1) != "+44202222" {
		t.Fatalf("after the self-block: v%d numbers %q (was v%d)", p1.Version, numbers(p1), p0.Version)
	}
	cs, err := people.New(st).Contacts(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.SelfBlocked != (c.Number == "+44201111") {
			t.Fatalf("contact %+v", c)
		}
	}
	if l, _ := st.AuditLog(ctx, store.AuditFilter{Action: "contact.self_blocked"}); len(l) != 1 || l[0].Actor != "appliance:blk-a" {
		t.Fatalf("audit %+v", l)
	}
}
