package tlsconf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
)

// testCA is a throwaway CA that writes its files to a temporary directory.
type testCA struct {
	t      *testing.T
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	now    time.Time
	serial int64
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: t.TempDir(), cert: cert, key: key, now: t0, serial: 100}
	ca.write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	ca.writeCRL("crl.pem", 1)
	return ca
}

func (ca *testCA) path(name string) string { return filepath.Join(ca.dir, name) }

func (ca *testCA) write(name string, data []byte, mode os.FileMode) {
	ca.t.Helper()
	// Write then rename, as kinline-provision does.
	tmp := ca.path(name + ".tmp")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		ca.t.Fatal(err)
	}
	if err := os.Rename(tmp, ca.path(name)); err != nil {
		ca.t.Fatal(err)
	}
}

// issue writes name.pem and name.key for a leaf certificate.
func (ca *testCA) issue(name, cn, ou string, usage []x509.ExtKeyUsage, dns ...string) *x509.Certificate {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}},
		NotBefore: ca.now.Add(-time.Hour), NotAfter: ca.now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage, DNSNames: dns,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	ca.write(name+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	ca.write(name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func (ca *testCA) server() {
	ca.issue("server", "kinline-central", OUCentral, serverUsage, DefaultServerName)
}

var (
	serverUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	clientUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
)

func (ca *testCA) crlDER(number int64, revoked ...*x509.Certificate) []byte {
	ca.t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: ca.now})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: ca.now, NextUpdate: ca.now.Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return der
}

func (ca *testCA) writeCRL(name string, number int64, revoked ...*x509.Certificate) {
	ca.write(name, pem.EncodeToMemory(&pem.Block{Type: PEMTypeCRL, Bytes: ca.crlDER(number, revoked...)}), 0o644)
}

func (ca *testCA) serverConfig(roles ...Role) (*tls.Config, *Revocations) {
	ca.t.Helper()
	cfg, rev, err := NewServer(ServerOptions{
		CertFile: ca.path("server.pem"), KeyFile: ca.path("server.key"),
		CAFile: ca.path("ca.pem"), CRLFile: ca.path("crl.pem"), Roles: roles,
		Clock: clock.NewFake(ca.now),
	})
	if err != nil {
		ca.t.Fatal(err)
	}
	return cfg, rev
}

func (ca *testCA) clientConfig(name string, trust *testCA) *tls.Config {
	ca.t.Helper()
	cfg, err := NewClient(ClientOptions{
		CertFile: ca.path(name + ".pem"), KeyFile: ca.path(name + ".key"),
		CAFile: trust.path("ca.pem"), Clock: clock.NewFake(ca.now),
	})
	if err != nil {
		ca.t.Fatal(err)
	}
	return cfg
}

type result struct {
	serverErr error
	clientErr error
	peer      Identity
	peerErr   error
}

// handshake runs one TLS connection over loopback and reports both ends.
// The client reads the server's greeting, so a refusal the server sends
// after the client's side of a TLS 1.3 handshake finished is seen too.
func handshake(t *testing.T, server, client *tls.Config) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var res result
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			res.serverErr = err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if res.serverErr = tc.HandshakeContext(ctx); res.serverErr != nil {
			return
		}
		res.peer, res.peerErr = PeerIdentity(tc.ConnectionState())
		_, res.serverErr = tc.Write([]byte("hi"))
	}()
	d := tls.Dialer{Config: client}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		res.clientErr = err
	} else {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 2)
		_, res.clientErr = io.ReadFull(c, buf)
		if res.clientErr == nil && string(buf) != "hi" {
			t.Fatalf("read %q", buf)
		}
		c.Close()
	}
	<-done
	return res
}

func (r result) ok(t *testing.T) {
	t.Helper()
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("handshake failed: server %v, client %v", r.serverErr, r.clientErr)
	}
}

func (r result) refused(t *testing.T, want error) {
	t.Helper()
	if r.serverErr == nil || r.clientErr == nil {
		t.Fatalf("handshake not refused: server %v, client %v", r.serverErr, r.clientErr)
	}
	if want != nil && !errors.Is(r.serverErr, want) {
		t.Fatalf("server error %v, want %v", r.serverErr, want)
	}
}

func TestApplianceConnects(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	ca.issue("a1", "block-a-1", OUAppliance, clientUsage)
	srv, _ := ca.serverConfig()
	r := handshake(t, srv, ca.clientConfig("a1", ca))
	r.ok(t)
	if r.peerErr != nil || r.peer != (Identity{Role: RoleAppliance, ID: "block-a-1"}) {
		t.Fatalf("peer = %+v, %v", r.peer, r.peerErr)
	}
	if srv.MinVersion != tls.VersionTLS13 || ca.clientConfig("a1", ca).MinVersion != tls.VersionTLS13 {
		t.Fatal("TLS 1.3 is not the minimum")
	}
}

func TestRevocationTakesEffectOnNextConnection(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	a1 := ca.issue("a1", "block-a-1", OUAppliance, clientUsage)
	ca.issue("a2", "block-a-2", OUAppliance, clientUsage)
	srv, rev := ca.serverConfig()
	handshake(t, srv, ca.clientConfig("a1", ca)).ok(t)

	ca.writeCRL("crl.pem", 2, a1) // while the server runs
	handshake(t, srv, ca.clientConfig("a1", ca)).refused(t, ErrRevoked)
	handshake(t, srv, ca.clientConfig("a2", ca)).ok(t)
	if n := rev.Number(ca.cert); n == nil || n.Int64() != 2 {
		t.Fatalf("CRL number %v, want 2", n)
	}
	if err := rev.Check(a1); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Check = %v", err)
	}
}

func TestDamagedCRLFailsClosed(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	ca.issue("a1", "block-a-1", OUAppliance, clientUsage)
	srv, _ := ca.serverConfig()
	handshake(t, srv, ca.clientConfig("a1", ca)).ok(t)

	ca.write("crl.pem", []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), 0o644)
	handshake(t, srv, ca.clientConfig("a1", ca)).refused(t, ErrCRL)

	// A list signed by another CA (with the same name) is no better.
	other := newCA(t, "Kinline CA")
	other.writeCRL("crl.pem", 9)
	data, _ := os.ReadFile(other.path("crl.pem"))
	ca.write("crl.pem", data, 0o644)
	handshake(t, srv, ca.clientConfig("a1", ca)).refused(t, ErrCRL)

	if err := os.Remove(ca.path("crl.pem")); err != nil {
		t.Fatal(err)
	}
	handshake(t, srv, ca.clientConfig("a1", ca)).refused(t, ErrCRL)

	ca.writeCRL("crl.pem", 3)
	handshake(t, srv, ca.clientConfig("a1", ca)).ok(t)
}

func TestForeignAndMissingClientCertificates(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	srv, _ := ca.serverConfig()

	// Same names, another CA.
	other := newCA(t, "Kinline CA")
	other.issue("a1", "block-a-1", OUAppliance, clientUsage)
	handshake(t, srv, other.clientConfig("a1", ca)).refused(t, nil)

	// No client certificate at all.
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool([]*x509.Certificate{ca.cert}), ServerName: DefaultServerName}
	handshake(t, srv, noCert).refused(t, nil)
}

func TestIdentityRules(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	srv, _ := ca.serverConfig()

	// A wildcard in the CN never becomes an MQTT client id.
	ca.issue("wild", "block/#", OUAppliance, clientUsage)
	handshake(t, srv, rawClient(t, ca, "wild")).refused(t, ErrIdentity)
	// No role.
	ca.issue("norole", "block-a-9", "something-else", clientUsage)
	handshake(t, srv, rawClient(t, ca, "norole")).refused(t, ErrIdentity)
	// An appliance certificate without client-auth usage fails the chain check.
	ca.issue("srvonly", "block-a-8", OUAppliance, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	handshake(t, srv, rawClient(t, ca, "srvonly")).refused(t, nil)

	// Central's certificate is accepted as a client unless only appliances are.
	ca.issue("central", "kinline-central", OUCentral, serverUsage, DefaultServerName)
	r := handshake(t, srv, ca.clientConfig("central", ca))
	r.ok(t)
	if r.peer.Role != RoleCentral {
		t.Fatalf("peer %+v", r.peer)
	}
	onlyAppliances, _ := ca.serverConfig(RoleAppliance)
	handshake(t, onlyAppliances, ca.clientConfig("central", ca)).refused(t, ErrIdentity)

	if _, err := ApplianceID(ca.issue("c2", "kinline-central", OUCentral, serverUsage)); !errors.Is(err, ErrIdentity) {
		t.Fatalf("ApplianceID of central's certificate: %v", err)
	}
	if id, err := ApplianceID(ca.issue("a3", "block-a-3", OUAppliance, clientUsage)); err != nil || id != "block-a-3" {
		t.Fatalf("ApplianceID = %q, %v", id, err)
	}
	if _, err := PeerIdentity(tls.ConnectionState{}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("PeerIdentity of an unverified connection: %v", err)
	}
}

// rawClient presents a certificate NewClient would refuse to load.
func rawClient(t *testing.T, ca *testCA, name string) *tls.Config {
	kp, err := tls.LoadX509KeyPair(ca.path(name+".pem"), ca.path(name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{kp},
		RootCAs: pool([]*x509.Certificate{ca.cert}), ServerName: DefaultServerName}
}

func TestClientChecksServer(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.issue("a1", "block-a-1", OUAppliance, clientUsage)

	// A server certificate from another CA.
	other := newCA(t, "Kinline CA")
	other.server()
	data, _ := os.ReadFile(ca.path("crl.pem"))
	other.write("crl.pem", data, 0o644)
	other.write("ca.pem", mustRead(t, ca.path("ca.pem")), 0o644) // trusts our clients
	srv, _ := other.serverConfig()
	r := handshake(t, srv, ca.clientConfig("a1", ca))
	if r.clientErr == nil {
		t.Fatal("client accepted a server certificate from another CA")
	}

	// An appliance certificate cannot pose as the server (no server-auth usage).
	ca.issue("server", "kinline-central", OUAppliance, clientUsage, DefaultServerName)
	srv2, _ := ca.serverConfig()
	if r := handshake(t, srv2, ca.clientConfig("a1", ca)); r.clientErr == nil {
		t.Fatal("client accepted a server certificate without server-auth usage")
	}

	// The wrong server name.
	ca.server()
	srv3, _ := ca.serverConfig()
	cfg := ca.clientConfig("a1", ca)
	cfg.ServerName = "elsewhere.example"
	if r := handshake(t, srv3, cfg); r.clientErr == nil {
		t.Fatal("client accepted a server certificate for another name")
	}
}

func TestExpiredClientRefused(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.issue("a1", "block-a-1", OUAppliance, clientUsage)
	ca.now = ca.now.Add(3 * 365 * 24 * time.Hour) // both clocks, past a1's NotAfter
	ca.server()                                   // a server certificate valid then
	srv, _ := ca.serverConfig()
	r := handshake(t, srv, ca.clientConfig("a1", ca))
	var inv x509.CertificateInvalidError
	if !errors.As(r.serverErr, &inv) || inv.Reason != x509.Expired {
		t.Fatalf("server error %v, want an expired certificate", r.serverErr)
	}
}

func TestTLS12Refused(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	ca.issue("a1", "block-a-1", OUAppliance, clientUsage)
	srv, _ := ca.serverConfig()
	cfg := ca.clientConfig("a1", ca)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	r := handshake(t, srv, cfg)
	if r.serverErr == nil || !strings.Contains(r.serverErr.Error(), "version") {
		t.Fatalf("TLS 1.2 client: server error %v", r.serverErr)
	}
}

func TestConfigErrors(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	ca.server()
	base := ServerOptions{CertFile: ca.path("server.pem"), KeyFile: ca.path("server.key"), CAFile: ca.path("ca.pem"), CRLFile: ca.path("crl.pem")}

	o := base
	o.CRLFile = ""
	if _, _, err := NewServer(o); !errors.Is(err, ErrConfig) {
		t.Errorf("no CRL file: %v", err)
	}
	o = base
	o.CRLFile = ca.path("missing.pem")
	if _, _, err := NewServer(o); !errors.Is(err, ErrCRL) {
		t.Errorf("missing CRL file: %v", err)
	}
	o = base
	o.CAFile = ca.path("server.pem") // a leaf, not a CA
	if _, _, err := NewServer(o); !errors.Is(err, ErrConfig) {
		t.Errorf("leaf as CA: %v", err)
	}
	// A key its group may read is accepted (an external Mosquitto shares
	// central's); one others may read or its group write is not.
	if err := os.Chmod(ca.path("server.key"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewServer(base); err != nil {
		t.Errorf("group-readable key (0640): %v", err)
	}
	for _, mode := range []os.FileMode{0o644, 0o604, 0o660, 0o650, 0o641} {
		if err := os.Chmod(ca.path("server.key"), mode); err != nil {
			t.Fatal(err)
		}
		if _, _, err := NewServer(base); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("key of mode %#o: %v", mode, err)
		}
	}
	if _, err := NewClient(ClientOptions{CertFile: "x"}); !errors.Is(err, ErrConfig) {
		t.Errorf("incomplete client options: %v", err)
	}
}

func TestParseCRLs(t *testing.T) {
	ca := newCA(t, "Kinline CA")
	other := newCA(t, "Other CA")
	a := ca.crlDER(1)
	b := other.crlDER(1)
	block := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: PEMTypeCRL, Bytes: der}) }
	both := append(block(a), block(b)...)

	if crls, err := ParseCRLs(both, []*x509.Certificate{ca.cert, other.cert}); err != nil || len(crls) != 2 {
		t.Fatalf("two CAs, two lists: %d, %v", len(crls), err)
	}
	if _, err := ParseCRLs(both, []*x509.Certificate{ca.cert}); !errors.Is(err, ErrCRL) {
		t.Fatalf("list from an untrusted CA: %v", err)
	}
	if _, err := ParseCRLs(append(block(a), block(a)...), []*x509.Certificate{ca.cert}); !errors.Is(err, ErrCRL) {
		t.Fatalf("two lists from one CA: %v", err)
	}
	if crls, err := ParseCRLs(nil, []*x509.Certificate{ca.cert}); err != nil || len(crls) != 0 {
		t.Fatalf("empty file: %v", err)
	}
	// An empty list covers nobody's issuer: Check fails closed.
	ca.write("empty.pem", nil, 0o644)
	rev, err := LoadRevocations(ca.path("empty.pem"), []*x509.Certificate{ca.cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rev.Check(ca.issue("a1", "block-a-1", OUAppliance, clientUsage)); !errors.Is(err, ErrCRL) {
		t.Fatalf("certificate whose issuer has no list: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseCRLs feeds arbitrary bytes to the CRL parser under a fixed CA
// (testdata/fuzz-ca.pem, which signed the valid seeds). Whatever it
// accepts must be signed by that CA; whatever it refuses wraps ErrCRL.
func FuzzParseCRLs(f *testing.F) {
	cas, err := LoadCAs("testdata/fuzz-ca.pem")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		crls, err := ParseCRLs(data, cas)
		if err != nil {
			if !errors.Is(err, ErrCRL) {
				t.Fatalf("error %v does not wrap ErrCRL", err)
			}
			return
		}
		if len(crls) > 1 {
			t.Fatalf("%d lists from one CA accepted", len(crls))
		}
		for _, c := range crls {
			if err := c.CheckSignatureFrom(cas[0]); err != nil {
				t.Fatalf("accepted a list the CA did not sign: %v", err)
			}
		}
	})
}

// FuzzParseCertificatesPEM: refusals wrap ErrConfig; acceptances are
// certificates that parse again from their raw bytes.
func FuzzParseCertificatesPEM(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificatesPEM(data)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		for _, c := range certs {
			if _, err := x509.ParseCertificate(c.Raw); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestFuzzSeedsMatchTheirCA keeps the committed corpus meaningful: the
// valid seeds must be accepted under testdata/fuzz-ca.pem.
func TestFuzzSeedsMatchTheirCA(t *testing.T) {
	cas, err := LoadCAs("testdata/fuzz-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	raw := mustRead(t, "testdata/fuzz/FuzzParseCRLs/three-revoked")
	body, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
	if !ok {
		t.Fatal("seed is not in the fuzz corpus format")
	}
	data, err := strconv.Unquote(strings.TrimSuffix(body, ")"))
	if err != nil {
		t.Fatal(err)
	}
	crls, err := ParseCRLs([]byte(data), cas)
	if err != nil || len(crls) != 1 || len(crls[0].RevokedCertificateEntries) != 3 {
		t.Fatalf("seed three-revoked: %v", err)
	}
}
