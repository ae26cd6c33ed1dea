package config

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
)

// makePKI runs the real kinline-provision: init, then an appliance per id.
func makePKI(t *testing.T, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	run := func(args ...string) {
		cmd := exec.Command("go", append([]string{"run", "../../tools/provision"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kinline-provision %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-dir", pki, "-host", "127.0.0.1")
	for _, id := range ids {
		run("appliance", "-dir", pki, "-id", id)
	}
	return pki
}

const tlsBase = "appliance_id: a1\nsip: {trunk: {address: 'x:1'}, terminals: [{id: t1, sip_user: u, password: p}]}\n"

func TestSyncTLSValidation(t *testing.T) {
	for name, doc := range map[string]string{
		"tls with tcp broker": tlsBase + "sync: {broker: 'tcp://x:1', tls: {ca: c, cert: c, key: k}}\n",
		"ssl broker, no tls":  tlsBase + "sync: {broker: 'ssl://x:8883'}\n",
		"tls without key":     tlsBase + "sync: {broker: 'ssl://x:8883', tls: {ca: c, cert: c}}\n",
		"tls unknown field":   tlsBase + "sync: {broker: 'ssl://x:8883', tls: {ca: c, cert: c, key: k, pass: x}}\n",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	c, err := Parse([]byte(tlsBase + "sync: {broker: 'MQTTS://x:8883', tls: {ca: c, cert: c, key: k}, signing_key: e, policy_key: p}\n"))
	if err != nil {
		t.Fatalf("complete TLS config: %v", err)
	}
	if c.Sync.TLS.Key != "k" || c.Sync.SigningKey != "e" || c.Sync.PolicyKey != "p" {
		t.Fatalf("parsed %+v", c.Sync)
	}
}

// TestLoadTLSFiles loads a config naming kinline-provision's files by
// relative paths and checks every way they can be unusable.
func TestLoadTLSFiles(t *testing.T) {
	pki := makePKI(t, "a1", "a2")
	dir := filepath.Dir(pki)
	doc := tlsBase + `sync:
  broker: ssl://central:8883
  tls: {ca: pki/appliances/a1/ca.pem, cert: pki/appliances/a1/client.pem, key: pki/appliances/a1/client.key}
  signing_key: pki/appliances/a1/event.key
  policy_key: pki/appliances/a1/policy.pub
`
	path := filepath.Join(dir, "appliance.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(doc)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	a1 := filepath.Join(pki, "appliances", "a1")
	if c.Sync.TLS.CA != filepath.Join(a1, "ca.pem") || c.Sync.SigningKey != filepath.Join(a1, "event.key") || c.Sync.PolicyKey != filepath.Join(a1, "policy.pub") {
		t.Fatalf("paths not made relative to the file: %+v %+v", c.Sync, *c.Sync.TLS)
	}
	tc, err := c.Sync.ClientTLS(nil)
	if err != nil || tc == nil || len(tc.Certificates) != 1 || tc.ServerName != tlsconf.DefaultServerName {
		t.Fatalf("ClientTLS: %v %+v", err, tc)
	}
	priv, err := c.Sync.LoadSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.LoadPublicKey(filepath.Join(a1, "event.pub"))
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("signing key is not event.key: %v", err)
	}
	if k, err := c.Sync.LoadPolicyKey(); err != nil || len(k) != 32 {
		t.Fatalf("policy key: %v", err)
	}

	// Without sync.tls and keys nothing is loaded.
	var none Sync
	if tc, err := none.ClientTLS(nil); tc != nil || err != nil {
		t.Fatalf("no tls: %v %v", tc, err)
	}
	if k, err := none.LoadSigningKey(); k != nil || err != nil {
		t.Fatalf("no signing key: %v %v", k, err)
	}

	for name, tc := range map[string]struct {
		doc   string
		prep  func()
		undo  func()
		inErr string
		is    error
	}{
		"missing signing key": {doc: strings.Replace(doc, "a1/event.key", "a1/nope.key", 1), inErr: "sync.signing_key"},
		"missing ca":          {doc: strings.Replace(doc, "a1/ca.pem", "a1/nope.pem", 1), inErr: "sync.tls", is: tlsconf.ErrConfig},
		"public key as signing key": {
			doc: strings.Replace(doc, "a1/event.key", "a1/event.pub", 1), inErr: "sync.signing_key", is: sign.ErrKeyPermissions},
		"private key as policy key": {
			doc: strings.Replace(doc, "a1/policy.pub", "a1/event.key", 1), inErr: "sync.policy_key", is: sign.ErrKey},
		"another appliance's certificate": {
			doc: strings.Replace(strings.Replace(doc, "a1/client.pem", "a2/client.pem", 1), "a1/client.key", "a2/client.key", 1), inErr: `appliance "a2"'s certificate`},
		"loose signing key": {doc: doc, inErr: "0600",
			prep: func() { os.Chmod(filepath.Join(a1, "event.key"), 0o644) },
			undo: func() { os.Chmod(filepath.Join(a1, "event.key"), 0o600) },
			is:   sign.ErrKeyPermissions},
		"loose TLS key": {doc: doc, inErr: "0600",
			// 0640 is allowed (a group sharing a key: shared/tlsconf); a
			// key everyone may read is not.
			prep: func() { os.Chmod(filepath.Join(a1, "client.key"), 0o644) },
			undo: func() { os.Chmod(filepath.Join(a1, "client.key"), 0o600) },
			is:   tlsconf.ErrConfig},
	} {
		write(tc.doc)
		if tc.prep != nil {
			tc.prep()
		}
		_, err := Load(path)
		if tc.undo != nil {
			tc.undo()
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.inErr) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: err = %v, want ErrInvalid mentioning %q (and %v)", name, err, tc.inErr, tc.is)
		}
	}
}
