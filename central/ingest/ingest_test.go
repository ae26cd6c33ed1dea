package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/shared/wire"
)

const wait = 20 * time.Second

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

type env struct {
	b    *broker.Broker
	st   *ingesttest.Store
	svc  *ingest.Service
	app  mqtt.Client
	down chan mqtt.Message
}

// setup starts a broker, the ingest service on a fake store, and a paho
// client acting as appliance blk-a, subscribed to its down topics.
func setup(t *testing.T, prepare func(*ingesttest.Store)) *env {
	t.Helper()
	return setupCfg(t, prepare, nil)
}

// setupCfg is setup with a change to ingest's config (signing keys).
func setupCfg(t *testing.T, prepare func(*ingesttest.Store), mod func(*ingest.Config)) *env {
	t.Helper()
	return setupWith(t, prepare, mod, nil)
}

// setupWith is setupCfg with st, when not nil, as ingest's store instead
// of the fake (e.st stays the fake).
func setupWith(t *testing.T, prepare func(*ingesttest.Store), mod func(*ingest.Config), st ingest.Store) *env {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{"blk-a": "pw-a", "blk-b": "pw-b"}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e := &env{b: b, st: ingesttest.New(), down: make(chan mqtt.Message, 100)}
	if prepare != nil {
		prepare(e.st)
	}

	opts := mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("blk-a").
		SetUsername("blk-a").SetPassword("pw-a").SetAutoReconnect(false)
	e.app = mqtt.NewClient(opts)
	if tok := e.app.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	t.Cleanup(func() { e.app.Disconnect(50) })
	tok := e.app.Subscribe(wire.TopicRoot+"/blk-a/down/#", 1, func(_ mqtt.Client, m mqtt.Message) { e.down <- m })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal("subscribe")
	}

	user, pass := b.InternalCredentials()
	cfg := ingest.Config{Broker: "tcp://" + b.Addr(), Username: user, Password: pass, ClientID: "central-test", ChunkDir: t.TempDir()}
	if mod != nil {
		mod(&cfg)
	}
	if st == nil {
		st = e.st
	}
	e.svc, err = ingest.New(cfg, st, testLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-e.svc.Ready():
	case <-time.After(wait):
		t.Fatal("ingest not ready")
	}
	return e
}

func events(id string, from uint64, n int, prev string) []wire.Event {
	var out []wire.Event
	for i := 0; i < n; i++ {
		ev := wire.Event{ApplianceID: id, Seq: from + uint64(i), Time: time.Unix(1700000000, int64(i)).UTC(),
			Type: wire.EventCardTap, Payload: json.RawMessage(`{"uid":"04AB"}`), PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		out = append(out, ev)
	}
	return out
}

func (e *env) publish(t *testing.T, topic string, msg any) {
	t.Helper()
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if tok := e.app.Publish(topic, 1, false, data); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// next returns the next message on the appliance's down topics.
func (e *env) next(t *testing.T, topic string) []byte {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-e.down:
			if m.Topic() == topic {
				return m.Payload()
			}
		case <-deadline:
			t.Fatalf("nothing on %s", topic)
		}
	}
}

func (e *env) nextAck(t *testing.T) uint64 {
	t.Helper()
	a, err := wire.Decode[wire.Ack](e.next(t, wire.TopicAck("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	return a.UpTo
}

func TestBatchStoredAndAcked(t *testing.T) {
	e := setup(t, nil)
	evs := events("blk-a", 1, 10, "")
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[:4]})
	if got := e.nextAck(t); got != 4 {
		t.Fatalf("ack %d, want 4", got)
	}
	// A gap: 7..10 stored but not acknowledged past 4.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[6:]})
	if got := e.nextAck(t); got != 4 {
		t.Fatalf("ack with gap %d, want 4", got)
	}
	// Redelivery of 1..6 fills the gap; duplicates are ignored.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[:6]})
	if got := e.nextAck(t); got != 10 {
		t.Fatalf("ack %d, want 10", got)
	}
	if n := e.st.Count("blk-a"); n != 10 {
		t.Fatalf("stored %d events", n)
	}
	if dups, conflicts := e.st.Duplicates("blk-a"); dups != 4 || conflicts != 0 {
		t.Fatalf("dups %d conflicts %d", dups, conflicts)
	}
}

func TestRefusedBatches(t *testing.T) {
	e := setup(t, nil)
	other := events("blk-b", 1, 2, "")
	// A batch naming blk-b sent on blk-a's topic.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-b", Events: other})
	// blk-a's batch smuggling a blk-b event.
	mixed := append(events("blk-a", 1, 1, ""), other[1])
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: mixed})
	// A tampered event.
	bad := events("blk-a", 1, 2, "")
	bad[1].Payload = json.RawMessage(`{"uid":"FFFF"}`)
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: bad})
	// Wrong protocol version, and garbage.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 99, ApplianceID: "blk-a", Events: events("blk-a", 1, 1, "")})
	if tok := e.app.Publish(wire.TopicEvents("blk-a"), 1, false, []byte("{not json")); !tok.WaitTimeout(wait) {
		t.Fatal("publish")
	}
	// Then a good one: its ack is the first ack at all.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: events("blk-a", 1, 3, "")})
	if got := e.nextAck(t); got != 3 {
		t.Fatalf("first ack %d, want 3 (a refused batch was acknowledged)", got)
	}
	if n := e.st.Count("blk-b"); n != 0 {
		t.Fatalf("blk-b has %d events stored from blk-a's topic", n)
	}
	if dups, _ := e.st.Duplicates("blk-a"); dups != 0 {
		t.Fatalf("a refused batch reached the store (%d dups)", dups)
	}
}

func TestStoreFailureIsNotAcked(t *testing.T) {
	e := setup(t, func(s *ingesttest.Store) { s.FailNext(1) })
	evs := events("blk-a", 1, 4, "")
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[:2]})
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[2:]})
	// The first batch failed: 3..4 are stored but nothing is contiguous,
	// so no ack may be sent until 1..2 come again.
	e.publish(t, wire.TopicEvents("blk-a"), wire.Batch{V: 1, ApplianceID: "blk-a", Events: evs[:2]})
	if got := e.nextAck(t); got != 4 {
		t.Fatalf("first ack %d, want 4", got)
	}
}

func TestRecordings(t *testing.T) {
	e := setup(t, nil)
	data := []byte("RIFF....WAVEfmt recording bytes")
	sum := sha256.Sum256(data)
	ref := wire.RecordingRef{ID: "call-1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Format: "wav/pcmu-stereo"}

	bad := append([]byte(nil), data...)
	bad[0] = 'X'
	e.publish(t, wire.TopicRecordings("blk-a"), wire.RecordingUpload{V: 1, ApplianceID: "blk-a", CallID: "call-1", Ref: ref, Data: bad})
	ack, err := wire.Decode[wire.RecordingAck](e.next(t, wire.TopicRecordingAck("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if ack.OK || ack.CallID != "call-1" || ack.SHA256 == ref.SHA256 {
		t.Fatalf("corrupt upload acked %+v", ack)
	}
	if e.st.Recording("blk-a", "call-1") != nil {
		t.Fatal("corrupt recording stored")
	}

	e.publish(t, wire.TopicRecordings("blk-a"), wire.RecordingUpload{V: 1, ApplianceID: "blk-a", CallID: "call-1", Ref: ref, Data: data})
	ack, err = wire.Decode[wire.RecordingAck](e.next(t, wire.TopicRecordingAck("blk-a")), "blk-a")
	if err != nil {
		t.Fatal(err)
	}
	if !ack.OK || ack.SHA256 != ref.SHA256 {
		t.Fatalf("good upload: %+v", ack)
	}
	if up := e.st.Recording("blk-a", "call-1"); up == nil || string(up.Data) != string(data) {
		t.Fatal("recording not stored")
	}
}

func TestPoliciesPublished(t *testing.T) {
	pa := &wire.Policy{V: 1, ApplianceID: "blk-a", Block: "A", Version: 7}
	pb := &wire.Policy{V: 1, ApplianceID: "blk-b", Block: "B", Version: 3}
	e := setup(t, func(s *ingesttest.Store) { s.SetPolicy(pa); s.SetPolicy(pb) })
	p, err := wire.Decode[wire.Policy](e.next(t, wire.TopicPolicy("blk-a")), "blk-a")
	if err != nil || p.Version != 7 {
		t.Fatalf("policy on connect: %+v, %v", p, err)
	}
	pa2 := *pa
	pa2.Version = 8
	e.st.SetPolicy(&pa2)
	e.svc.PolicyChanged(context.Background(), "B") // not a's block: nothing for a
	e.svc.PolicyChanged(context.Background(), "A")
	// The broker may deliver v7 twice (retained on subscribe, racing the
	// live publish); anything but 7 before 8 is wrong.
	for {
		p, err = wire.Decode[wire.Policy](e.next(t, wire.TopicPolicy("blk-a")), "blk-a")
		if err != nil || (p.Version != 7 && p.Version != 8) {
			t.Fatalf("policy after change: %+v, %v", p, err)
		}
		if p.Version == 8 {
			break
		}
	}
}
