// Package config is the appliance's configuration file: a documented struct
// with defaults, loaded from YAML. The annotated example lives beside the
// binary (appliance/cmd/kinline-appliance/example.yaml) and is parsed by the
// tests, so it cannot drift from the code.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kinline/kinline/shared/wire"
)

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole appliance configuration.
type Config struct {
	// ApplianceID names this appliance to central (and is its MQTT client id).
	ApplianceID string `yaml:"appliance_id"`
	// DataDir holds the bbolt store (state.db) and local recordings.
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Board names the board definition (see board/): rpi4, generic-gpiochip, sim.
	Board string `yaml:"board"`
	// TapWindow is how long a card tap authorizes a call on its terminal.
	TapWindow time.Duration `yaml:"tap_window"`
	// PanelControl is the unix socket through which the simulated board's
	// officer panel can be driven (press confirm/cancel, tap an officer
	// card; see kinline-panelsim). Only with board "sim"; "" serves none.
	// A relative path is taken relative to the config file's directory.
	PanelControl string   `yaml:"panel_control"`
	Sync         Sync     `yaml:"sync"`
	SIP          SIP      `yaml:"sip"`
	Readers      []Reader `yaml:"readers"`
}

// Sync is the MQTT connection to central.
type Sync struct {
	Broker   string `yaml:"broker"` // tcp://host:1883 or ssl://host:8883
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// SIP is the registrar/B2BUA side.
type SIP struct {
	Listen     string     `yaml:"listen"`   // UDP address the IAD registers to
	Realm      string     `yaml:"realm"`    // digest realm
	MediaIP    string     `yaml:"media_ip"` // address put in SDP and bound for RTP
	RTPPortMin int        `yaml:"rtp_port_min"`
	RTPPortMax int        `yaml:"rtp_port_max"`
	Trunk      Trunk      `yaml:"trunk"`
	Terminals  []Terminal `yaml:"terminals"`
}

// Trunk is where allowed calls are placed.
type Trunk struct {
	Address string `yaml:"address"` // host:port of the SIP trunk / softswitch (UDP)
	Domain  string `yaml:"domain"`  // host part of the Request-URI; default: Address's host
}

// Terminal is one IAD port (one phone) and its SIP credentials.
type Terminal struct {
	ID       string `yaml:"id"`
	SIPUser  string `yaml:"sip_user"`
	Password string `yaml:"password"`
}

// Reader roles.
const (
	RoleTerminal = "terminal" // a person's reader beside a phone (the default)
	RoleOfficer  = "officer"  // the officer panel's reader: its taps confirm calls
)

// Reader is one IC-card reader: bound to a terminal, or (role officer) the
// officer panel's reader.
type Reader struct {
	Name     string `yaml:"name"`
	Role     string `yaml:"role"`     // terminal (default) or officer
	Terminal string `yaml:"terminal"` // required for role terminal; none for officer
	Device   string `yaml:"device"`
	Driver   string `yaml:"driver"` // pn532 or em4100
	Baud     int    `yaml:"baud"`   // 0: the driver's default
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/kinline"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Board == "" {
		c.Board = "sim"
	}
	if c.TapWindow == 0 {
		c.TapWindow = 60 * time.Second
	}
	if c.Sync.Username == "" {
		c.Sync.Username = c.ApplianceID
	}
	if c.SIP.Listen == "" {
		c.SIP.Listen = "127.0.0.1:5060"
	}
	if c.SIP.Realm == "" {
		c.SIP.Realm = "kinline"
	}
	if c.SIP.MediaIP == "" {
		c.SIP.MediaIP = "127.0.0.1"
	}
	if c.SIP.RTPPortMin == 0 {
		c.SIP.RTPPortMin = 20000
	}
	if c.SIP.RTPPortMax == 0 {
		c.SIP.RTPPortMax = 29998
	}
	for i := range c.Readers {
		if c.Readers[i].Driver == "" {
			c.Readers[i].Driver = "pn532"
		}
		if c.Readers[i].Role == "" {
			c.Readers[i].Role = RoleTerminal
		}
	}
}

// Validate reports the first problem, wrapped in ErrInvalid.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	if err := wire.ValidApplianceID(c.ApplianceID); err != nil {
		return bad("appliance_id: %v", err)
	}
	if c.Sync.Broker == "" {
		return bad("sync.broker is required (e.g. tcp://central:1883)")
	}
	if c.SIP.Trunk.Address == "" {
		return bad("sip.trunk.address is required")
	}
	if c.SIP.RTPPortMin <= 0 || c.SIP.RTPPortMax <= c.SIP.RTPPortMin || c.SIP.RTPPortMax > 65535 {
		return bad("sip.rtp_port_min/max: bad range %d-%d", c.SIP.RTPPortMin, c.SIP.RTPPortMax)
	}
	terms := map[string]bool{}
	users := map[string]bool{}
	for _, t := range c.SIP.Terminals {
		if t.ID == "" || t.SIPUser == "" || t.Password == "" {
			return bad("sip.terminals: every terminal needs id, sip_user and password")
		}
		if terms[t.ID] || users[t.SIPUser] {
			return bad("sip.terminals: duplicate id or sip_user %q", t.ID)
		}
		terms[t.ID], users[t.SIPUser] = true, true
	}
	if len(terms) == 0 {
		return bad("sip.terminals: at least one terminal is required")
	}
	names := map[string]bool{}
	officers := 0
	for _, r := range c.Readers {
		if r.Name == "" || r.Device == "" {
			return bad("readers: every reader needs name and device")
		}
		if names[r.Name] {
			return bad("readers: duplicate name %q", r.Name)
		}
		names[r.Name] = true
		switch r.Role {
		case RoleTerminal:
			if !terms[r.Terminal] {
				return bad("readers: reader %q is bound to unknown terminal %q", r.Name, r.Terminal)
			}
		case RoleOfficer:
			if r.Terminal != "" {
				return bad("readers: officer reader %q must not name a terminal (it serves the whole panel)", r.Name)
			}
			if officers++; officers > 1 {
				return bad("readers: more than one officer reader (%q)", r.Name)
			}
		default:
			return bad("readers: reader %q: unknown role %q (terminal, officer)", r.Name, r.Role)
		}
		if r.Driver != "pn532" && r.Driver != "em4100" {
			return bad("readers: reader %q: unknown driver %q (pn532, em4100)", r.Name, r.Driver)
		}
	}
	if c.PanelControl != "" && c.Board != "sim" {
		return bad("panel_control: only the simulated board (board: sim) has a control socket, not %q", c.Board)
	}
	return nil
}

// OfficerReader returns the reader with role officer, if any.
func (c *Config) OfficerReader() (Reader, bool) {
	for _, r := range c.Readers {
		if r.Role == RoleOfficer {
			return r, true
		}
	}
	return Reader{}, false
}

// Parse decodes YAML, refusing unknown keys, then applies defaults and
// validates.
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

// Load reads and parses a config file. Relative data_dir and panel_control
// paths are taken relative to the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(filepath.Dir(path), c.DataDir)
	}
	if c.PanelControl != "" && !filepath.IsAbs(c.PanelControl) {
		c.PanelControl = filepath.Join(filepath.Dir(path), c.PanelControl)
	}
	return c, nil
}
