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
	pki := filepath.Join(t.TempDir(), "pki")
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

func TestExampleIsTLS(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-central/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.TLS == nil || c.MQTT.TLS.Listen != "0.0.0.0:8883" || c.MQTT.TLS.CRL == "" || c.PolicyKey == "" || c.ApplianceKeysDir == "" {
		t.Fatalf("example is not the production (TLS, signed) setup: %+v %+v", c.MQTT, c)
	}
	for _, a := range c.Appliances {
		if a.Password != "" {
			t.Errorf("example appliance %s has a password next to TLS", a.ID)
		}
	}
}

func TestTLSValidation(t *testing.T) {
	tlsOK := "mqtt: {tls: {ca: c, cert: c, key: k, crl: r}}\n"
	c, err := Parse([]byte(tlsOK + "appliances: [{id: a1, block: A}]"))
	if err != nil {
		t.Fatalf("TLS without appliance passwords: %v", err)
	}
	if c.MQTT.TLS.Listen != DefaultTLSListen {
		t.Errorf("tls.listen default %q", c.MQTT.TLS.Listen)
	}
	for name, doc := range map[string]string{
		"no password without tls":  "appliances: [{id: a1, block: A}]",
		"short password with tls":  tlsOK + "appliances: [{id: a1, block: A, password: short}]",
		"tls without crl":          "mqtt: {tls: {ca: c, cert: c, key: k}}",
		"tls without key":          "mqtt: {tls: {ca: c, cert: c, crl: r}}",
		"negative crl interval":    "mqtt: {tls: {ca: c, cert: c, key: k, crl: r, crl_check_interval: -1s}}",
		"external ssl without tls": "mqtt: {embedded: false, broker: 'ssl://m:8883'}",
		"external tls with tcp":    "mqtt: {embedded: false, broker: 'tcp://m:1883', tls: {ca: c, cert: c, key: k}}",
		"external tls with crl":    "mqtt: {embedded: false, broker: 'ssl://m:8883', tls: {ca: c, cert: c, key: k, crl: r}}",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Parse([]byte("mqtt: {embedded: false, broker: 'ssl://m:8883', tls: {ca: c, cert: c, key: k}}")); err != nil {
		t.Errorf("external broker over TLS: %v", err)
	}
	c = &Config{ApplianceKeysDir: "/k"}
	for id, want := range map[string]string{"a1": "/k/a1/event.pub", "..": "", ".": "", "a/b": "", "": ""} {
		if got := c.ApplianceKeyFile(id); got != want {
			t.Errorf("ApplianceKeyFile(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestLoadTLSFiles loads a config naming kinline-provision's files by
// relative paths and checks every way they can be unusable.
func TestLoadTLSFiles(t *testing.T) {
	pki := makePKI(t, "a1")
	dir := filepath.Dir(pki)
	// kinline-provision shares central's server key with the broker's
	// group (0640): central accepts it as it is.
	if st, err := os.Stat(filepath.Join(pki, "central", "server.key")); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o640 {
		t.Fatalf("provisioned server.key has mode %#o, want 0640", st.Mode().Perm())
	}
	doc := `mqtt:
  listen: 127.0.0.1:0
  tls: {listen: 127.0.0.1:0, ca: pki/ca.pem, cert: pki/central/server.pem, key: pki/central/server.key, crl: pki/crl.pem}
policy_key: pki/central/policy.key
appliance_keys_dir: pki/appliances
appliances: [{id: a1, block: A}]
`
	path := filepath.Join(dir, "central.yaml")
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
	if c.MQTT.TLS.CRL != filepath.Join(pki, "crl.pem") || c.PolicyKey != filepath.Join(pki, "central", "policy.key") || c.ApplianceKeysDir != filepath.Join(pki, "appliances") {
		t.Fatalf("paths not made relative to the file: %+v %+v", c, *c.MQTT.TLS)
	}
	priv, err := c.LoadPolicyKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.LoadPublicKey(filepath.Join(pki, "central", "policy.pub"))
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("policy key is not policy.pub's: %v", err)
	}
	if k, err := sign.LoadPublicKey(c.ApplianceKeyFile("a1")); err != nil || len(k) != 32 {
		t.Fatalf("a1's event key: %v", err)
	}

	for name, tc := range map[string]struct {
		doc        string
		prep, undo func()
		inErr      string
		is         error
	}{
		"unprovisioned appliance": {doc: strings.Replace(doc, "[{id: a1, block: A}]", "[{id: a1, block: A}, {id: a9, block: A}]", 1), inErr: `appliance "a9"`},
		"keys dir missing":        {doc: strings.Replace(doc, "pki/appliances", "pki/nope", 1), inErr: "appliance_keys_dir"},
		"missing crl":             {doc: strings.Replace(doc, "pki/crl.pem", "pki/nope.pem", 1), inErr: "mqtt.tls", is: tlsconf.ErrCRL},
		"missing policy key":      {doc: strings.Replace(doc, "central/policy.key", "central/nope.key", 1), inErr: "policy_key", is: sign.ErrKey},
		"loose policy key": {doc: doc, inErr: "0600", is: sign.ErrKeyPermissions,
			prep: func() { os.Chmod(filepath.Join(pki, "central", "policy.key"), 0o644) },
			undo: func() { os.Chmod(filepath.Join(pki, "central", "policy.key"), 0o600) }},
		"loose server key": {doc: doc, inErr: "0600", is: tlsconf.ErrConfig,
			prep: func() { os.Chmod(filepath.Join(pki, "central", "server.key"), 0o604) },
			undo: func() { os.Chmod(filepath.Join(pki, "central", "server.key"), 0o640) }},
		"world-readable server key": {doc: doc, inErr: "0640", is: tlsconf.ErrConfig,
			prep: func() { os.Chmod(filepath.Join(pki, "central", "server.key"), 0o644) },
			undo: func() { os.Chmod(filepath.Join(pki, "central", "server.key"), 0o640) }},
		"group-writable server key": {doc: doc, inErr: "0640", is: tlsconf.ErrConfig,
			prep: func() { os.Chmod(filepath.Join(pki, "central", "server.key"), 0o660) },
			undo: func() { os.Chmod(filepath.Join(pki, "central", "server.key"), 0o640) }},
		"group-readable policy key": {doc: doc, inErr: "0600", is: sign.ErrKeyPermissions,
			prep: func() { os.Chmod(filepath.Join(pki, "central", "policy.key"), 0o640) },
			undo: func() { os.Chmod(filepath.Join(pki, "central", "policy.key"), 0o600) }},
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
