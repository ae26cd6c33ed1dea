package sync_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperCentralEnv) != "" {
		os.Exit(runHelperCentral())
	}
	code := m.Run()
	brokertest.Cleanup()
	os.Exit(code)
}

// secure is a harness over TLS: the embedded broker's TLS listener on a PKI
// made by kinline-provision, central (ingest) connected with its own
// certificate, verifying batches and signing policies with the PKI's keys.
type secure struct {
	*harness
	pki *brokertest.PKI
	b   *broker.Broker // nil against Mosquitto
	svc *ingest.Service
}

// The appliances of the PKI: blk-a is appID; blk-b another appliance.
var pkiIDs = []string{appID, "blk-b", "blk-c"}

func newSecure(t *testing.T) *secure {
	t.Helper()
	pki := brokertest.NewPKI(t, pkiIDs...)
	b, err := broker.New(broker.Config{
		Listen: "127.0.0.1:0",
		TLS: &broker.TLSConfig{Listen: "127.0.0.1:0", CertFile: pki.ServerCert(), KeyFile: pki.ServerKey(),
			CAFile: pki.CA(), CRLFile: pki.CRL(), CRLCheckInterval: -1},
	}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return newSecureURL(t, pki, b, "ssl://"+b.TLSAddr())
}

func newSecureURL(t *testing.T, pki *brokertest.PKI, b *broker.Broker, url string) *secure {
	s := &secure{harness: newHarnessURL(t, url, "", ""), pki: pki, b: b}
	s.centralTLS = pki.CentralTLS(t)
	keys := pki.ApplianceKeys(t, pkiIDs...)
	policyKey := pki.PolicyKey(t)
	s.ingestMod = func(c *ingest.Config) {
		c.ApplianceKeys = keys
		c.PolicyKey = policyKey
		c.ClientID = "kinline-central"
	}
	return s
}

// startIngest runs central's ingest like harness.startIngest, keeping the
// service for its statistics.
func (s *secure) startIngest() (stop func()) {
	s.t.Helper()
	cfg := ingest.Config{Broker: s.url, TLS: s.centralTLS, ChunkDir: s.chunkDir}
	s.ingestMod(&cfg)
	svc, err := ingest.New(cfg, s.fake, testLog())
	if err != nil {
		s.t.Fatal(err)
	}
	s.svc = svc
	stop = s.run(svc.Run)
	select {
	case <-svc.Ready():
	case <-time.After(patience):
		s.t.Fatal("ingest did not connect")
	}
	return stop
}

// applianceConfig is the production configuration of appliance id: TLS
// with its certificate, batches signed with its event key, policies checked
// against central's policy key.
func (s *secure) applianceConfig(id string) syncclient.Config {
	cfg := s.config()
	cfg.ApplianceID, cfg.Password = id, ""
	cfg.TLS = s.pki.ApplianceTLS(s.t, id)
	cfg.SigningKey = s.pki.EventKey(s.t, id)
	cfg.PolicyKey = s.pki.PolicyPub(s.t)
	return cfg
}

// openStoreFor opens a store of another appliance than appID.
func (s *secure) openStoreFor(id string) *store.Store {
	s.t.Helper()
	st, err := store.Open(s.t.TempDir()+"/"+id+".db", store.Options{ApplianceID: id, Clock: s.clk})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	return st
}

func (s *secure) waitCount(id string, n int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if !s.fake.WaitFor(ctx, func() bool { return s.fake.Contiguous(id) >= uint64(n) }) {
		s.t.Fatalf("central holds %d contiguous events of %s, want %d", s.fake.Contiguous(id), id, n)
	}
}

func TestTLSSignedSync(t *testing.T) {
	s := newSecure(t)
	s.fake.SetPolicy(&wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: 1,
		People: []wire.Person{{ID: "p1", PrisonNumber: "A-1", Name: "Zoë", Status: wire.StatusActive, Cards: []string{"04AB12"}}}})
	s.startIngest()
	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	s.waitPolicy(1) // signed by central, verified by the appliance
	appendN(t, st, 300)
	s.waitDelivered(st, 301)
	s.checkCentral(301)
	if n := s.svc.RefusedBatches(appID); n != 0 {
		t.Fatalf("%d honest batches refused", n)
	}
	if p, err := st.Policy(); err != nil || len(p.Signature) != ed25519.SignatureSize {
		t.Fatalf("stored policy %+v, %v", p, err)
	}
}

// An appliance that presents its own certificate but another appliance's
// id never gets in, and the appliance it poses as is unaffected.
func TestTLSImpersonationRefused(t *testing.T) {
	s := newSecure(t)
	s.startIngest()
	// blk-b's store and id, with blk-a's certificate and key.
	impostor := s.openStoreFor("blk-b")
	appendN(t, impostor, 20)
	cfg := s.applianceConfig(appID)
	cfg.ApplianceID = "blk-b"
	s.startClient(impostor, cfg)

	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	appendN(t, st, 100)
	s.waitDelivered(st, 100)
	if n := s.fake.Count("blk-b"); n != 0 {
		t.Fatalf("central holds %d events from the impostor", n)
	}
	if acked, _ := impostor.Acked(); acked != 0 {
		t.Fatalf("impostor acked up to %d", acked)
	}
}

// A revoked appliance is dropped and cannot reconnect; its events wait in
// its outbox; other appliances go on.
func TestTLSRevokedApplianceCutOff(t *testing.T) {
	s := newSecure(t)
	s.startIngest()
	stC := s.openStoreFor("blk-c")
	s.startClient(stC, s.applianceConfig("blk-c"))
	appendN(t, stC, 10)
	s.waitCount("blk-c", 10)

	s.pki.Revoke(t, "blk-c")
	if got := s.b.CheckRevocations(); len(got) != 1 || got[0] != "blk-c" {
		t.Fatalf("dropped %v, want [blk-c]", got)
	}
	appendN(t, stC, 10)
	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	appendN(t, st, 50)
	s.waitDelivered(st, 50)
	// blk-a's whole stream went through after blk-c's new events were
	// queued; blk-c's did not (its reconnects are refused).
	if n := s.fake.Count("blk-c"); n != 10 {
		t.Fatalf("central holds %d events of the revoked appliance, want 10", n)
	}
	pending, err := stC.Pending(10, 100)
	if err != nil || len(pending) != 10 {
		t.Fatalf("revoked appliance's outbox: %d pending, %v", len(pending), err)
	}
}

// A batch forged by someone holding another key (here: published with
// central's rights, as a compromised broker could) and an honest batch
// altered in transit are refused and never acknowledged; the honest stream
// that follows is stored intact.
func TestTLSForgedAndTamperedBatchesRefused(t *testing.T) {
	s := newSecure(t)
	s.startIngest()
	central := s.centralClient()

	// Forged events 1..5 of blk-a, signed with blk-b's key.
	forged := forgeEvents(1, 5, "FORGED")
	fb := wire.Batch{V: 1, ApplianceID: appID, Events: forged}
	if err := sign.SignBatch(s.pki.EventKey(t, "blk-b"), &fb); err != nil {
		t.Fatal(err)
	}
	// Events 1..5 signed with blk-a's own key, then one altered (hash
	// recomputed, so only the signature can tell).
	tb := wire.Batch{V: 1, ApplianceID: appID, Events: forgeEvents(1, 5, "ALTERED")}
	if err := sign.SignBatch(s.pki.EventKey(t, appID), &tb); err != nil {
		t.Fatal(err)
	}
	tb.Events[2].Payload = json.RawMessage(`{"uid":"DEADBEEF"}`)
	tb.Events[2].Seal()
	for _, b := range []wire.Batch{fb, tb, {V: 1, ApplianceID: appID, Events: forgeEvents(1, 5, "UNSIGNED")}} {
		data, _ := json.Marshal(&b)
		if tok := central.Publish(wire.TopicEvents(appID), 1, false, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatal("publish forged batch")
		}
	}
	testkit.Eventually(t, patience, "the 3 bad batches refused", func() bool { return s.svc.RefusedBatches(appID) >= 3 })
	if n := s.fake.Count(appID); n != 0 {
		t.Fatalf("central stored %d forged events", n)
	}
	// The honest appliance then sends seqs 1..40: were any forged event
	// stored, these would conflict with it.
	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	appendN(t, st, 40)
	s.waitDelivered(st, 40)
	s.checkCentral(40)
	if n := s.svc.RefusedBatches(appID); n != 3 {
		t.Fatalf("refused %d batches, want exactly the 3 bad ones", n)
	}
}

// forgeEvents returns a chained run of appID events with a payload naming
// tag.
func forgeEvents(from uint64, n int, tag string) []wire.Event {
	var out []wire.Event
	prev := ""
	for i := 0; i < n; i++ {
		payload, _ := json.Marshal(wire.CardTap{Reader: "r1", Terminal: "t1", UID: tag})
		ev := wire.Event{ApplianceID: appID, Seq: from + uint64(i), Time: time.Unix(1700000000, int64(i)).UTC(),
			Type: wire.EventCardTap, Payload: payload, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		out = append(out, ev)
	}
	return out
}

// The appliance refuses a replayed older policy (genuinely signed), a
// policy signed by another key and an unsigned one; the two signature
// refusals reach central as policy_rejected alarms (the second after the
// alarm interval); a newer signed policy is then applied.
func TestTLSPolicyReplayAndForgeryRefused(t *testing.T) {
	s := newSecure(t)
	pol := func(v uint64) *wire.Policy {
		return &wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: v, IssuedAt: time.Unix(1700000000+int64(v), 0).UTC(),
			People: []wire.Person{{ID: "p1", Status: wire.StatusActive, Cards: []string{"04AB12"}, Officer: v > 5}}}
	}
	s.fake.SetPolicy(pol(3))
	s.startIngest()
	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	s.waitPolicy(3)
	central := s.centralClient()
	send := func(p *wire.Policy) {
		t.Helper()
		data, _ := json.Marshal(p)
		if tok := central.Publish(wire.TopicPolicy(appID), 1, false, data); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatal("publish policy")
		}
	}
	// Replay: version 2, properly signed by central.
	replay := pol(2)
	if err := sign.SignPolicy(s.pki.PolicyKey(t), replay); err != nil {
		t.Fatal(err)
	}
	send(replay)
	// Version 9 signed with an appliance's key instead of central's.
	forged := pol(9)
	if err := sign.SignPolicy(s.pki.EventKey(t, "blk-b"), forged); err != nil {
		t.Fatal(err)
	}
	send(forged)
	s.waitAlarms(1)
	// Version 10 unsigned; then central's genuine version 4, which (same
	// topic, handled in order) proves version 10 has been seen.
	send(pol(10))
	s.fake.SetPolicy(pol(4))
	s.svc.PolicyChanged(context.Background(), "A")
	s.waitPolicy(4)
	// The second refusal waits for the alarm interval.
	if n := len(s.alarms()); n != 1 {
		t.Fatalf("%d alarms before the interval, want 1", n)
	}
	s.clk.Advance(syncclient.PolicyAlarmInterval)
	alarms := s.waitAlarms(2)
	if !strings.Contains(alarms[0].Message, "version 9") || !strings.Contains(alarms[1].Message, "version 10") {
		t.Fatalf("alarms %+v", alarms)
	}
	s.mu.Lock()
	applied := append([]uint64(nil), s.policies...)
	s.mu.Unlock()
	if len(applied) != 2 || applied[0] != 3 || applied[1] != 4 {
		t.Fatalf("policies applied %v, want [3 4]", applied)
	}
	if p, _ := st.Policy(); p.Version != 4 || sign.VerifyPolicy(s.pki.PolicyPub(t), p) != nil {
		t.Fatalf("stored policy %+v", p)
	}
}

// alarms returns the policy_rejected alarms central holds, in order.
func (s *secure) alarms() []wire.Alarm {
	var out []wire.Alarm
	for _, ev := range s.fake.Events(appID) {
		var a wire.Alarm
		if ev.Type == wire.EventAlarm && json.Unmarshal(ev.Payload, &a) == nil && a.Code == syncclient.AlarmPolicyRejected {
			out = append(out, a)
		}
	}
	return out
}

func (s *secure) waitAlarms(n int) []wire.Alarm {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if !s.fake.WaitFor(ctx, func() bool { return len(s.alarms()) >= n }) {
		s.t.Fatalf("central has %d policy_rejected alarms, want %d", len(s.alarms()), n)
	}
	return s.alarms()
}

// The same TLS sync against a real Mosquitto run from the documented
// example configuration and ACL.
func TestTLSSyncThroughMosquitto(t *testing.T) {
	pki := brokertest.NewPKI(t, pkiIDs...)
	m := brokertest.StartMosquitto(t, pki)
	s := newSecureURL(t, pki, nil, m.URL)
	s.fake.SetPolicy(&wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: 1})
	stopIngest := s.startIngest()
	st := s.openStore()
	s.startClient(st, s.applianceConfig(appID))
	s.waitPolicy(1)
	appendN(t, st, 200)
	s.waitDelivered(st, 201)
	// Central restarts while the appliance goes on.
	stopIngest()
	appendN(t, st, 99)
	s.tick(time.Second)
	s.startIngest()
	s.waitDelivered(st, 300)
	s.checkCentral(300)
	if n := s.svc.RefusedBatches(appID); n != 0 {
		t.Fatalf("%d honest batches refused", n)
	}

	// A revoked appliance is refused once Mosquitto has reloaded its CRL.
	pki.Revoke(t, "blk-c")
	m.Reload(t)
	testkit.Eventually(t, patience, "Mosquitto to refuse the revoked appliance after SIGHUP (its CRL reloaded)", func() bool {
		return probeConnect(t, m.URL, s.pki, "blk-c") != nil
	})
	if err := probeConnect(t, m.URL, s.pki, "blk-b"); err != nil {
		t.Fatalf("valid appliance refused after the reload: %v", err)
	}
}

// probeConnect connects appliance id once and disconnects.
func probeConnect(t *testing.T, url string, pki *brokertest.PKI, id string) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetTLSConfig(pki.ApplianceTLS(t, id)).
		SetClientID(id).SetUsername(id).SetAutoReconnect(false).SetConnectTimeout(patience))
	tok := c.Connect()
	if !tok.WaitTimeout(patience) {
		return context.DeadlineExceeded
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(50)
	return nil
}
