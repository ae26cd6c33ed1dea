// Package brokertest holds test helpers for the sync packages' transport
// security: a PKI made by the real kinline-provision tool (built once per
// test process from tools/provision) in a temporary directory, and a real
// Mosquitto started from the documented example configuration in
// central/broker.
//
// A test package that uses NewPKI should call Cleanup from its TestMain, so
// that the provisioning binary built for it is removed:
//
//	func TestMain(m *testing.M) { code := m.Run(); brokertest.Cleanup(); os.Exit(code) }
package brokertest

import (
	"crypto/ed25519"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
)

// provisionPkg is the import path of kinline-provision.
const provisionPkg = "github.com/kinline/kinline/tools/provision"

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// provisionBinary builds kinline-provision once per process.
func provisionBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		buildDir, buildErr = os.MkdirTemp("", "kinline-provision-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "kinline-provision")
		cmd := exec.Command(goBin, "build", "-o", buildBin, provisionPkg)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building kinline-provision: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

// Cleanup removes the kinline-provision binary built for this process.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// PKI is a provisioning directory made by kinline-provision, with the CA,
// central's server certificate (valid for 127.0.0.1 and the name
// kinline-central) and policy key, and the appliances asked for.
type PKI struct {
	Dir string
	bin string
}

// NewPKI runs `kinline-provision init` in a temporary directory, then
// `kinline-provision appliance` for each id.
func NewPKI(t testing.TB, ids ...string) *PKI {
	t.Helper()
	p := &PKI{Dir: filepath.Join(t.TempDir(), "pki"), bin: provisionBinary(t)}
	p.run(t, "init", "-host", "127.0.0.1,localhost")
	for _, id := range ids {
		p.AddAppliance(t, id)
	}
	return p
}

func (p *PKI) run(t testing.TB, args ...string) string {
	t.Helper()
	full := append([]string{args[0], "-dir", p.Dir}, args[1:]...)
	out, err := exec.Command(p.bin, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("kinline-provision %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return string(out)
}

// AddAppliance issues an appliance's certificate and event key.
func (p *PKI) AddAppliance(t testing.TB, id string) { t.Helper(); p.run(t, "appliance", "-id", id) }

// Revoke adds the appliance's certificate to crl.pem.
func (p *PKI) Revoke(t testing.TB, id string) { t.Helper(); p.run(t, "revoke", "-id", id) }

// File paths under the directory.
func (p *PKI) CA() string         { return filepath.Join(p.Dir, "ca.pem") }
func (p *PKI) CRL() string        { return filepath.Join(p.Dir, "crl.pem") }
func (p *PKI) ServerCert() string { return filepath.Join(p.Dir, "central", "server.pem") }
func (p *PKI) ServerKey() string  { return filepath.Join(p.Dir, "central", "server.key") }
func (p *PKI) PolicyKeyFile() string {
	return filepath.Join(p.Dir, "central", "policy.key")
}
func (p *PKI) PolicyPubFile() string {
	return filepath.Join(p.Dir, "central", "policy.pub")
}
func (p *PKI) ClientCert(id string) string {
	return filepath.Join(p.Dir, "appliances", id, "client.pem")
}
func (p *PKI) ClientKey(id string) string {
	return filepath.Join(p.Dir, "appliances", id, "client.key")
}
func (p *PKI) EventKeyFile(id string) string {
	return filepath.Join(p.Dir, "appliances", id, "event.key")
}
func (p *PKI) EventPubFile(id string) string {
	return filepath.Join(p.Dir, "appliances", id, "event.pub")
}

// ApplianceTLS is the client TLS configuration appliance id dials with
// (tlsconf.NewClient on its files).
func (p *PKI) ApplianceTLS(t testing.TB, id string) *tls.Config {
	t.Helper()
	c, err := tlsconf.NewClient(tlsconf.ClientOptions{CertFile: p.ClientCert(id), KeyFile: p.ClientKey(id),
		CAFile: filepath.Join(p.Dir, "appliances", id, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CentralTLS is the client TLS configuration central dials a broker with:
// its server certificate, which also carries client-auth usage.
func (p *PKI) CentralTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := tlsconf.NewClient(tlsconf.ClientOptions{CertFile: p.ServerCert(), KeyFile: p.ServerKey(), CAFile: p.CA()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// EventKey loads appliance id's event-signing key.
func (p *PKI) EventKey(t testing.TB, id string) ed25519.PrivateKey {
	t.Helper()
	k, err := sign.LoadPrivateKey(p.EventKeyFile(id))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// EventPub loads appliance id's event public key.
func (p *PKI) EventPub(t testing.TB, id string) ed25519.PublicKey {
	t.Helper()
	k, err := sign.LoadPublicKey(p.EventPubFile(id))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// PolicyKey loads central's policy-signing key.
func (p *PKI) PolicyKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := sign.LoadPrivateKey(p.PolicyKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// PolicyPub loads central's policy public key (the appliances' copy).
func (p *PKI) PolicyPub(t testing.TB) ed25519.PublicKey {
	t.Helper()
	k, err := sign.LoadPublicKey(p.PolicyPubFile())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ApplianceKeys returns an ingest.Config.ApplianceKeys lookup over the
// event public keys of the given appliances.
func (p *PKI) ApplianceKeys(t testing.TB, ids ...string) func(string) (ed25519.PublicKey, bool) {
	t.Helper()
	m := make(map[string]ed25519.PublicKey, len(ids))
	for _, id := range ids {
		m[id] = p.EventPub(t, id)
	}
	return func(id string) (ed25519.PublicKey, bool) {
		k, ok := m[id]
		return k, ok
	}
}
