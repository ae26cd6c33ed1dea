package hiltests

// The sync suite's core run against both brokers Kinline supports: the
// embedded one (central/broker, TLS listener) and a real Mosquitto started
// from the documented configuration (central/broker's
// mosquitto.conf.example, with the dynamic-security rules kinline-provision
// writes, through brokertest.StartMosquitto), each with a PKI made by
// kinline-provision.
// The same body runs against each: events delivered exactly once across an
// outage of the appliance's link, a command carried out and answered, a
// chunked recording uploaded and verified, a policy snapshot and a policy
// delta applied (and a gap answered with a snapshot).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appstore "github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

const (
	syncApp      = "blk-sync"
	syncPatience = 90 * time.Second // a loaded 2-core machine
)

func syncLog() *slog.Logger {
	if os.Getenv("KINLINE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func TestSyncSuiteEmbeddedBroker(t *testing.T) {
	pki := brokertest.NewPKI(t, syncApp, "blk-other")
	b, err := broker.New(broker.Config{
		Listen: "127.0.0.1:0",
		TLS: &broker.TLSConfig{Listen: "127.0.0.1:0", CertFile: pki.ServerCert(), KeyFile: pki.ServerKey(),
			CAFile: pki.CA(), CRLFile: pki.CRL(), CRLCheckInterval: -1},
	}, syncLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	runSyncSuite(t, pki, b.TLSAddr())
}

func TestSyncSuiteMosquitto(t *testing.T) {
	testkit.NeedPeer(t, "mosquitto", "mosquitto")
	pki := brokertest.NewPKI(t, syncApp, "blk-other")
	m := brokertest.StartMosquitto(t, pki)
	runSyncSuite(t, pki, m.Addr)
}

// answerStore is the fake central store plus the command answers.
type answerStore struct {
	*ingesttest.Store
	answers chan wire.CommandAnswer
}

func (s *answerStore) AnswerCommand(_ context.Context, a *wire.CommandAnswer) error {
	s.answers <- *a
	return nil
}

// syncPol is version v of the appliance's policy: 30 people, one of whom
// is renamed at every version.
func syncPol(v uint64) *wire.Policy { return syncPolFor(syncApp, "S", v) }

// syncPolFor is syncPol for another appliance and block.
func syncPolFor(id, block string, v uint64) *wire.Policy {
	p := &wire.Policy{V: wire.ProtocolVersion, ApplianceID: id, Block: block, Version: v, IssuedAt: time.Unix(1700000000+int64(v), 0).UTC()}
	for i := 0; i < 30; i++ {
		pe := wire.Person{ID: fmt.Sprintf("p%02d", i), PrisonNumber: fmt.Sprintf("S%04d", i), Name: "Someone", Status: wire.StatusActive,
			Cards: []string{fmt.Sprintf("04CD%04X", i)}, Numbers: []wire.ApprovedNumber{{Number: "+33100000" + fmt.Sprint(i)}}}
		if i == 3 {
			pe.Name = fmt.Sprintf("Version %d", v)
		}
		p.People = append(p.People, pe)
	}
	return p
}

// runSyncSuite is the suite's body against the broker's TLS listener at
// brokerAddr; the appliance reaches it through a proxy the test can cut.
func runSyncSuite(t *testing.T, pki *brokertest.PKI, brokerAddr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	px := newCutProxy(t, brokerAddr)
	fake := &answerStore{Store: ingesttest.New(), answers: make(chan wire.CommandAnswer, 16)}
	fake.SetPolicy(syncPol(1))

	svc, err := ingest.New(ingest.Config{Broker: "ssl://" + brokerAddr, TLS: pki.CentralTLS(t), ClientID: wire.CentralIdentity,
		ApplianceKeys: pki.ApplianceKeys(t, syncApp, "blk-other"), PolicyKey: pki.PolicyKey(t), ChunkDir: t.TempDir()}, fake, syncLog())
	if err != nil {
		t.Fatal(err)
	}
	runBG(t, svc.Run)
	select {
	case <-svc.Ready():
	case <-time.After(syncPatience):
		t.Fatal("ingest did not connect")
	}

	st := openApplianceStore(t, syncApp)
	policies := make(chan uint64, 64)
	var cmdMu sync.Mutex
	var executed []string
	client, err := syncclient.New(syncclient.Config{
		Broker: "ssl://" + px.addr, ApplianceID: syncApp, TLS: pki.ApplianceTLS(t, syncApp),
		SigningKey: pki.EventKey(t, syncApp), PolicyKey: pki.PolicyPub(t),
		BatchSize: 100, MaxInFlight: 4, AckTimeout: 5 * time.Second, RetryBackoff: time.Second, MaxRetryBackoff: 2 * time.Second,
		ChunkSize: 32 << 10, Software: "hil",
	}, syncclient.Deps{Store: st, Log: syncLog(),
		OnPolicy: func(p *wire.Policy) { policies <- p.Version },
		OnCommand: func(c *wire.Command) error {
			cmdMu.Lock()
			executed = append(executed, c.ID)
			cmdMu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	runBG(t, client.Run)
	waitPolicyVersion(t, policies, 1)

	// Events: a burst, then an outage of the link while calls go on, then
	// everything exactly once.
	appendTaps(t, st, 300)
	px.cut()
	appendTaps(t, st, 700)
	// The client notices the cut: it tries again and is refused.
	testkit.Eventually(t, syncPatience, "the client to try again during the outage", func() bool { return px.refused.Load() > 0 })
	px.restore()
	last := lastSeq(t, st)
	testkit.Eventually(t, syncPatience, "every event at central and acknowledged", func() bool {
		acked, _ := st.Acked()
		return fake.Contiguous(syncApp) >= last && acked >= last
	})
	evs := fake.Events(syncApp)
	if uint64(len(evs)) != last {
		t.Fatalf("central holds %d events, appliance appended %d", len(evs), last)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.Verify() != nil || (i > 0 && ev.PrevHash != evs[i-1].Hash) {
			t.Fatalf("event %d (seq %d) out of order or broken chain", i, ev.Seq)
		}
	}
	if _, conflicts := fake.Duplicates(syncApp); conflicts != 0 {
		t.Fatalf("%d redelivered events differ", conflicts)
	}
	if n := svc.RefusedBatches(syncApp); n != 0 {
		t.Fatalf("%d honest batches refused", n)
	}

	// Command: carried out once and answered.
	now := time.Now()
	cmd := &wire.Command{V: wire.ProtocolVersion, ID: "cmd-lock-1", ApplianceID: syncApp, Kind: wire.CmdLockdown, Issued: now, Expires: now.Add(time.Hour)}
	if err := svc.SendCommand(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-fake.answers:
		if a.ID != cmd.ID || !a.OK {
			t.Fatalf("answer %+v", a)
		}
	case <-time.After(syncPatience):
		t.Fatal("command not answered")
	}
	cmdMu.Lock()
	if len(executed) != 1 || executed[0] != cmd.ID {
		t.Fatalf("executed %v", executed)
	}
	cmdMu.Unlock()

	// Chunked recording: uploaded, verified, then the local copy deleted.
	data := make([]byte, 200<<10+333)
	rand.Read(data)
	sum := sha256.Sum256(data)
	ref := wire.RecordingRef{ID: "call-rec-1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Format: "wav/pcmu-stereo"}
	path := filepath.Join(t.TempDir(), "call-rec-1.wav")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(tx *appstore.Tx) error {
		r := ref
		if _, err := tx.Append(wire.EventCall, wire.CallRecord{CallID: ref.ID, Terminal: "t1", Number: "+331000001", Disposition: wire.DispCompleted, Recording: &r}); err != nil {
			return err
		}
		return tx.AddRecording(ref, path)
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, syncPatience, "recording verified and its file deleted", func() bool {
		recs, err := st.PendingRecordings()
		_, serr := os.Stat(path)
		return err == nil && len(recs) == 0 && os.IsNotExist(serr)
	})
	if up := fake.Recording(syncApp, ref.ID); up == nil || !bytes.Equal(up.Data, data) {
		t.Fatal("central does not hold the recording intact")
	}

	// Policy: a change of one person goes as a delta; a gap is answered
	// with a snapshot.
	fake.SetPolicy(syncPol(2))
	svc.PolicyChanged(ctx, "S")
	waitPolicyVersion(t, policies, 2)
	if _, deltas, _ := svc.PolicyStats(); deltas != 1 {
		t.Fatalf("%d deltas published, want 1", deltas)
	}
	checkSyncPolicy(t, st, pki, 2)
	// A gap: appliance blk-other is off while its policy goes from 1 to
	// 3 by two deltas; when it first connects it gets the retained
	// snapshot 1 and the retained delta 2->3, cannot apply that delta, asks
	// for a snapshot (on its own up/ topic: the ACL must let it) and gets
	// version 3.
	const other = "blk-other"
	_, _, reqsBefore := svc.PolicyStats()
	for v := uint64(1); v <= 3; v++ {
		fake.SetPolicy(syncPolFor(other, "O", v))
		svc.PolicyChanged(ctx, "O")
	}
	if _, deltas, _ := svc.PolicyStats(); deltas != 3 {
		t.Fatalf("%d deltas published in all, want 3", deltas)
	}
	st2 := openApplianceStore(t, other)
	policies2 := make(chan uint64, 64)
	client2, err := syncclient.New(syncclient.Config{
		Broker: "ssl://" + brokerAddr, ApplianceID: other, TLS: pki.ApplianceTLS(t, other),
		SigningKey: pki.EventKey(t, other), PolicyKey: pki.PolicyPub(t), Software: "hil",
	}, syncclient.Deps{Store: st2, Log: syncLog(), OnPolicy: func(p *wire.Policy) { policies2 <- p.Version }})
	if err != nil {
		t.Fatal(err)
	}
	runBG(t, client2.Run)
	waitPolicyVersion(t, policies2, 3)
	if _, _, reqs := svc.PolicyStats(); reqs <= reqsBefore {
		t.Fatal("no snapshot request reached central")
	}
	checkSyncPolicyOf(t, st2, pki, syncPolFor(other, "O", 3))
}

func openApplianceStore(t *testing.T, id string) *appstore.Store {
	t.Helper()
	st, err := appstore.Open(filepath.Join(t.TempDir(), id+".db"), appstore.Options{ApplianceID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("bbolt check of %s: %v", id, err)
		}
		st.Close()
	})
	return st
}

func checkSyncPolicy(t *testing.T, st *appstore.Store, pki *brokertest.PKI, v uint64) {
	t.Helper()
	checkSyncPolicyOf(t, st, pki, syncPol(v))
}

// checkSyncPolicyOf asserts the appliance holds exactly central's signed
// snapshot want.
func checkSyncPolicyOf(t *testing.T, st *appstore.Store, pki *brokertest.PKI, want *wire.Policy) {
	t.Helper()
	got, err := st.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.SignPolicy(pki.PolicyKey(t), want); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("appliance holds\n%s\nwant central's snapshot\n%s", g, w)
	}
}

func waitPolicyVersion(t *testing.T, ch <-chan uint64, v uint64) {
	t.Helper()
	deadline := time.After(syncPatience)
	for {
		select {
		case got := <-ch:
			if got == v {
				return
			}
		case <-deadline:
			t.Fatalf("policy %d not applied", v)
		}
	}
}

func appendTaps(t *testing.T, st *appstore.Store, n int) {
	t.Helper()
	err := st.Update(func(tx *appstore.Tx) error {
		for i := 0; i < n; i++ {
			if _, err := tx.Append(wire.EventCardTap, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04AB12", Known: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lastSeq is the highest sequence the appliance appended.
func lastSeq(t *testing.T, st *appstore.Store) uint64 {
	t.Helper()
	acked, err := st.Acked()
	if err != nil {
		t.Fatal(err)
	}
	var last uint64 = acked
	for {
		evs, err := st.Pending(last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return last
		}
		last = evs[len(evs)-1].Seq
	}
}

// runBG runs fn until the test ends.
func runBG(t *testing.T, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(syncPatience):
			t.Error("did not stop")
		}
	})
}

// cutProxy forwards TCP connections to a broker until cut, which closes
// them all and refuses new ones until restore.
type cutProxy struct {
	addr, target string
	ln           net.Listener
	mu           sync.Mutex
	down         bool
	conns        map[net.Conn]bool
	refused      atomic.Int64 // connections closed while down
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			p.refused.Add(1)
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close(); c.Close() }()
		go func() { io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.refused.Store(0)
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
