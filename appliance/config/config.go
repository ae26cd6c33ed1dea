// Package config is the appliance's configuration file: a documented struct
// with defaults, loaded from YAML. The annotated example lives beside the
// binary (appliance/cmd/kinline-appliance/example.yaml) and is parsed by the
// tests, so it cannot drift from the code.
package config

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kinline/kinline/appliance/callctl/trunks"
	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/confload"
	"github.com/kinline/kinline/shared/logging"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
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
	// LogFormat is text (default) or json; the -log-format flag overrides
	// it.
	LogFormat string `yaml:"log_format"`
	// Board names the board definition (see board/): rpi4, generic-gpiochip, sim.
	Board string `yaml:"board"`
	// TapWindow is how long a card tap stays valid on its terminal. A tap
	// serves one call (the first that uses it, whatever its outcome) and
	// ends with that call (appliance/authz).
	TapWindow time.Duration `yaml:"tap_window"`
	// PanelControl is the unix socket through which the simulated board's
	// officer panel can be driven (press confirm/cancel, tap an officer
	// card; see kinline-panelsim). Only with board "sim"; "" serves none.
	// A relative path is taken relative to the config file's directory.
	PanelControl string    `yaml:"panel_control"`
	Sync         Sync      `yaml:"sync"`
	SIP          SIP       `yaml:"sip"`
	Recording    Recording `yaml:"recording"`
	Readers      []Reader  `yaml:"readers"`
	Metrics      Metrics   `yaml:"metrics"`
}

// Metrics is the appliance's operational HTTP endpoint: /metrics
// (Prometheus), /healthz and /readyz (docs/decisions/0034).
type Metrics struct {
	// Listen is the TCP address (host:port) the endpoint is served on;
	// "" (the default) serves none. It has no authentication: bind it to
	// the management network's address or to loopback.
	Listen string `yaml:"listen"`
}

// Recording is how recordings are kept on the appliance until central has
// verified them.
type Recording struct {
	// KeyFile is the AES-256 key recordings are encrypted with at rest
	// (shared/recstore): exactly 32 raw bytes, mode 0600, the
	// recording.key kinline-provision writes beside the appliance's other
	// keys. When set, every recording is written as <call>.wav.enc or
	// <call>.ogg.enc and uploaded decrypted (central verifies the SHA-256
	// of the plaintext, which the call record carries). "" stores
	// recordings unencrypted (development only). Keep the same key while
	// recordings written with it are still on the appliance: a file
	// sealed with another key cannot be read, so it is never uploaded.
	KeyFile string `yaml:"key_file"`
	// Disk is the recordings disk guard (docs/decisions/0006-disk-full.md).
	Disk DiskGuard `yaml:"disk"`
}

// DiskGuard sets when the recordings directory's file system counts as
// low (an alarm) and full (an alarm, and calls that must be recorded are
// refused; privileged calls go through). Zero fields take the defaults.
type DiskGuard struct {
	// LowPercent: below this share of the file system free, the alarm
	// disk_low (default 10).
	LowPercent float64 `yaml:"low_percent"`
	// FullMiB: below this many MiB free, the alarm disk_full and recorded
	// calls are refused (default 256). Keep it above what the longest
	// call's recording needs: a call in progress keeps recording.
	FullMiB uint64 `yaml:"full_mib"`
	// CheckInterval is how often free space is read (default 30s).
	CheckInterval time.Duration `yaml:"check_interval"`
}

// Disk guard defaults (the same as appliance/diskwatch's).
const (
	DefaultDiskLowPercent    = 10
	DefaultDiskFullMiB       = 256
	DefaultDiskCheckInterval = 30 * time.Second
)

// LoadKey reads recording.key_file (the zero Key, meaning unencrypted,
// when it is not set). It fails when the file is missing, does not hold
// exactly 32 bytes, or its group or others may access it.
func (r Recording) LoadKey() (recstore.Key, error) {
	if r.KeyFile == "" {
		return recstore.Key{}, nil
	}
	k, err := recstore.LoadKey(r.KeyFile)
	if err != nil {
		return recstore.Key{}, fmt.Errorf("%w: recording.key_file: %w (kinline-provision appliance writes one: recording.key, 32 random bytes, mode 0600)", ErrInvalid, err)
	}
	return k, nil
}

// Sync is the MQTT connection to central.
//
// Production sets TLS, SigningKey and PolicyKey to the files
// kinline-provision wrote under pki/appliances/<id>/: the appliance is then
// known to the broker by its certificate (no password), central accepts
// only batches signed with its event key, and it applies only policies
// signed with central's policy key. Each is optional only so that a
// development setup without a PKI keeps working.
type Sync struct {
	Broker   string `yaml:"broker"` // tcp://host:1883 or ssl://host:8883
	Username string `yaml:"username"`
	// Password authenticates over plain TCP; over TLS the certificate does.
	Password string `yaml:"password"`
	// TLS is the appliance's client certificate and the CA; when set the
	// broker URL must be ssl:// (or tls://, mqtts://).
	TLS *SyncTLS `yaml:"tls"`
	// SigningKey is the appliance's ed25519 event key (event.key, mode
	// 0600): every batch sent to central is signed with it.
	SigningKey string `yaml:"signing_key"`
	// PolicyKey is central's policy public key (policy.pub): only policies
	// signed with it are applied.
	PolicyKey string `yaml:"policy_key"`
}

// SyncTLS names the PEM files of the appliance's TLS identity.
type SyncTLS struct {
	CA   string `yaml:"ca"`   // ca.pem: central's certificate must chain to it
	Cert string `yaml:"cert"` // client.pem: this appliance's certificate (CN = appliance_id)
	Key  string `yaml:"key"`  // client.key: its private key (mode 0600)
}

// tlsSchemes are the broker URL schemes that mean TLS (paho's list).
var tlsSchemes = []string{"ssl", "tls", "mqtts", "mqtt+ssl", "tcps"}

func brokerIsTLS(url string) bool {
	scheme, _, ok := strings.Cut(url, "://")
	return ok && slices.Contains(tlsSchemes, strings.ToLower(scheme))
}

// ClientTLS builds the TLS configuration the sync client dials the broker
// with (nil when sync.tls is not set). It reads the files, so it fails on
// a missing file, a key other users may read, or a certificate that does
// not name an appliance.
func (s Sync) ClientTLS(clk clock.Clock) (*tls.Config, error) {
	if s.TLS == nil {
		return nil, nil
	}
	tc, err := tlsconf.NewClient(tlsconf.ClientOptions{CAFile: s.TLS.CA, CertFile: s.TLS.Cert, KeyFile: s.TLS.Key, Clock: clk})
	if err != nil {
		return nil, fmt.Errorf("%w: sync.tls: %w", ErrInvalid, err)
	}
	return tc, nil
}

// LoadSigningKey reads sync.signing_key (nil when not set). shared/sign
// refuses a key file that others may read.
func (s Sync) LoadSigningKey() (ed25519.PrivateKey, error) {
	if s.SigningKey == "" {
		return nil, nil
	}
	k, err := sign.LoadPrivateKey(s.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("%w: sync.signing_key: %w", ErrInvalid, err)
	}
	return k, nil
}

// LoadPolicyKey reads sync.policy_key (nil when not set).
func (s Sync) LoadPolicyKey() (ed25519.PublicKey, error) {
	if s.PolicyKey == "" {
		return nil, nil
	}
	k, err := sign.LoadPublicKey(s.PolicyKey)
	if err != nil {
		return nil, fmt.Errorf("%w: sync.policy_key: %w", ErrInvalid, err)
	}
	return k, nil
}

// SIP is the registrar/B2BUA side.
type SIP struct {
	Listen string `yaml:"listen"` // UDP address the IAD registers to
	// TCP also accepts SIP over TCP on listen's address and port (RFC 3261
	// asks for UDP and TCP), for IADs configured for TCP. Default false;
	// trunk.transport tcp turns it on.
	TCP        bool       `yaml:"tcp"`
	Realm      string     `yaml:"realm"`    // digest realm
	MediaIP    string     `yaml:"media_ip"` // address put in SDP and bound for RTP
	RTPPortMin int        `yaml:"rtp_port_min"`
	RTPPortMax int        `yaml:"rtp_port_max"`
	Trunk      Trunk      `yaml:"trunk"` // the single trunk, or see Trunks
	Terminals  []Terminal `yaml:"terminals"`
	// Trunks are the SIP trunks of a site with several lines (carriers,
	// PSTN/E1 gateways, IMS access), and Routes choose among them by
	// number prefix and destination type, in priority order with failover
	// (appliance/callctl/trunks, docs/decisions/0021-trunk-failover.md).
	// Without routes, every call tries the trunks in the order listed.
	// The single Trunk is the trunk named "trunk" (unless it has a name)
	// with a catch-all route. Set trunk or trunks, not both.
	Trunks []Trunk `yaml:"trunks"`
	Routes []Route `yaml:"routes"`
	// FamilyAccept (default true): the called party hears who is calling
	// and that the call is recorded, and must press 1 to accept (9 blocks
	// this person); nothing is bridged or billed before acceptance. Set it
	// false only for trunks that cannot send DTMF (test equipment).
	FamilyAccept *bool `yaml:"family_accept"`
	// AcceptTimeout is how long the called party has to press a key (0: 20 s).
	AcceptTimeout time.Duration `yaml:"accept_timeout"`
	// SessionExpires is the RFC 4028 session interval the trunk INVITE
	// asks for, the appliance refreshing the session (0: 10 minutes; at
	// least 90 s; negative: no session timers). A trunk that supports
	// them ends a call nobody refreshes, such as one whose appliance
	// died, within this long.
	SessionExpires time.Duration `yaml:"session_expires"`
	// SpokenRefusals (default true): a refused caller hears the reason, in
	// their language, as early media before the 403.
	SpokenRefusals *bool `yaml:"spoken_refusals"`
	// HotlineNumber is the number an IAD port hotlines to on pick-up
	// (e.g. "100"): an INVITE to it runs the hotline IVR (card, PIN,
	// menu, number). "" (the default) disables the IVR; calls are then
	// dialled straight from the handset.
	HotlineNumber string `yaml:"hotline_number"`
	// RefusalFlood bounds what a flood of refused attempts from one port
	// writes to the outbox (docs/decisions/0025-refusal-floods.md).
	RefusalFlood RefusalFlood `yaml:"refusal_flood"`
}

// RefusalFlood is when a terminal's (IAD port's) refused call attempts
// stop being recorded one by one. While a terminal is refused more than
// PerSecond attempts within a second, its further refused attempts are
// counted instead of each written as a call record, and an alarm
// "refusals_suppressed" naming the terminal gives their count, the
// interval and the count by refusal reason, every Summary while the flood
// lasts and once when it ends (a second with at most PerSecond
// refusals). Allowed calls are always recorded, and below the threshold
// so is every refusal.
type RefusalFlood struct {
	// PerSecond is how many refused attempts a second one terminal may
	// have recorded one by one (0: 10; negative: no limit, every refusal
	// is recorded).
	PerSecond int `yaml:"per_second"`
	// Summary is how often a flooding terminal's summary alarm is
	// written (0: 10 s; at least 1 s).
	Summary time.Duration `yaml:"summary"`
}

// Default refusal flood limits (RefusalFlood's zero values).
const (
	DefaultRefusalsPerSecond = 10
	DefaultRefusalSummary    = 10 * time.Second
)

// Limit is the refused attempts a second recorded one by one; 0 means
// no limit.
func (r RefusalFlood) Limit() int {
	switch {
	case r.PerSecond < 0:
		return 0
	case r.PerSecond == 0:
		return DefaultRefusalsPerSecond
	}
	return r.PerSecond
}

// Interval is how often a flooding terminal's summary is written.
func (r RefusalFlood) Interval() time.Duration {
	if r.Summary <= 0 {
		return DefaultRefusalSummary
	}
	return r.Summary
}

// FamilyAcceptOn reports whether family acceptance is on (the default).
func (s SIP) FamilyAcceptOn() bool { return s.FamilyAccept == nil || *s.FamilyAccept }

// SpokenRefusalsOn reports whether refusals are spoken (the default).
func (s SIP) SpokenRefusalsOn() bool { return s.SpokenRefusals == nil || *s.SpokenRefusals }

// Trunk is a SIP trunk allowed calls are placed on.
type Trunk struct {
	// Name identifies the trunk in routes, logs and call records
	// (letters, digits, '.', '_', '-'). Required in trunks; the single
	// trunk defaults to "trunk".
	Name      string `yaml:"name"`
	Address   string `yaml:"address"`   // host:port of the SIP trunk / softswitch
	Domain    string `yaml:"domain"`    // host part of the Request-URI; default: Address's host
	Transport string `yaml:"transport"` // udp (default) or tcp
	// MaxCalls bounds the calls in progress on the trunk; further calls
	// go to the next trunk of their route. 0 (default): no limit.
	MaxCalls int `yaml:"max_calls"`
	// Timeout is how long the trunk has to ring (180/183) or answer when
	// the route has another trunk to try; it also bounds each keep-alive.
	// Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// KeepAlive is the interval of OPTIONS keep-alives; after DownAfter
	// (default 2) failures in a row the trunk is skipped until one is
	// answered. 0 (default): none, the trunk is always taken as up.
	KeepAlive time.Duration `yaml:"keepalive"`
	DownAfter int           `yaml:"down_after"`
}

// Route sends the calls it matches to its trunks, first to last.
type Route struct {
	// Prefix matches normalized numbers ("+44", "07", "+"); "" all.
	Prefix string `yaml:"prefix"`
	// Types matches the destination type of the rate the call is priced
	// at: local, national, mobile, international, custom. Empty: any.
	Types []string `yaml:"types"`
	// Trunks are trunk names in priority order.
	Trunks []string `yaml:"trunks"`
}

// TrunkConfig is call control's trunks and routes: the single trunk (named
// "trunk" unless named) with a catch-all route, or trunks and routes.
func (s SIP) TrunkConfig() trunks.Config {
	conv := func(t Trunk) trunks.Trunk {
		return trunks.Trunk{Name: t.Name, Address: t.Address, Domain: t.Domain, Transport: t.Transport,
			MaxCalls: t.MaxCalls, Timeout: t.Timeout, KeepAlive: t.KeepAlive, DownAfter: t.DownAfter}
	}
	var c trunks.Config
	if len(s.Trunks) == 0 {
		t := s.Trunk
		if t.Name == "" {
			t.Name = trunks.DefaultName
		}
		c.Trunks = []trunks.Trunk{conv(t)}
	}
	for _, t := range s.Trunks {
		c.Trunks = append(c.Trunks, conv(t))
	}
	for _, r := range s.Routes {
		c.Routes = append(c.Routes, trunks.Route{Prefix: r.Prefix, Types: r.Types, Trunks: r.Trunks})
	}
	return c.WithDefaults()
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
	// Device is the serial device; "" takes the board's default for the
	// reader's terminal (or the board's officer reader), see board/boards.
	Device string `yaml:"device"`
	Driver string `yaml:"driver"` // pn532 or em4100
	Baud   int    `yaml:"baud"`   // 0: the driver's default
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
	if c.Recording.Disk.LowPercent == 0 {
		c.Recording.Disk.LowPercent = DefaultDiskLowPercent
	}
	if c.Recording.Disk.FullMiB == 0 {
		c.Recording.Disk.FullMiB = DefaultDiskFullMiB
	}
	if c.Recording.Disk.CheckInterval == 0 {
		c.Recording.Disk.CheckInterval = DefaultDiskCheckInterval
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
	if err := wire.ValidApplianceID(c.ApplianceID); err != nil {
		return bad("appliance_id: %v", err)
	}
	if err := logging.ValidFormat(c.LogFormat); err != nil {
		return bad("log_format: %v", err)
	}
	for _, check := range []func() error{c.validSync, c.validSIP, c.validRecording, c.validMetrics} {
		if err := check(); err != nil {
			return err
		}
	}
	terms, err := c.validTerminals()
	if err != nil {
		return err
	}
	if err := c.validReaders(terms); err != nil {
		return err
	}
	if c.PanelControl != "" && c.Board != "sim" {
		return bad("panel_control: only the simulated board (board: sim) has a control socket, not %q", c.Board)
	}
	return nil
}

// bad is a Validate error: format and a, wrapped in ErrInvalid.
func bad(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// validMetrics checks metrics.listen is a host:port.
func (c *Config) validMetrics() error {
	if c.Metrics.Listen == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(c.Metrics.Listen); err != nil || port == "" {
		return bad("metrics.listen %q: want host:port, e.g. 10.20.0.5:9464 or 127.0.0.1:9464", c.Metrics.Listen)
	}
	return nil
}

// validSync checks the broker and its TLS.
func (c *Config) validSync() error {
	if c.Sync.Broker == "" {
		return bad("sync.broker is required (e.g. tcp://central:1883)")
	}
	if t := c.Sync.TLS; t != nil {
		if t.CA == "" || t.Cert == "" || t.Key == "" {
			return bad("sync.tls needs ca, cert and key (pki/appliances/%s/ca.pem, client.pem, client.key)", c.ApplianceID)
		}
		if !brokerIsTLS(c.Sync.Broker) {
			return bad("sync.tls is set but sync.broker %q is not ssl:// (e.g. ssl://central:8883)", c.Sync.Broker)
		}
	} else if brokerIsTLS(c.Sync.Broker) {
		return bad("sync.broker %q is ssl:// but sync.tls (ca, cert, key) is not set", c.Sync.Broker)
	}
	return nil
}

// validSIP checks the refusal flood summary, the trunk or trunks and
// their routes, the RTP ports and the hotline number.
func (c *Config) validSIP() error {
	if d := c.SIP.RefusalFlood.Summary; d != 0 && d < time.Second {
		return bad("sip.refusal_flood.summary %v: at least 1s (0: %v)", d, DefaultRefusalSummary)
	}
	if len(c.SIP.Trunks) == 0 {
		if c.SIP.Trunk.Address == "" {
			return bad("sip.trunk.address (or sip.trunks) is required")
		}
		if t := c.SIP.Trunk.Transport; t != "" && t != "udp" && t != "tcp" {
			return bad("sip.trunk.transport %q: udp or tcp", t)
		}
		if len(c.SIP.Routes) > 0 {
			return bad("sip.routes choose among sip.trunks: with the single sip.trunk every call takes it")
		}
	} else if c.SIP.Trunk != (Trunk{}) {
		return bad("sip.trunk and sip.trunks are both set: move the single trunk into trunks (with a name)")
	}
	if err := c.SIP.TrunkConfig().Validate(); err != nil {
		return bad("sip.trunks: %v", err)
	}
	if c.SIP.RTPPortMin <= 0 || c.SIP.RTPPortMax <= c.SIP.RTPPortMin || c.SIP.RTPPortMax > 65535 {
		return bad("sip.rtp_port_min/max: bad range %d-%d", c.SIP.RTPPortMin, c.SIP.RTPPortMax)
	}
	if h := c.SIP.HotlineNumber; h != "" && (len(h) > 16 || strings.Trim(h, "0123456789") != "") {
		return bad("sip.hotline_number %q: digits only, at most 16", h)
	}
	return nil
}

// validRecording checks the recording disk's thresholds.
func (c *Config) validRecording() error {
	if d := c.Recording.Disk; d.LowPercent <= 0 || d.LowPercent >= 100 {
		return bad("recording.disk.low_percent %v: must be between 0 and 100", d.LowPercent)
	}
	if d := c.Recording.Disk; d.FullMiB > 1<<30 {
		return bad("recording.disk.full_mib %d: more than 1 PiB", d.FullMiB)
	}
	if d := c.Recording.Disk; d.CheckInterval < time.Second {
		return bad("recording.disk.check_interval %v: at least 1s", d.CheckInterval)
	}
	return nil
}

// validTerminals checks the terminals (at least one, ids and SIP users
// unique) and returns their ids.
func (c *Config) validTerminals() (map[string]bool, error) {
	terms := map[string]bool{}
	users := map[string]bool{}
	for _, t := range c.SIP.Terminals {
		if t.ID == "" || t.SIPUser == "" || t.Password == "" {
			return nil, bad("sip.terminals: every terminal needs id, sip_user and password")
		}
		if terms[t.ID] || users[t.SIPUser] {
			return nil, bad("sip.terminals: duplicate id or sip_user %q", t.ID)
		}
		terms[t.ID], users[t.SIPUser] = true, true
	}
	if len(terms) == 0 {
		return nil, bad("sip.terminals: at least one terminal is required")
	}
	return terms, nil
}

// validReaders checks the card readers: names unique, each bound to one
// of terms or the one officer reader, with a known driver.
func (c *Config) validReaders(terms map[string]bool) error {
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
	if err := confload.Decode(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.Defaults()
	if err := c.boardDevices(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// boardDevices fills the device of each reader that names none from the
// board definition: the device wired to the reader's terminal, or the
// board's officer reader. A reader left without a device then fails
// Validate.
func (c *Config) boardDevices() error {
	var b *board.Board
	for i := range c.Readers {
		r := &c.Readers[i]
		if r.Device != "" {
			continue
		}
		if b == nil {
			var err error
			if b, err = board.Load(c.Board); err != nil {
				return fmt.Errorf("%w: readers: reader %q has no device and its board cannot be loaded: %v", ErrInvalid, r.Name, err)
			}
		}
		if r.Role == RoleOfficer {
			r.Device = b.Serial.OfficerReader
		} else {
			r.Device, _ = b.TerminalDevice(r.Terminal)
		}
		if r.Device == "" {
			return fmt.Errorf("%w: readers: reader %q names no device and board %q wires none for it (terminal %q): set device", ErrInvalid, r.Name, c.Board, r.Terminal)
		}
	}
	return nil
}

// Load reads and parses a config file. Relative paths (data_dir,
// panel_control, the sync.tls files, sync.signing_key, sync.policy_key,
// recording.key_file, reader devices) are taken relative to the file's directory. The TLS
// files and keys are read once here, so that a missing file, a bad key or
// a private key with loose permissions stops the appliance at start with a
// clear error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rel := []*string{&c.DataDir, &c.PanelControl, &c.Sync.SigningKey, &c.Sync.PolicyKey, &c.Recording.KeyFile}
	for i := range c.Readers {
		rel = append(rel, &c.Readers[i].Device) // a board's sim devices are relative
	}
	if t := c.Sync.TLS; t != nil {
		rel = append(rel, &t.CA, &t.Cert, &t.Key)
	}
	confload.Resolve(filepath.Dir(path), rel...)
	if err := c.CheckFiles(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// CheckFiles reads the TLS files and keys the config names and reports the
// first that is unusable, wrapped in ErrInvalid.
func (c *Config) CheckFiles() error {
	tc, err := c.Sync.ClientTLS(nil)
	if err != nil {
		return err
	}
	if tc != nil {
		id, err := tlsconf.ApplianceID(tc.Certificates[0].Leaf)
		if err != nil {
			return fmt.Errorf("%w: sync.tls.cert %s: %w", ErrInvalid, c.Sync.TLS.Cert, err)
		}
		if id != c.ApplianceID {
			return fmt.Errorf("%w: sync.tls.cert %s is appliance %q's certificate, not %q's", ErrInvalid, c.Sync.TLS.Cert, id, c.ApplianceID)
		}
	}
	if _, err := c.Sync.LoadSigningKey(); err != nil {
		return err
	}
	if _, err := c.Sync.LoadPolicyKey(); err != nil {
		return err
	}
	if _, err := c.Recording.LoadKey(); err != nil {
		return err
	}
	return nil
}
