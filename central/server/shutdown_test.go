package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestRunStopsIngestBeforeTheStore: an appliance floods central with event
// batches and central is stopped while ingest is storing them. Run returns
// only after ingest has stopped (it is no longer running then), and no
// write found the store closed.
func TestRunStopsIngestBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		MQTT:       config.MQTT{Listen: "127.0.0.1:0"},
		Appliances: []config.Appliance{{ID: "appA", Block: "A", Password: "pw-a"}}}
	cfg.Defaults()
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ingest.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("ingest not ready")
	}
	app := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + s.Broker.Addr()).SetClientID("appA").
		SetUsername("appA").SetPassword("pw-a").SetAutoReconnect(false))
	if tok := app.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	defer app.Disconnect(50)
	var toks []mqtt.Token
	for _, data := range floodBatches(t, 200, 20) {
		toks = append(toks, app.Publish(wire.TopicEvents("appA"), 1, false, data))
	}
	for _, tok := range toks[:1] {
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	testkit.Eventually(t, 20*time.Second, "an event stored", func() bool {
		n, _, err := s.Store.StoredEvents(ctx, "appA")
		return err == nil && n > 0
	})
	cancel() // while the flood is being stored
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Minute):
		// A guard against a hang, not a timing claim: closing the store
		// checkpoints the flood's WAL with an fsync, which a machine busy
		// with other I/O has been seen to take over 30 s to finish.
		t.Fatal("Run did not return in 2 minutes")
	}
	if err := s.Ingest.Run(ctx); errors.Is(err, ingest.ErrAlreadyRunning) {
		t.Fatal("Run returned while ingest was still running")
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "part=ingest") && strings.Contains(l, "database is closed") {
			t.Fatalf("ingest wrote to the closed store: %s", l)
		}
	}
}

// floodBatches are n batches of per card taps each, one chain of events.
func floodBatches(t *testing.T, n, per int) [][]byte {
	t.Helper()
	var out [][]byte
	prev := ""
	seq := uint64(0)
	base := time.Now().UTC()
	for range n {
		b := &wire.Batch{V: wire.ProtocolVersion, ApplianceID: "appA"}
		for range per {
			seq++
			p, _ := json.Marshal(wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04ab"})
			ev := wire.Event{ApplianceID: "appA", Seq: seq, Time: base.Add(time.Duration(seq) * time.Millisecond), Type: wire.EventCardTap, Payload: p, PrevHash: prev}
			ev.Seal()
			prev = ev.Hash
			b.Events = append(b.Events, ev)
		}
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}
