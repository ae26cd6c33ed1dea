package sync_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

func TestDeliverExactlyOnce(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	appendN(t, st, 250) // queued before connecting
	h.startClient(st, h.config())
	for i := 0; i < 25; i++ { // and appended while connected
		appendN(t, st, 10)
	}
	h.waitDelivered(st, 500)
	h.checkCentral(500)
	if dups, _ := h.fake.Duplicates(appID); dups != 0 {
		t.Fatalf("%d events delivered more than once without any disruption", dups)
	}
}

func TestPolicyAppliedAndStaleRefused(t *testing.T) {
	h := newHarness(t)
	h.fake.SetPolicy(&wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: 3, People: []wire.Person{{ID: "p1", Status: wire.StatusActive}}})
	st := h.openStore()
	h.startClient(st, h.config()) // connects first, then central comes
	svc, err := ingest.New(ingest.Config{Broker: h.url, Username: h.user, Password: h.pass, ClientID: "central-test", ChunkDir: h.chunkDir}, h.fake, testLog())
	if err != nil {
		t.Fatal(err)
	}
	h.run(svc.Run)
	h.waitPolicy(3)
	if p, err := st.Policy(); err != nil || p.Version != 3 || len(p.People) != 1 {
		t.Fatalf("stored policy %+v, %v", p, err)
	}
	// The status event reporting the version reaches central.
	h.waitStatus(3)

	// Stale and foreign policies, published straight on the topic by central.
	central := h.centralClient()
	for _, p := range []wire.Policy{
		{V: 1, ApplianceID: appID, Block: "A", Version: 2},
		{V: 1, ApplianceID: appID, Block: "A", Version: 3},
		{V: 1, ApplianceID: "blk-b", Block: "A", Version: 9},
		{V: 2, ApplianceID: appID, Block: "A", Version: 10},
	} {
		data, _ := json.Marshal(p)
		if tok := central.Publish(wire.TopicPolicy(appID), 1, true, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatal("publish")
		}
	}
	h.fake.SetPolicy(&wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: 4})
	svc.PolicyChanged(context.Background(), "A")
	h.waitPolicy(4)
	h.mu.Lock()
	got := slices.Clone(h.policies)
	h.mu.Unlock()
	if !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("policies applied: %v, want [3 4]", got)
	}
	if p, _ := st.Policy(); p.Version != 4 {
		t.Fatalf("stored version %d", p.Version)
	}
	h.waitStatus(4)
}

func (h *harness) waitPolicy(v uint64) {
	h.t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case got := <-h.polCh:
			if got == v {
				return
			}
		case <-deadline:
			h.t.Fatalf("policy %d not applied", v)
		}
	}
}

func (h *harness) waitStatus(v uint64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ok := h.fake.WaitFor(ctx, func() bool {
		for _, ev := range h.fake.Events(appID) {
			var s wire.Status
			if ev.Type == wire.EventStatus && json.Unmarshal(ev.Payload, &s) == nil && s.PolicyVersion == v && s.Software == "test" {
				return true
			}
		}
		return false
	})
	if !ok {
		h.t.Fatalf("no status event for policy %d at central", v)
	}
}

// centralClient connects with central's credentials for tests that act as
// central directly.
func (h *harness) centralClient() mqtt.Client {
	h.t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(h.url).SetClientID("central-probe").
		SetUsername(h.user).SetPassword(h.pass).SetAutoReconnect(false)
	if h.centralTLS != nil {
		opts.SetTLSConfig(h.centralTLS)
	}
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		h.t.Fatalf("central probe connect: %v", tok.Error())
	}
	h.t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func TestCentralRestartLosesNothing(t *testing.T) {
	h := newHarness(t)
	stopIngest := h.startIngest()
	st := h.openStore()
	cfg := h.config()
	cfg.AckTimeout = 5 * time.Second
	h.startClient(st, cfg)
	h.tick(time.Second)
	appendN(t, st, 100)
	h.waitDelivered(st, 100)

	stopIngest() // central goes away while the appliance keeps appending
	for i := 0; i < 20; i++ {
		appendN(t, st, 10)
	}
	if acked, _ := st.Acked(); acked != 100 {
		t.Fatalf("acked %d while central was down", acked)
	}
	h.startIngest()
	appendN(t, st, 100)
	h.waitDelivered(st, 400)
	h.checkCentral(400)
	dups, _ := h.fake.Duplicates(appID)
	t.Logf("redelivered (and ignored by the upsert): %d", dups)
}

func TestApplianceRestartMidStream(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	cfg := h.config()
	cfg.AckTimeout = 5 * time.Second
	stopClient := h.startClient(st, cfg)
	h.tick(time.Second)
	for i := 0; i < 30; i++ {
		appendN(t, st, 10)
	}
	// Stop while batches are still in flight, then close the store.
	stopClient()
	acked, _ := st.Acked()
	h.closeStore(st)
	t.Logf("acked %d of 300 when the appliance stopped", acked)

	st = h.openStore()
	appendN(t, st, 100)
	h.startClient(st, cfg)
	appendN(t, st, 100)
	h.waitDelivered(st, 500)
	h.checkCentral(500)
	if last, _ := st.LastSeq(); last != 500 {
		t.Fatalf("last seq %d", last)
	}
}

func TestRecordingVerifiedThenDeleted(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	data := []byte("RIFF\x24\x00\x00\x00WAVEfmt two legs of audio")
	path, ref := writeRecording(t, "call-1", data, data)
	addCall(t, st, ref, path)
	h.startClient(st, h.config())
	h.waitDelivered(st, 1)
	testkit.Eventually(t, patience, "recording verified and its file deleted", func() bool {
		recs, err := st.PendingRecordings()
		_, serr := os.Stat(path)
		return err == nil && len(recs) == 0 && errors.Is(serr, os.ErrNotExist)
	})
	up := h.fake.Recording(appID, "call-1")
	if up == nil || string(up.Data) != string(data) || !reflect.DeepEqual(up.Ref, ref) {
		t.Fatalf("central has %+v", up)
	}
}

func TestRecordingHashMismatchKeepsFile(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	var uploads atomic.Int32
	probe := h.centralClient()
	countQueries := func(_ mqtt.Client, m mqtt.Message) {
		if ch, err := wire.DecodeRecordingChunk(m.Payload(), appID, 1<<30); err == nil && ch.Query {
			uploads.Add(1) // each upload starts with a query
		}
	}
	if tok := probe.Subscribe(wire.TopicRecordingChunks(appID), 1, countQueries); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("probe subscribe")
	}
	st := h.openStore()
	// The file on disk is not what the call record says it is.
	path, ref := writeRecording(t, "call-2", []byte("what was recorded"), []byte("corrupted on disk"))
	addCall(t, st, ref, path)
	h.startClient(st, h.config())
	testkit.Eventually(t, patience, "first upload", func() bool { return uploads.Load() >= 1 })
	// Central refuses it; the client retries after its backoff, which only
	// passes in simulated time.
	h.tick(500 * time.Millisecond)
	testkit.Eventually(t, patience, "a retry", func() bool { return uploads.Load() >= 2 })
	recs, err := st.PendingRecordings()
	if err != nil || len(recs) != 1 || recs[0].CallID != "call-2" {
		t.Fatalf("pending recordings %+v, %v", recs, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("refused recording's file removed: %v", err)
	}
	if h.fake.Recording(appID, "call-2") != nil {
		t.Fatal("central stored a recording whose hash does not match")
	}
}

// writeRecording writes onDisk and returns a ref describing recorded.
func writeRecording(t *testing.T, callID string, recorded, onDisk []byte) (string, wire.RecordingRef) {
	t.Helper()
	path := filepath.Join(t.TempDir(), callID+".wav")
	if err := os.WriteFile(path, onDisk, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(recorded)
	return path, wire.RecordingRef{ID: callID, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(recorded)), Format: "wav/pcmu-stereo"}
}

func addCall(t *testing.T, st *store.Store, ref wire.RecordingRef, path string) {
	t.Helper()
	err := st.Update(func(tx *store.Tx) error {
		r := ref
		if _, err := tx.Append(wire.EventCall, wire.CallRecord{CallID: ref.ID, Terminal: "t1", Number: "0044123", Disposition: wire.DispCompleted, Recording: &r}); err != nil {
			return err
		}
		return tx.AddRecording(ref, path)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidation(t *testing.T) {
	h := newHarness(t)
	st := h.openStore()
	for _, cfg := range []syncclient.Config{
		{ApplianceID: appID},
		{Broker: h.url, ApplianceID: "blk/+"},
		{Broker: h.url, ApplianceID: "blk-b"}, // not the store's appliance
		{Broker: h.url, ApplianceID: appID, ChunkSize: wire.MaxChunkSize + 1},
		{Broker: h.url, ApplianceID: appID, ChunkSize: -1},
	} {
		if _, err := syncclient.New(cfg, syncclient.Deps{Store: st}); !errors.Is(err, syncclient.ErrConfig) {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
	if _, err := syncclient.New(h.config(), syncclient.Deps{}); !errors.Is(err, syncclient.ErrConfig) {
		t.Errorf("New without store = %v", err)
	}
}

func TestBrokerOutage(t *testing.T) {
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	addr := b.Addr()
	user, pass := b.InternalCredentials()
	h := newHarnessURL(t, "tcp://"+addr, user, pass)
	stopIngest := h.startIngest()
	st := h.openStore()
	cfg := h.config()
	cfg.AckTimeout = 5 * time.Second
	h.startClient(st, cfg)
	h.tick(time.Second)
	appendN(t, st, 100)
	h.waitDelivered(st, 100)

	// The embedded broker (and so central) goes down; it forgets every
	// session and retained message.
	stopIngest()
	b.Close()
	appendN(t, st, 100)
	b2, err := broker.New(broker.Config{Listen: addr, Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	h.user, h.pass = b2.InternalCredentials()
	h.startIngest()
	appendN(t, st, 100)
	h.waitDelivered(st, 300)
	h.checkCentral(300)
}

func TestAckBeyondLastEventIgnored(t *testing.T) {
	h := newHarness(t)
	h.startIngest()
	st := h.openStore()
	h.startClient(st, h.config())
	appendN(t, st, 10)
	h.waitDelivered(st, 10)
	data, _ := json.Marshal(wire.Ack{V: 1, ApplianceID: appID, UpTo: 999})
	if tok := h.centralClient().Publish(wire.TopicAck(appID), 1, false, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("publish")
	}
	appendN(t, st, 10)
	h.waitDelivered(st, 20) // later, valid acks still count
	h.checkCentral(20)
}
