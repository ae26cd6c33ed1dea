// Package config is central's configuration file: a documented struct with
// defaults, loaded from YAML. The annotated example lives beside the binary
// (central/cmd/kinline-central/example.yaml) and is parsed by the tests.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/kinline/kinline/shared/wire"
)

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole central configuration.
type Config struct {
	// HTTPListen is the web console and JSON API address.
	HTTPListen string `yaml:"http_listen"`
	// DataDir holds central.db (SQLite) and recordings/.
	DataDir string `yaml:"data_dir"`
	// AdminTokenFile receives a fresh admin API token on first start.
	AdminTokenFile string `yaml:"admin_token_file"`
	LogLevel       string `yaml:"log_level"`
	MQTT           MQTT   `yaml:"mqtt"`
	// Appliances central accepts, with the block each serves.
	Appliances []Appliance `yaml:"appliances"`
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
}

// Appliance is one block appliance's identity.
type Appliance struct {
	ID       string `yaml:"id"`
	Block    string `yaml:"block"`
	Password string `yaml:"password"` // its MQTT password (embedded broker)
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
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.MQTT.Listen == "" {
		c.MQTT.Listen = "127.0.0.1:1883"
	}
}

// Validate reports the first problem, wrapped in ErrInvalid.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	if !c.MQTT.IsEmbedded() && c.MQTT.Broker == "" {
		return bad("mqtt.broker is required when mqtt.embedded is false")
	}
	seen := map[string]bool{}
	for _, a := range c.Appliances {
		if err := wire.ValidApplianceID(a.ID); err != nil {
			return bad("appliances: %v", err)
		}
		if a.Block == "" {
			return bad("appliances: %q has no block", a.ID)
		}
		if c.MQTT.IsEmbedded() && len(a.Password) < 8 {
			return bad("appliances: %q needs a password of at least 8 characters", a.ID)
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
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and parses a config file; relative paths in it are taken
// relative to the file's directory.
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
	for _, p := range []*string{&c.DataDir, &c.AdminTokenFile} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return c, nil
}
