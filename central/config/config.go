// Package config is central's configuration file: a documented struct with
// defaults, loaded from YAML. The annotated example lives beside the binary
// (central/cmd/kinline-central/example.yaml) and is parsed by the tests.
package config

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/confload"
	"github.com/kinline/kinline/shared/logging"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
	"github.com/kinline/kinline/shared/wire"
)

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole central configuration.
type Config struct {
	// HTTPListen is the web console and JSON API address.
	HTTPListen string `yaml:"http_listen"`
	// DataDir holds central.db (SQLite, unless Database says otherwise)
	// and recordings/.
	DataDir string `yaml:"data_dir"`
	// Database is where central keeps its state: SQLite by default,
	// PostgreSQL for large sites.
	Database Database `yaml:"database"`
	// AdminTokenFile receives a fresh admin API token on first start.
	AdminTokenFile string `yaml:"admin_token_file"`
	LogLevel       string `yaml:"log_level"`
	// LogFormat is text (default) or json; the -log-format flag overrides
	// it.
	LogFormat string `yaml:"log_format"`
	// MetricsListen serves /metrics, /healthz and /readyz (shared/health)
	// apart from the console; "" serves none.
	MetricsListen string `yaml:"metrics_listen"`
	MQTT          MQTT   `yaml:"mqtt"`
	// PolicyKey is central's ed25519 policy-signing key
	// (pki/central/policy.key, mode 0600): every policy published is signed
	// with it. "" publishes unsigned policies (development only).
	PolicyKey string `yaml:"policy_key"`
	// ApplianceKeysDir is kinline-provision's pki/appliances directory:
	// <dir>/<id>/event.pub is appliance <id>'s event public key, and every
	// batch must be signed with it. "" accepts unsigned batches
	// (development only).
	ApplianceKeysDir string `yaml:"appliance_keys_dir"`
	// Appliances lists appliances to enrol at first start, with the block
	// each serves (an upgrade from when this file was the list): each id
	// central does not know yet is enrolled once; from then on appliances
	// are enrolled, moved and retired in the console (Appliances) or the
	// API, and this list changes nothing for them. Password stays read
	// from here (the embedded broker's plain listener).
	Appliances []Appliance `yaml:"appliances"`
	// RecordingsKey is the file of the key that seals recordings at rest
	// (32 raw bytes, mode 0600; default <data_dir>/recordings.key),
	// written at first start. It is not in backups: keep a copy apart.
	RecordingsKey string `yaml:"recordings_key"`
	// BackupDir receives the copy of the SQLite database taken before a
	// schema migration (default <data_dir>/backups).
	BackupDir string `yaml:"backup_dir"`
	// ApplianceUnseenAfter is how long an enrolled appliance may go
	// unheard before central raises the appliance_unseen alarm (default
	// 15m, at least 1m).
	ApplianceUnseenAfter time.Duration `yaml:"appliance_unseen_after"`
	// Console configures the web console's sessions (console.go).
	Console Console `yaml:"console"`
}

// Database drivers (Database.Driver).
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Database says which database central's store uses.
type Database struct {
	// Driver is "sqlite" (the default: one file, nothing to run) or
	// "postgres" (for large sites, or several central replicas sharing
	// one database).
	Driver string `yaml:"driver"`
	// Path is the SQLite file (default <data_dir>/central.db). SQLite
	// only.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string, as a URL
	// (postgres://kinline@db.prison.local:5432/kinline?sslmode=verify-full)
	// or key=value pairs. Keep the password out of it: name a pgpass
	// file with passfile=/etc/kinline/pgpass (mode 0600). PostgreSQL only.
	DSN string `yaml:"dsn"`
}

// MQTT says which broker central uses.
type MQTT struct {
	// Embedded runs the built-in broker on Listen (the default).
	Embedded *bool  `yaml:"embedded"`
	Listen   string `yaml:"listen"`
	// Broker, Username, Password name an external broker (Mosquitto) when
	// Embedded is false.
	Broker   string `yaml:"broker"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS, with the embedded broker, adds its TLS listener on which
	// appliances are known by their client certificates (no password),
	// and revoked certificates are refused. The plain listener (Listen)
	// stays for central's own ingest client and for appliances that still
	// have a password; keep it on loopback. With an external broker, CA,
	// Cert and Key are central's client identity towards it (ssl:// URL);
	// Listen, CRL and CRLCheckInterval then do not apply.
	TLS *TLS `yaml:"tls"`
}

// TLS names the PEM files kinline-provision wrote.
type TLS struct {
	// Listen is the TLS listener's address (default 0.0.0.0:8883).
	Listen string `yaml:"listen"`
	CA     string `yaml:"ca"`   // pki/ca.pem
	Cert   string `yaml:"cert"` // pki/central/server.pem
	Key    string `yaml:"key"`  // pki/central/server.key (mode 0600)
	CRL    string `yaml:"crl"`  // pki/crl.pem, reread when it changes
	// CRLCheckInterval is how often live connections are checked against
	// the CRL (default 10s).
	CRLCheckInterval time.Duration `yaml:"crl_check_interval"`
}

// DefaultTLSListen is the TLS listener's default address.
const DefaultTLSListen = "0.0.0.0:8883"

// Appliance is one block appliance's identity.
type Appliance struct {
	ID    string `yaml:"id"`
	Block string `yaml:"block"`
	// Password is its MQTT password on the embedded broker's plain
	// listener. Required without mqtt.tls; with it, leave it empty so that
	// the appliance can only come in over TLS with its certificate.
	Password string `yaml:"password"`
}

// IsEmbedded reports whether the embedded broker runs.
func (m MQTT) IsEmbedded() bool { return m.Embedded == nil || *m.Embedded }

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.HTTPListen == "" {
		c.HTTPListen = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/kinline-central"
	}
	if c.AdminTokenFile == "" {
		c.AdminTokenFile = filepath.Join(c.DataDir, "admin-token")
	}
	if c.RecordingsKey == "" {
		c.RecordingsKey = filepath.Join(c.DataDir, "recordings.key")
	}
	if c.BackupDir == "" {
		c.BackupDir = filepath.Join(c.DataDir, "backups")
	}
	if c.Database.Driver == "" {
		c.Database.Driver = DriverSQLite
	}
	if c.Database.Driver == DriverSQLite && c.Database.Path == "" {
		c.Database.Path = filepath.Join(c.DataDir, "central.db")
	}
	if c.ApplianceUnseenAfter == 0 {
		c.ApplianceUnseenAfter = 15 * time.Minute
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.MQTT.Listen == "" {
		c.MQTT.Listen = "127.0.0.1:1883"
	}
	if t := c.MQTT.TLS; t != nil && c.MQTT.IsEmbedded() && t.Listen == "" {
		t.Listen = DefaultTLSListen
	}
}

// Validate reports the first problem, wrapped in ErrInvalid.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	if err := logging.ValidFormat(c.LogFormat); err != nil {
		return bad("log_format: %v", err)
	}
	if c.MetricsListen != "" && c.MetricsListen == c.HTTPListen {
		return bad("metrics_listen must differ from http_listen (the metrics are not the console's)")
	}
	switch d := c.Database; d.Driver {
	case DriverSQLite:
		if d.DSN != "" {
			return bad("database.dsn applies to driver postgres only (sqlite uses database.path)")
		}
	case DriverPostgres:
		if d.DSN == "" {
			return bad("database.dsn is required with driver postgres")
		}
		if d.Path != "" {
			return bad("database.path applies to driver sqlite only (postgres uses database.dsn)")
		}
	default:
		return bad("database.driver %q: want sqlite or postgres", d.Driver)
	}
	if !c.MQTT.IsEmbedded() && c.MQTT.Broker == "" {
		return bad("mqtt.broker is required when mqtt.embedded is false")
	}
	if err := c.Console.validate(); err != nil {
		return err
	}
	if t := c.MQTT.TLS; t != nil {
		if t.CA == "" || t.Cert == "" || t.Key == "" {
			return bad("mqtt.tls needs ca, cert and key (pki/ca.pem, pki/central/server.pem, server.key)")
		}
		if t.CRLCheckInterval < 0 {
			return bad("mqtt.tls.crl_check_interval must not be negative")
		}
		if c.MQTT.IsEmbedded() {
			if t.CRL == "" {
				return bad("mqtt.tls.crl is required with the embedded broker (pki/crl.pem)")
			}
		} else {
			if t.Listen != "" || t.CRL != "" || t.CRLCheckInterval != 0 {
				return bad("mqtt.tls.listen, crl and crl_check_interval apply to the embedded broker only (the external broker checks its own CRL)")
			}
			if !brokerIsTLS(c.MQTT.Broker) {
				return bad("mqtt.tls is set but mqtt.broker %q is not ssl://", c.MQTT.Broker)
			}
		}
	} else if !c.MQTT.IsEmbedded() && brokerIsTLS(c.MQTT.Broker) {
		return bad("mqtt.broker %q is ssl:// but mqtt.tls (ca, cert, key) is not set", c.MQTT.Broker)
	}
	if c.ApplianceUnseenAfter < time.Minute {
		return bad("appliance_unseen_after %s: at least 1m", c.ApplianceUnseenAfter)
	}
	seen := map[string]bool{}
	for _, a := range c.Appliances {
		if err := wire.ValidApplianceID(a.ID); err != nil {
			return bad("appliances: %v", err)
		}
		if a.Block == "" {
			return bad("appliances: %q has no block", a.ID)
		}
		switch {
		case c.MQTT.IsEmbedded() && c.MQTT.TLS == nil && len(a.Password) < 8:
			return bad("appliances: %q needs a password of at least 8 characters (or configure mqtt.tls)", a.ID)
		case a.Password != "" && len(a.Password) < 8:
			return bad("appliances: %q: a password must have at least 8 characters (with mqtt.tls leave it empty)", a.ID)
		}
		if seen[a.ID] {
			return bad("appliances: duplicate id %q", a.ID)
		}
		seen[a.ID] = true
	}
	return nil
}

// Parse decodes YAML, refusing unknown keys, then applies defaults and validates.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := confload.Decode(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and parses a config file; relative paths in it are taken
// relative to the file's directory. The TLS files and keys are read once
// (CheckFiles), so that a missing file, a bad key or a private key with
// loose permissions stops central at start with a clear error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.Dir(path)
	rel := []*string{&c.DataDir, &c.AdminTokenFile, &c.PolicyKey, &c.ApplianceKeysDir, &c.Database.Path, &c.RecordingsKey, &c.BackupDir}
	if t := c.MQTT.TLS; t != nil {
		rel = append(rel, &t.CA, &t.Cert, &t.Key, &t.CRL)
	}
	confload.Resolve(base, rel...)
	if err := c.CheckFiles(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func brokerIsTLS(url string) bool {
	scheme, _, ok := strings.Cut(url, "://")
	return ok && slices.Contains([]string{"ssl", "tls", "mqtts", "mqtt+ssl", "tcps"}, strings.ToLower(scheme))
}

// CheckFiles reads every TLS file and key the config names and reports the
// first that is unusable, wrapped in ErrInvalid: with appliance_keys_dir,
// every listed appliance must have its event.pub there, unless it has been
// revoked (kinline-provision revoke renames event.pub to event.pub.revoked):
// a revoked appliance must not stop central, whose ingest refuses its
// batches (see RevokedAppliances).
func (c *Config) CheckFiles() error {
	if t := c.MQTT.TLS; t != nil {
		var err error
		if c.MQTT.IsEmbedded() {
			_, _, err = tlsconf.NewServer(tlsconf.ServerOptions{CertFile: t.Cert, KeyFile: t.Key, CAFile: t.CA, CRLFile: t.CRL})
		} else {
			_, err = t.ClientTLS(nil)
		}
		if err != nil {
			return fmt.Errorf("%w: mqtt.tls: %w", ErrInvalid, err)
		}
	}
	if _, err := c.LoadPolicyKey(); err != nil {
		return err
	}
	if c.ApplianceKeysDir != "" {
		if st, err := os.Stat(c.ApplianceKeysDir); err != nil || !st.IsDir() {
			return fmt.Errorf("%w: appliance_keys_dir %s is not a directory (%v)", ErrInvalid, c.ApplianceKeysDir, err)
		}
		for _, a := range c.Appliances {
			if c.applianceRevoked(a.ID) {
				continue
			}
			if _, err := sign.LoadPublicKey(c.ApplianceKeyFile(a.ID)); err != nil {
				return fmt.Errorf("%w: appliance_keys_dir: appliance %q: %w (kinline-provision appliance -id %s)", ErrInvalid, a.ID, err, a.ID)
			}
		}
	}
	return nil
}

// RevokedAppliances lists the configured appliances whose event key has been
// retired by kinline-provision revoke (event.pub.revoked and no event.pub):
// central starts, refuses their batches and says so.
func (c *Config) RevokedAppliances() []string {
	var out []string
	for _, a := range c.Appliances {
		if c.applianceRevoked(a.ID) {
			out = append(out, a.ID)
		}
	}
	return out
}

func (c *Config) applianceRevoked(id string) bool {
	p := c.ApplianceKeyFile(id)
	if p == "" {
		return false
	}
	if _, err := os.Stat(p); err == nil {
		return false
	}
	_, err := os.Stat(p + ".revoked")
	return err == nil
}

// ClientTLS is central's client TLS configuration towards an external
// broker.
func (t *TLS) ClientTLS(clk clock.Clock) (*tls.Config, error) {
	return tlsconf.NewClient(tlsconf.ClientOptions{CAFile: t.CA, CertFile: t.Cert, KeyFile: t.Key, Clock: clk})
}

// LoadPolicyKey reads policy_key (nil when not set). shared/sign refuses a
// key file that other users may read.
func (c *Config) LoadPolicyKey() (ed25519.PrivateKey, error) {
	if c.PolicyKey == "" {
		return nil, nil
	}
	k, err := sign.LoadPrivateKey(c.PolicyKey)
	if err != nil {
		return nil, fmt.Errorf("%w: policy_key: %w", ErrInvalid, err)
	}
	return k, nil
}

// ApplianceKeyFile is where appliance id's event public key is:
// appliance_keys_dir/<id>/event.pub ("" without appliance_keys_dir or for
// an id that is not a valid appliance id or is "." or "..", which would
// name another path).
func (c *Config) ApplianceKeyFile(id string) string {
	if c.ApplianceKeysDir == "" || wire.ValidApplianceID(id) != nil || id == "." || id == ".." {
		return ""
	}
	return filepath.Join(c.ApplianceKeysDir, id, "event.pub")
}
