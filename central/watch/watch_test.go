package watch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const wait = 10 * time.Second

func open(t *testing.T) (*store.Store, *clock.Fake) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(t0)
	st, err := storetest.Open(context.Background(), t, filepath.Join(dir, "c.db"), filepath.Join(dir, "rec"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, clk
}

// openAlarms lists the open alarms of subject with code.
func openAlarms(t *testing.T, st *store.Store, subject, code string) []store.Alarm {
	t.Helper()
	al, err := st.AlarmList(context.Background(), store.AlarmFilter{ApplianceID: subject, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Alarm
	for _, a := range al {
		if a.Code == code {
			out = append(out, a)
		}
	}
	return out
}

// status stores a status event of app stamped at.
func status(t *testing.T, st *store.Store, app string, seq uint64, prev string, at time.Time) string {
	t.Helper()
	pl, _ := json.Marshal(wire.Status{PolicyVersion: 1, Software: "test"})
	ev := wire.Event{ApplianceID: app, Seq: seq, Time: at, Type: wire.EventStatus, Payload: pl, PrevHash: prev}
	ev.Seal()
	storetest.MustStore(t, st, app, []wire.Event{ev})
	return ev.Hash
}

// TestUnseenAlarm: on the injected clock, an enrolled appliance unheard
// for UnseenAfter is alarmed once (its block in the message), the alarm
// clears when it is heard from again; a retired one is not watched.
func TestUnseenAlarm(t *testing.T) {
	st, clk := open(t)
	ctx := context.Background()
	for _, id := range []string{"app1", "app2"} {
		if _, err := st.ImportAppliance(ctx, id, "A"); err != nil {
			t.Fatal(err)
		}
	}
	w := New(Config{UnseenAfter: 15 * time.Minute, Clock: clk}, st, nil)
	w.Start()
	t.Cleanup(w.Stop)
	// advance moves the clock once the watcher has armed its next check
	// (each check runs in a goroutine of the fake clock's).
	advance := func(d time.Duration) {
		testkit.Eventually(t, wait, "the next check armed", func() bool { return clk.Pending() == 1 })
		clk.Advance(d)
	}
	advance(10 * time.Minute)
	if n := len(openAlarms(t, st, "app1", store.AlarmApplianceUnseen)); n != 0 {
		t.Fatalf("%d unseen alarms after 10 minutes", n)
	}
	if _, err := st.RetireAppliance(ctx, "admin", "app2"); err != nil {
		t.Fatal(err)
	}
	advance(6 * time.Minute)
	testkit.Eventually(t, wait, "app1's unseen alarm", func() bool { return len(openAlarms(t, st, "app1", store.AlarmApplianceUnseen)) == 1 })
	if a := openAlarms(t, st, "app1", store.AlarmApplianceUnseen)[0]; !strings.Contains(a.Message, "block A") {
		t.Fatalf("message %q", a.Message)
	}
	advance(5 * time.Minute)
	testkit.Eventually(t, wait, "the check done", func() bool { return clk.Pending() == 1 })
	if n := len(openAlarms(t, st, "app1", store.AlarmApplianceUnseen)); n != 1 {
		t.Fatalf("%d open unseen alarms", n)
	}
	if n := len(openAlarms(t, st, "app2", store.AlarmApplianceUnseen)); n != 0 {
		t.Fatal("a retired appliance is alarmed as unseen")
	}
	status(t, st, "app1", 1, "", clk.Now())
	advance(time.Minute)
	testkit.Eventually(t, wait, "app1's unseen alarm cleared", func() bool { return len(openAlarms(t, st, "app1", store.AlarmApplianceUnseen)) == 0 })
}

// writeCert writes a self-signed certificate expiring at notAfter.
func writeCert(t *testing.T, file string, notAfter time.Time) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: t0.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCertificateExpiryAlarms: 30 days before central's certificate, the
// CA's, or an appliance's (seen at connect, or in pki/appliances) expires,
// an alarm is raised; a renewed certificate clears it.
func TestCertificateExpiryAlarms(t *testing.T) {
	st, clk := open(t)
	ctx := context.Background()
	dir := t.TempDir()
	server, ca := filepath.Join(dir, "central", "server.pem"), filepath.Join(dir, "ca.pem")
	writeCert(t, server, t0.Add(40*24*time.Hour))
	writeCert(t, ca, t0.Add(10*365*24*time.Hour))
	for _, id := range []string{"app1", "app2"} {
		if _, err := st.ImportAppliance(ctx, id, "A"); err != nil {
			t.Fatal(err)
		}
	}
	writeCert(t, filepath.Join(dir, "appliances", "app2", "client.pem"), t0.Add(45*24*time.Hour))
	if err := st.RecordCertificate(ctx, "app1", t0.Add(35*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	w := New(Config{UnseenAfter: 365 * 24 * time.Hour, Interval: time.Hour, Clock: clk, CentralCert: server, CACert: ca,
		ApplianceCertsDir: filepath.Join(dir, "appliances")}, st, nil)
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if al, _ := st.AlarmList(ctx, store.AlarmFilter{Open: true}); len(al) != 0 {
		t.Fatalf("alarms before any certificate is due: %+v", al)
	}
	clk.Advance(6 * 24 * time.Hour) // app1's due in 29 days
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(openAlarms(t, st, "app1", store.AlarmCertificateExpiring)) != 1 || len(openAlarms(t, st, wire.CentralIdentity, store.AlarmCertificateExpiring)) != 0 {
		t.Fatal("app1's certificate (seen at connect) not alarmed alone")
	}
	clk.Advance(5 * 24 * time.Hour) // central's due in 29 days
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	cs := openAlarms(t, st, wire.CentralIdentity, store.AlarmCertificateExpiring)
	if len(cs) != 1 || cs[0].Source != SourceCentralCert || !strings.Contains(cs[0].Message, "29 days") {
		t.Fatalf("central's alarms %+v", cs)
	}
	clk.Advance(5 * 24 * time.Hour) // app2's (pki/appliances) due in 29 days
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(openAlarms(t, st, "app2", store.AlarmCertificateExpiring)) != 1 {
		t.Fatal("app2's certificate in pki/appliances not alarmed")
	}
	// Renewed: central's and app1's (it reconnected with a new one).
	writeCert(t, server, clk.Now().Add(365*24*time.Hour))
	if err := st.RecordCertificate(ctx, "app1", clk.Now().Add(365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(openAlarms(t, st, wire.CentralIdentity, store.AlarmCertificateExpiring)) != 0 || len(openAlarms(t, st, "app1", store.AlarmCertificateExpiring)) != 0 {
		t.Fatal("renewed certificates still alarmed")
	}
	// A certificate file that cannot be read is an error, not silence.
	if err := os.WriteFile(ca, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Check(ctx); err == nil {
		t.Fatal("unreadable CA file not reported")
	}
}
