package sync_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/tlsconf"
)

// logBuf collects a client's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines that contain every one of parts.
func (l *logBuf) lines(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// failing runs a sync client with cfg and returns its log and metrics.
type failing struct {
	*harness
	log *logBuf
	reg *prometheus.Registry
}

func startFailing(t *testing.T, h *harness, cfg syncclient.Config) *failing {
	t.Helper()
	f := &failing{harness: h, log: &logBuf{}, reg: prometheus.NewRegistry()}
	st := h.openStore()
	c, err := syncclient.New(cfg, syncclient.Deps{Store: st, Clock: h.clk, Metrics: f.reg,
		Log: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	h.run(c.Run)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", f.log)
		}
	})
	return f
}

func (f *failing) failures(cause syncclient.Cause) float64 {
	return testutil.ToFloat64(mustVec(f.t, f.reg).WithLabelValues(string(cause)))
}

// mustVec finds the failures counter in reg by gathering it.
func mustVec(t testing.TB, reg *prometheus.Registry) *prometheus.CounterVec {
	t.Helper()
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"cause"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kinline_appliance_mqtt_connection_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			v.WithLabelValues(m.GetLabel()[0].GetValue()).Add(m.GetCounter().GetValue())
		}
	}
	return v
}

// waitCause waits for a log line naming cause and returns it.
func (f *failing) waitCause(cause syncclient.Cause) string {
	f.t.Helper()
	want := "cause=" + string(cause) + " "
	testkit.Eventually(f.t, patience, "a log line with "+want, func() bool {
		return len(f.log.lines("cannot connect to the broker", want)) > 0
	})
	return f.log.lines("cannot connect to the broker", want)[0]
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Nothing listens: the first failure is logged at once, the next ones
// within FailureLogInterval are only counted, the line after the interval
// counts them, and connecting at last is logged with the failures.
func TestConnectFailureRefusedRateLimitedThenConnected(t *testing.T) {
	addr := freePort(t)
	h := newHarnessURL(t, "tcp://"+addr, "", "")
	f := startFailing(t, h, h.config())
	line := f.waitCause(syncclient.CauseRefused)
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "attempts=1 ") || !strings.Contains(line, addr) {
		t.Fatalf("first failure line: %s", line)
	}
	testkit.Eventually(t, patience, "three refused attempts counted", func() bool { return f.failures(syncclient.CauseRefused) >= 3 })
	if n := len(f.log.lines("cannot connect")); n != 1 {
		t.Fatalf("%d lines for failures within the interval, want 1:\n%s", n, f.log)
	}
	if v := testutil.ToFloat64(gauge(t, f.reg, "kinline_appliance_mqtt_connected")); v != 0 {
		t.Fatalf("connected gauge %v while refused", v)
	}
	h.clk.Advance(syncclient.FailureLogInterval)
	testkit.Eventually(t, patience, "a second line after the interval", func() bool { return len(f.log.lines("cannot connect")) == 2 })
	second := f.log.lines("cannot connect")[1]
	if !strings.Contains(second, "cause=refused") || strings.Contains(second, "attempts=1 ") {
		t.Fatalf("second line does not count the attempts in between: %s", second)
	}

	// The broker comes up on that address.
	b, err := broker.New(broker.Config{Listen: addr, Appliances: map[string]string{appID: appPW}}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	testkit.Eventually(t, patience, "the reconnection logged", func() bool {
		return len(f.log.lines("connected to the broker again after failed attempts", "failed_attempts=")) == 1
	})
	testkit.Eventually(t, patience, "connected gauge 1", func() bool {
		return testutil.ToFloat64(gauge(t, f.reg, "kinline_appliance_mqtt_connected")) == 1
	})
}

// gauge finds a gauge's value in reg as a collector.
func gauge(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func TestConnectFailureDNS(t *testing.T) {
	h := newHarnessURL(t, "tcp://no-such-broker.invalid:1883", "", "")
	f := startFailing(t, h, h.config())
	f.waitCause(syncclient.CauseDNS)
}

// A listener that accepts and never answers: the MQTT handshake times out.
func TestConnectFailureTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	h := newHarnessURL(t, "tcp://"+l.Addr().String(), "", "")
	cfg := h.config()
	cfg.ConnectTimeout = 300 * time.Millisecond
	f := startFailing(t, h, cfg)
	f.waitCause(syncclient.CauseTimeout)
}

// A wrong password: the broker's CONNACK refuses.
func TestConnectFailureNotAuthorized(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	cfg.Password = "not-" + appPW
	f := startFailing(t, h, cfg)
	line := f.waitCause(syncclient.CauseNotAuthorized)
	if !strings.Contains(line, "level=ERROR") {
		t.Fatalf("an authorization failure does not mend by itself, want ERROR: %s", line)
	}
}

// Against a real Mosquitto with the documented configuration: a broker
// whose certificate is not from our CA, our certificate from another CA,
// and our certificate revoked (Mosquitto's crlfile).
func TestConnectFailureTLSThroughMosquitto(t *testing.T) {
	pki := brokertest.NewPKI(t, appID, "blk-b")
	other := brokertest.NewPKI(t, appID)
	pki.Revoke(t, "blk-b")
	m := brokertest.StartMosquitto(t, pki)

	t.Run("broker certificate not from our CA", func(t *testing.T) {
		h := newHarnessURL(t, m.URL, "", "")
		cfg := h.config()
		cfg.Password, cfg.TLS = "", other.ApplianceTLS(t, appID)
		f := startFailing(t, h, cfg)
		line := f.waitCause(syncclient.CauseBrokerTLS)
		if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "sync.tls.ca") {
			t.Fatalf("line: %s", line)
		}
	})
	t.Run("our certificate from another CA", func(t *testing.T) {
		h := newHarnessURL(t, m.URL, "", "")
		cfg := h.config()
		tc, err := tlsconf.NewClient(tlsconf.ClientOptions{CertFile: other.ClientCert(appID), KeyFile: other.ClientKey(appID), CAFile: pki.CA()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password, cfg.TLS = "", tc
		f := startFailing(t, h, cfg)
		f.waitCause(syncclient.CauseCertRefused)
	})
	t.Run("our certificate revoked", func(t *testing.T) {
		h := newHarnessURL(t, m.URL, "", "")
		h.dbPath = t.TempDir() + "/blk-b.db"
		cfg := h.config()
		cfg.ApplianceID, cfg.Password, cfg.TLS = "blk-b", "", pki.ApplianceTLS(t, "blk-b")
		f := &failing{harness: h, log: &logBuf{}, reg: prometheus.NewRegistry()}
		st, err := store.Open(h.dbPath, store.Options{ApplianceID: "blk-b", Clock: h.clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c, err := syncclient.New(cfg, syncclient.Deps{Store: st, Clock: h.clk, Metrics: f.reg,
			Log: slog.New(slog.NewTextHandler(f.log, nil))})
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("client log:\n%s", f.log)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		h.run(c.Run)
		line := f.waitCause(syncclient.CauseCertRevoked)
		if !strings.Contains(line, "revoked") || f.failures(syncclient.CauseCertRevoked) < 1 {
			t.Fatalf("line: %s", line)
		}
	})
	t.Run("our certificate expired", func(t *testing.T) {
		h := newHarnessURL(t, m.URL, "", "")
		cfg := h.config()
		cfg.Password, cfg.TLS = "", expiredClientTLS(t, pki, appID)
		f := startFailing(t, h, cfg)
		f.waitCause(syncclient.CauseCertExpired)
	})
	t.Run("valid certificate connects", func(t *testing.T) {
		h := newHarnessURL(t, m.URL, "", "")
		cfg := h.config()
		cfg.Password, cfg.TLS = "", pki.ApplianceTLS(t, appID)
		f := startFailing(t, h, cfg)
		testkit.Eventually(t, patience, "connected", func() bool {
			return testutil.ToFloat64(gauge(t, f.reg, "kinline_appliance_mqtt_connected")) == 1
		})
		if n := len(f.log.lines("cannot connect")); n != 0 {
			t.Fatalf("failures logged for a valid certificate:\n%s", f.log)
		}
	})
}

// expiredClientTLS is appliance id's TLS configuration with a certificate
// from pki's CA that expired yesterday.
func expiredClientTLS(t *testing.T, pki *brokertest.PKI, id string) *tls.Config {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(pki.CA(), filepath.Join(pki.Dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    now.Add(-48 * time.Hour),
		NotAfter:     now.Add(-24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
