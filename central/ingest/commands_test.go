package ingest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// answerStore is the fake store plus the optional CommandAnswerStore.
type answerStore struct {
	*ingesttest.Store
	answers chan *wire.CommandAnswer
}

func (s *answerStore) AnswerCommand(_ context.Context, a *wire.CommandAnswer) error {
	s.answers <- a
	return nil
}

func FuzzParseCommandAnswer(f *testing.F) {
	f.Add([]byte(`{"v":1,"appliance_id":"blk-a","id":"c1","ok":true,"at":"2025-03-01T09:00:00Z"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := ingest.ParseCommandAnswer("blk-a", payload)
		if err != nil {
			if !errors.Is(err, ingest.ErrRefused) || a != nil {
				t.Fatalf("refusal %v with %+v", err, a)
			}
			return
		}
		if a.ApplianceID != "blk-a" || a.V != wire.ProtocolVersion || wire.ValidCommandID(a.ID) != nil || len(a.Error) > 1024 {
			t.Fatalf("accepted %+v", a)
		}
	})
}

func TestSendCommandAndAnswer(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{"blk-a": "pw-a"}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st := &answerStore{Store: ingesttest.New(), answers: make(chan *wire.CommandAnswer, 10)}
	st.SetPolicy(&wire.Policy{V: wire.ProtocolVersion, ApplianceID: "blk-a", Version: 7})

	down := make(chan mqtt.Message, 100)
	app := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("blk-a").
		SetUsername("blk-a").SetPassword("pw-a").SetAutoReconnect(false))
	if tok := app.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	t.Cleanup(func() { app.Disconnect(50) })
	if tok := app.Subscribe(wire.TopicRoot+"/blk-a/down/#", 1, func(_ mqtt.Client, m mqtt.Message) { down <- m }); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal("subscribe")
	}

	user, pass := b.InternalCredentials()
	svc, err := ingest.New(ingest.Config{Broker: "tcp://" + b.Addr(), Username: user, Password: pass, ClientID: "central-cmd", ChunkDir: t.TempDir(), PolicyKey: priv}, st, testLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-svc.Ready():
	case <-time.After(wait):
		t.Fatal("ingest not ready")
	}
	next := func(topic string) mqtt.Message {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case m := <-down:
				if m.Topic() == topic {
					return m
				}
			case <-deadline:
				t.Fatalf("nothing on %s", topic)
			}
		}
	}
	next(wire.TopicPolicy("blk-a")) // published on connect

	now := time.Now().UTC()
	bad := &wire.Command{V: wire.ProtocolVersion, ID: "c0", ApplianceID: "blk-a", Kind: wire.CmdEndCall, Issued: now, Expires: now.Add(time.Minute)}
	if err := svc.SendCommand(ctx, bad); !errors.Is(err, ingest.ErrCommand) || !errors.Is(err, wire.ErrBadCommand) {
		t.Fatalf("end_call without call id: %v", err)
	}

	cmd := &wire.Command{V: wire.ProtocolVersion, ID: "c1", ApplianceID: "blk-a", Kind: wire.CmdRefresh, Issued: now, Expires: now.Add(time.Minute)}
	if err := svc.SendCommand(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.Signature != nil {
		t.Fatal("SendCommand modified its argument")
	}
	m := next(wire.TopicCommands("blk-a"))
	if m.Retained() || m.Qos() != 1 {
		t.Fatalf("command retained=%v qos=%d", m.Retained(), m.Qos())
	}
	got, err := wire.DecodeCommand(m.Payload(), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.VerifyCommand(pub, got); err != nil {
		t.Fatalf("command signature: %v", err)
	}
	if got.ID != "c1" || got.Kind != wire.CmdRefresh {
		t.Fatalf("command %+v", got)
	}
	// refresh republishes the appliance's policy, signed.
	var p wire.Policy
	if err := json.Unmarshal(next(wire.TopicPolicy("blk-a")).Payload(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != 7 || sign.VerifyPolicy(pub, &p) != nil {
		t.Fatalf("policy after refresh: %+v", p)
	}

	// The appliance answers; the answer reaches the store. A forged answer
	// naming another appliance on blk-a's topic does not.
	forged, _ := json.Marshal(wire.CommandAnswer{V: wire.ProtocolVersion, ApplianceID: "blk-b", ID: "c1", OK: true, At: now})
	if tok := app.Publish(wire.TopicCommandAnswers("blk-a"), 1, false, forged); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	data, _ := json.Marshal(wire.CommandAnswer{V: wire.ProtocolVersion, ApplianceID: "blk-a", ID: "c1", OK: true, At: now})
	if tok := app.Publish(wire.TopicCommandAnswers("blk-a"), 1, false, data); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case a := <-st.answers:
		if a.ApplianceID != "blk-a" || a.ID != "c1" || !a.OK {
			t.Fatalf("answer %+v", a)
		}
	case <-time.After(wait):
		t.Fatal("answer not stored")
	}
	select {
	case a := <-st.answers:
		t.Fatalf("second answer stored: %+v", a)
	case <-time.After(200 * time.Millisecond):
	}
}
