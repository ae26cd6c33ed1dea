package sync_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/policysnap"
	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/watch"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// TestIdleConnectedApplianceStaysOnline (issue 14, defect 5): an
// appliance connected through a real broker and sending no events is
// online within seconds of connecting, stays online (and raises no
// appliance_unseen alarm) long past the old two-minute window on the
// store's clock, and goes offline, then unseen, within a minute of its
// client stopping.
func TestIdleConnectedApplianceStaysOnline(t *testing.T) {
	h := newHarness(t)
	checkPresence(t, h, h.config())
}

// TestIdleConnectedApplianceStaysOnlineThroughMosquitto: the same through
// Mosquitto with the documented configuration (TLS, certificates, the
// dynamic-security rules kinline-provision writes).
func TestIdleConnectedApplianceStaysOnlineThroughMosquitto(t *testing.T) {
	pki := brokertest.NewPKI(t, appID)
	m := brokertest.StartMosquitto(t, pki)
	h := newHarnessURL(t, m.URL, "", "")
	h.centralTLS = pki.CentralTLS(t)
	h.ingestMod = func(c *ingest.Config) { c.ClientID = "kinline-central" }
	cfg := h.config()
	cfg.Password, cfg.TLS = "", pki.ApplianceTLS(t, appID)
	checkPresence(t, h, cfg)
}

func checkPresence(t *testing.T, h *harness, cfg syncclient.Config) {
	dir := t.TempDir()
	ctx := context.Background()
	cs, err := centralstore.OpenWithClock(ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), testLog(), h.clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	if err := cs.EnsureBlock(ctx, "test", "A"); err != nil {
		t.Fatal(err)
	}
	if err := cs.EnrolAppliance(ctx, "test", appID, "A"); err != nil {
		t.Fatal(err)
	}
	h.central = policysnap.NewIngestStore(cs, people.New(cs))
	h.startIngest()
	w := watch.New(watch.Config{UnseenAfter: time.Minute, Clock: h.clk}, cs, testLog())

	online := func() (bool, time.Time) {
		as, err := cs.Appliances(ctx)
		if err != nil || len(as) != 1 {
			t.Fatalf("appliances %+v %v", as, err)
		}
		var seen time.Time
		if as[0].LastSeen != nil {
			seen = *as[0].LastSeen
		}
		return as[0].Online, seen
	}
	unseen := func() bool {
		al, err := cs.Alarms(ctx, appID, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range al {
			if a.Code == centralstore.AlarmApplianceUnseen {
				return true
			}
		}
		return false
	}

	st := h.openStore()
	stop := h.startClient(st, cfg)
	testkit.Eventually(t, patience, "online after connecting", func() bool { on, _ := online(); return on })

	// Ten idle minutes on the clock, a heartbeat interval at a time.
	start := h.clk.Now()
	for h.clk.Now().Sub(start) < 10*time.Minute {
		h.clk.Advance(wire.HeartbeatInterval)
		now := h.clk.Now()
		testkit.Eventually(t, patience, "heard from at "+now.String(), func() bool { _, seen := online(); return !seen.Before(now) })
		if on, _ := online(); !on {
			t.Fatalf("connected idle appliance offline at %s", now.Sub(start))
		}
	}
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if unseen() {
		t.Fatal("appliance_unseen raised for a connected idle appliance")
	}

	stop()
	h.clk.Advance(centralstore.OnlineWithin + time.Second)
	if on, _ := online(); on {
		t.Fatal("appliance still online a minute after its connection ended")
	}
	if centralstore.OnlineWithin > time.Minute {
		t.Fatalf("OnlineWithin %s: more than a minute", centralstore.OnlineWithin)
	}
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if !unseen() {
		t.Fatal("no appliance_unseen alarm for an appliance gone silent")
	}
}

// TestHostileHeartbeatsChangeNothing: heartbeats that are not valid (not
// JSON, another version, naming another appliance) on an enrolled
// appliance's topic do not make it heard from; a valid one does.
func TestHostileHeartbeatsChangeNothing(t *testing.T) {
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	user, pass := b.InternalCredentials()
	h := newHarnessURL(t, "tcp://"+b.Addr(), user, pass)
	dir := t.TempDir()
	ctx := context.Background()
	cs, err := centralstore.OpenWithClock(ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), testLog(), h.clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	if err := cs.EnsureBlock(ctx, "test", "A"); err != nil {
		t.Fatal(err)
	}
	if err := cs.EnrolAppliance(ctx, "test", appID, "A"); err != nil {
		t.Fatal(err)
	}
	h.central = policysnap.NewIngestStore(cs, people.New(cs))
	h.startIngest()

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(appID).SetUsername(appID).SetPassword(appPW))
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	lastSeen := func() time.Time {
		as, err := cs.Appliances(ctx)
		if err != nil || len(as) != 1 {
			t.Fatalf("appliances %+v %v", as, err)
		}
		if as[0].LastSeen == nil {
			return time.Time{}
		}
		return *as[0].LastSeen
	}
	publish := func(payload string) {
		if tok := c.Publish(wire.TopicHeartbeat(appID), 1, false, payload); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	t0 := h.clk.Now()
	publish(`{"v":1,"appliance_id":"blk-a"}`)
	testkit.Eventually(t, patience, "the valid heartbeat heard", func() bool { return lastSeen().Equal(t0) })
	h.clk.Advance(time.Hour)
	for _, bad := range []string{`online`, `{"v":2,"appliance_id":"blk-a"}`, `{"v":1,"appliance_id":"blk-b"}`, `{"v":1}`, `[]`, ``} {
		publish(bad)
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got := lastSeen(); !got.Equal(t0) {
			t.Fatalf("a hostile heartbeat moved last seen to %s", got)
		}
	}
	publish(`{"v":1,"appliance_id":"blk-a"}`)
	testkit.Eventually(t, patience, "the next valid heartbeat heard", func() bool { return lastSeen().Equal(t0.Add(time.Hour)) })
}
