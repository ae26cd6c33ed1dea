package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
	"github.com/kinline/kinline/shared/wire"
)

var start = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// cli runs the command in process and returns its exit status and output.
func cli(t *testing.T, clk clock.Clock, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb, clk)
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, clk clock.Clock, args ...string) string {
	t.Helper()
	code, out, errs := cli(t, clk, args...)
	if code != 0 {
		t.Fatalf("kinline-provision %q: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func provisioned(t *testing.T, ids ...string) (string, *clock.Fake) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	clk := clock.NewFake(start)
	mustCLI(t, clk, "init", "-dir", dir, "-host", "localhost,127.0.0.1")
	for _, id := range ids {
		mustCLI(t, clk, "appliance", "-dir", dir, "-id", id)
	}
	return dir, clk
}

func TestInitAndApplianceChainVerifies(t *testing.T) {
	dir, _ := provisioned(t, "block-a-1")
	cas, err := tlsconf.LoadCAs(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	ca := cas[0]
	if ca.NotAfter.Sub(start) < 9*365*24*time.Hour || !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("CA: until %s, IsCA %v, %s", ca.NotAfter, ca.IsCA, ca.PublicKeyAlgorithm)
	}

	leaf, err := readCert(filepath.Join(dir, "appliances", "block-a-1", "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: start, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("appliance chain: %v", err)
	}
	if id, err := tlsconf.ApplianceID(leaf); err != nil || id != "block-a-1" {
		t.Fatalf("appliance id %q, %v", id, err)
	}
	if d := leaf.NotAfter.Sub(start); d < 729*24*time.Hour || d > 731*24*time.Hour {
		t.Fatalf("appliance certificate valid for %s, want 2 years", d)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: start, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("appliance certificate is usable as a server certificate")
	}

	srv, err := readCert(filepath.Join(dir, "central", "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", tlsconf.DefaultServerName} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: start, DNSName: name}); err != nil {
			t.Fatalf("server certificate for %s: %v", name, err)
		}
	}

	// The bundle's keys: event key pair matches, central's policy key
	// verifies what central signs, and private keys are 0600.
	b := filepath.Join(dir, "appliances", "block-a-1")
	evPriv, err := sign.LoadPrivateKey(filepath.Join(b, "event.key"))
	if err != nil {
		t.Fatal(err)
	}
	evPub, err := sign.LoadPublicKey(filepath.Join(b, "event.pub"))
	if err != nil {
		t.Fatal(err)
	}
	batch := &wire.Batch{V: wire.ProtocolVersion, ApplianceID: "block-a-1"}
	if err := sign.SignBatch(evPriv, batch); err != nil {
		t.Fatal(err)
	}
	if err := sign.VerifyBatch(evPub, batch); err != nil {
		t.Fatal(err)
	}
	polPriv, err := sign.LoadPrivateKey(filepath.Join(dir, "central", "policy.key"))
	if err != nil {
		t.Fatal(err)
	}
	polPub, err := sign.LoadPublicKey(filepath.Join(b, "policy.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pol := &wire.Policy{V: wire.ProtocolVersion, ApplianceID: "block-a-1", Version: 1}
	if err := sign.SignPolicy(polPriv, pol); err != nil {
		t.Fatal(err)
	}
	if err := sign.VerifyPolicy(polPub, pol); err != nil {
		t.Fatalf("appliance's copy of central's policy key: %v", err)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(b, "ca.pem")), mustRead(t, filepath.Join(dir, "ca.pem"))) {
		t.Fatal("bundle's ca.pem differs from the CA")
	}
	// The permissions model: the broker's group enters DIR and
	// DIR/central and reads central's server key, nothing else secret.
	for k, want := range map[string]os.FileMode{"ca.key": 0o600, "central/server.key": 0o640, "central/policy.key": 0o600,
		"appliances/block-a-1/client.key": 0o600, "appliances/block-a-1/event.key": 0o600,
		".": 0o750, "central": 0o750, "appliances": 0o700, "appliances/block-a-1": 0o700,
		"ca.pem": 0o644, "crl.pem": 0o644, "central/server.pem": 0o644} {
		st, err := os.Stat(filepath.Join(dir, k))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", k, st.Mode().Perm(), want)
		}
	}
}

// serverConfig is the broker's TLS configuration from the generated files.
func serverConfig(t *testing.T, dir string, clk clock.Clock) *tls.Config {
	t.Helper()
	cfg, _, err := tlsconf.NewServer(tlsconf.ServerOptions{
		CertFile: filepath.Join(dir, "central", "server.pem"), KeyFile: filepath.Join(dir, "central", "server.key"),
		CAFile: filepath.Join(dir, "ca.pem"), CRLFile: filepath.Join(dir, "crl.pem"), Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// clientConfig is appliance id's TLS configuration from its bundle.
func clientConfig(t *testing.T, dir, id string, clk clock.Clock) *tls.Config {
	t.Helper()
	b := filepath.Join(dir, "appliances", id)
	cfg, err := tlsconf.NewClient(tlsconf.ClientOptions{
		CertFile: filepath.Join(b, "client.pem"), KeyFile: filepath.Join(b, "client.key"),
		CAFile: filepath.Join(b, "ca.pem"), Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type outcome struct {
	serverErr, clientErr error
	peer                 tlsconf.Identity
}

// handshake makes one TLS connection over loopback. The server greets;
// the client reads the greeting, so a refusal sent after the client's
// TLS 1.3 handshake finished still shows on the client.
func handshake(t *testing.T, server, client *tls.Config) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var o outcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			o.serverErr = err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if o.serverErr = tc.HandshakeContext(ctx); o.serverErr != nil {
			return
		}
		if o.peer, o.serverErr = tlsconf.PeerIdentity(tc.ConnectionState()); o.serverErr != nil {
			return
		}
		_, o.serverErr = tc.Write([]byte("ok"))
	}()
	d := tls.Dialer{Config: client}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = io.ReadFull(c, make([]byte, 2))
		c.Close()
	}
	o.clientErr = err
	<-done
	return o
}

func TestHandshakes(t *testing.T) {
	dir, clk := provisioned(t, "block-a-1", "block-a-2")
	srv := serverConfig(t, dir, clk)

	// A provisioned appliance connects, and the broker learns who it is.
	o := handshake(t, srv, clientConfig(t, dir, "block-a-1", clk))
	if o.serverErr != nil || o.clientErr != nil {
		t.Fatalf("provisioned appliance refused: server %v, client %v", o.serverErr, o.clientErr)
	}
	if o.peer != (tlsconf.Identity{Role: tlsconf.RoleAppliance, ID: "block-a-1"}) {
		t.Fatalf("peer %+v", o.peer)
	}

	// After revoke, the same running server refuses it, and only it.
	out := mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-a-1")
	if !strings.Contains(out, "revoked appliance") {
		t.Fatalf("revoke said %q", out)
	}
	o = handshake(t, srv, clientConfig(t, dir, "block-a-1", clk))
	if !errors.Is(o.serverErr, tlsconf.ErrRevoked) || o.clientErr == nil {
		t.Fatalf("revoked appliance: server %v, client %v", o.serverErr, o.clientErr)
	}
	// Its event key is retired: central's keyring finds no event.pub.
	if _, err := os.Stat(filepath.Join(dir, "appliances", "block-a-1", "event.pub")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("revoked appliance's event.pub still in place: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "appliances", "block-a-1", "event.pub.revoked")); err != nil {
		t.Fatalf("retired event key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "appliances", "block-a-2", "event.pub")); err != nil {
		t.Fatalf("other appliance's event key touched: %v", err)
	}
	o = handshake(t, srv, clientConfig(t, dir, "block-a-2", clk))
	if o.serverErr != nil || o.clientErr != nil {
		t.Fatalf("other appliance after a revocation: server %v, client %v", o.serverErr, o.clientErr)
	}

	// A certificate from another CA, with the very same id.
	other, _ := provisioned(t, "block-a-2")
	o = handshake(t, srv, clientConfigTrusting(t, other, "block-a-2", dir, clk))
	if o.serverErr == nil || o.clientErr == nil {
		t.Fatalf("certificate from another CA accepted: server %v, client %v", o.serverErr, o.clientErr)
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(o.serverErr, &unknown) {
		t.Fatalf("server error %v, want an unknown authority", o.serverErr)
	}

	// No client certificate.
	noCert := clientConfig(t, dir, "block-a-2", clk)
	noCert.Certificates = nil
	o = handshake(t, srv, noCert)
	if o.serverErr == nil || o.clientErr == nil || !strings.Contains(o.serverErr.Error(), "certificate") {
		t.Fatalf("client without certificate: server %v, client %v", o.serverErr, o.clientErr)
	}

	// Re-issued with -force: the new certificate works, the old one is revoked.
	oldCfg := clientConfig(t, dir, "block-a-2", clk)
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-2", "-force")
	o = handshake(t, srv, oldCfg)
	if !errors.Is(o.serverErr, tlsconf.ErrRevoked) {
		t.Fatalf("replaced certificate: server %v", o.serverErr)
	}
	o = handshake(t, srv, clientConfig(t, dir, "block-a-2", clk))
	if o.serverErr != nil || o.clientErr != nil {
		t.Fatalf("re-issued appliance: server %v, client %v", o.serverErr, o.clientErr)
	}
}

// clientConfigTrusting uses appliance id of dir but trusts trustDir's CA
// (so that the client side accepts the server and only the server judges).
func clientConfigTrusting(t *testing.T, dir, id, trustDir string, clk clock.Clock) *tls.Config {
	cfg := clientConfig(t, dir, id, clk)
	cas, err := tlsconf.LoadCAs(filepath.Join(trustDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = x509.NewCertPool()
	cfg.RootCAs.AddCert(cas[0])
	return cfg
}

func TestApplianceIDsRefused(t *testing.T) {
	dir, clk := provisioned(t)
	for _, id := range []string{"block/#", "block+1", "#", "+", "a b", "ünï", strings.Repeat("x", 65), "a/b"} {
		code, _, errs := cli(t, clk, "appliance", "-dir", dir, "-id", id)
		if code != 1 || !strings.Contains(errs, "bad appliance id") {
			t.Errorf("id %q: exit %d, %q", id, code, errs)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "appliances"))
	if len(ents) != 0 {
		t.Fatalf("refused ids left %d entries in appliances/", len(ents))
	}
	if _, err := (&PKI{Dir: dir, Clock: clk}).IssueAppliance("x/#", false); !errors.Is(err, ErrBadID) {
		t.Fatalf("IssueAppliance: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	dir, clk := provisioned(t, "block-a-1")
	certBefore := mustRead(t, filepath.Join(dir, "appliances", "block-a-1", "client.pem"))

	code, _, errs := cli(t, clk, "appliance", "-dir", dir, "-id", "block-a-1")
	if code != 1 || !strings.Contains(errs, "-force") {
		t.Fatalf("re-issue without -force: exit %d, %q", code, errs)
	}
	if !bytes.Equal(certBefore, mustRead(t, filepath.Join(dir, "appliances", "block-a-1", "client.pem"))) {
		t.Fatal("refused re-issue changed the certificate")
	}
	code, _, errs = cli(t, clk, "init", "-dir", dir)
	if code != 1 || !strings.Contains(errs, "holds a CA") {
		t.Fatalf("second init: exit %d, %q", code, errs)
	}
	code, _, errs = cli(t, clk, "revoke", "-dir", dir, "-id", "block-z-9")
	if code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("revoke unknown: exit %d, %q", code, errs)
	}
	empty := t.TempDir()
	for _, args := range [][]string{{"appliance", "-id", "x"}, {"revoke", "-id", "x"}, {"list"}} {
		code, _, errs = cli(t, clk, append(args, "-dir", empty)...)
		if code != 1 || !strings.Contains(errs, "init") {
			t.Errorf("%v without a CA: exit %d, %q", args, code, errs)
		}
	}
	code, _, errs = cli(t, clk, "init", "-dir", t.TempDir()+"/p", "-host", "bad_name!")
	if code != 1 || !strings.Contains(errs, "bad_name!") {
		t.Fatalf("bad host: exit %d, %q", code, errs)
	}
	// Revoking twice is harmless and says so.
	mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-a-1")
	if out := mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-a-1"); !strings.Contains(out, "already revoked") {
		t.Fatalf("second revoke: %q", out)
	}
}

func TestUsage(t *testing.T) {
	clk := clock.NewFake(start)
	code, out, _ := cli(t, clk, "-h")
	if code != 0 || !strings.Contains(out, "Typical use") || !strings.Contains(out, "appliance -id") {
		t.Fatalf("-h: exit %d\n%s", code, out)
	}
	if code, _, errs := cli(t, clk); code != 2 || !strings.Contains(errs, "usage") {
		t.Fatalf("no command: exit %d %q", code, errs)
	}
	if code, _, errs := cli(t, clk, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: exit %d %q", code, errs)
	}
	if code, _, errs := cli(t, clk, "appliance", "-dir", t.TempDir()); code != 2 || !strings.Contains(errs, "-id is required") {
		t.Fatalf("appliance without -id: exit %d %q", code, errs)
	}
	if code, _, errs := cli(t, clk, "revoke", "-h"); code != 0 || !strings.Contains(errs, "-id") {
		t.Fatalf("revoke -h: exit %d %q", code, errs)
	}
}

func TestList(t *testing.T) {
	dir, clk := provisioned(t, "block-a-1", "block-b-1", "block-c-1")
	mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-b-1")
	rows, number, err := (&PKI{Dir: dir, Clock: clk}).List()
	if err != nil {
		t.Fatal(err)
	}
	if number.Int64() != 2 || len(rows) != 3 {
		t.Fatalf("CRL number %s, %d rows", number, len(rows))
	}
	want := map[string]bool{"block-a-1": false, "block-b-1": true, "block-c-1": false}
	for _, r := range rows {
		if r.Err != nil || r.Revoked != want[r.ID] || r.Expired || len(r.EventKey) != 16 {
			t.Errorf("row %+v", r)
		}
	}
	out := mustCLI(t, clk, "list", "-dir", dir)
	for _, s := range []string{"block-a-1", "revoked", "valid", serialHex(rows[1].Serial), "revocation list number 2"} {
		if !strings.Contains(out, s) {
			t.Errorf("list output lacks %q:\n%s", s, out)
		}
	}
	clk.Advance(3 * 365 * 24 * time.Hour)
	if out := mustCLI(t, clk, "list", "-dir", dir); strings.Count(out, "expired") != 2 {
		t.Errorf("after 3 years, want 2 expired (and 1 revoked):\n%s", out)
	}
}

// TestOpenSSLAgrees checks the files with an independent implementation:
// the chain and the CRL as OpenSSL (and so Mosquitto) reads them.
func TestOpenSSLAgrees(t *testing.T) {
	bin := testkit.NeedPeer(t, "openssl", "openssl")
	// OpenSSL checks against the wall clock.
	dir := filepath.Join(t.TempDir(), "pki")
	clk := clock.Real{}
	mustCLI(t, clk, "init", "-dir", dir)
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-1")
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-2")
	mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-a-1")
	verify := func(id string) (string, error) {
		out, err := exec.Command(bin, "verify", "-CAfile", filepath.Join(dir, "ca.pem"), "-crl_check",
			"-CRLfile", filepath.Join(dir, "crl.pem"), "-purpose", "sslclient",
			filepath.Join(dir, "appliances", id, "client.pem")).CombinedOutput()
		return string(out), err
	}
	if out, err := verify("block-a-2"); err != nil {
		t.Fatalf("openssl rejects a valid appliance: %v\n%s", err, out)
	}
	if out, err := verify("block-a-1"); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("openssl accepts a revoked appliance: %v\n%s", err, out)
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

// Each appliance gets its own recording key (the appliance's
// recording.key_file): 32 bytes, mode 0600, loadable by the appliance. A
// re-issue with -force keeps it, since recordings on the appliance are
// sealed with it; one that is broken is refused, not silently replaced.
func TestRecordingKey(t *testing.T) {
	dir, clk := provisioned(t, "block-a-1", "block-b-1")
	keyA := filepath.Join(dir, "appliances", "block-a-1", "recording.key")
	keyB := filepath.Join(dir, "appliances", "block-b-1", "recording.key")
	for _, k := range []string{keyA, keyB} {
		st, err := os.Stat(k)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 || st.Size() != recstore.KeySize {
			t.Fatalf("%s: mode %#o, %d bytes; want 0600, %d", k, st.Mode().Perm(), st.Size(), recstore.KeySize)
		}
		if _, err := recstore.LoadKey(k); err != nil {
			t.Fatalf("the appliance cannot load %s: %v", k, err)
		}
	}
	rawA := mustRead(t, keyA)
	if bytes.Equal(rawA, mustRead(t, keyB)) {
		t.Fatal("two appliances share a recording key")
	}
	if bytes.Equal(rawA, make([]byte, recstore.KeySize)) {
		t.Fatal("recording key is all zeros")
	}

	certBefore := mustRead(t, filepath.Join(dir, "appliances", "block-a-1", "client.pem"))
	out := mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-1", "-force")
	if !strings.Contains(out, "recording.key") {
		t.Errorf("appliance output does not mention recording.key: %q", out)
	}
	if bytes.Equal(certBefore, mustRead(t, filepath.Join(dir, "appliances", "block-a-1", "client.pem"))) {
		t.Fatal("-force did not re-issue the certificate")
	}
	if !bytes.Equal(rawA, mustRead(t, keyA)) {
		t.Fatal("-force replaced the recording key: recordings sealed with the old one would be unreadable")
	}

	// A recording key that is the wrong size stops -force, bundle untouched.
	if err := os.WriteFile(keyA, rawA[:16], 0o600); err != nil {
		t.Fatal(err)
	}
	certBefore = mustRead(t, filepath.Join(dir, "appliances", "block-a-1", "client.pem"))
	code, _, errs := cli(t, clk, "appliance", "-dir", dir, "-id", "block-a-1", "-force")
	if code != 1 || !strings.Contains(errs, "recording.key") || !strings.Contains(errs, "want exactly 32") {
		t.Fatalf("-force over a broken recording key: exit %d, %q", code, errs)
	}
	if !bytes.Equal(certBefore, mustRead(t, filepath.Join(dir, "appliances", "block-a-1", "client.pem"))) {
		t.Fatal("refused -force changed the certificate")
	}

	// Removed (no recording sealed with it remains): -force makes a new one.
	if err := os.Remove(keyA); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-1", "-force")
	if k, err := recstore.LoadKey(keyA); err != nil || k.IsZero() {
		t.Fatalf("new recording key after removal: %v", err)
	}
	if bytes.Equal(rawA, mustRead(t, keyA)) {
		t.Fatal("a removed recording key came back")
	}
}

// TestServerReissueSharesOldPKI: a PKI made before the permissions model
// (DIR and DIR/central 0700, under a umask of 077) gets its shared
// directories and a 0640 server key when central's certificate is
// re-issued.
func TestServerReissueSharesOldPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	clk := clock.Real{}
	mustCLI(t, clk, "init", "-dir", dir, "-host", "127.0.0.1")
	for _, d := range []string{dir, filepath.Join(dir, "central")} {
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "central", "server.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o077)
	mustCLI(t, clk, "server", "-dir", dir, "-host", "127.0.0.1,central.example")
	syscall.Umask(old)
	for k, want := range map[string]os.FileMode{".": 0o750, "central": 0o750, "central/server.key": 0o640, "central/policy.key": 0o600, "ca.key": 0o600} {
		st, err := os.Stat(filepath.Join(dir, k))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", k, st.Mode().Perm(), want)
		}
	}
}
