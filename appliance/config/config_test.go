package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/recstore"
)

func TestExampleParses(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-appliance/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if c.ApplianceID != "block-a-1" || c.TapWindow != time.Minute || len(c.SIP.Terminals) != 2 || c.Readers[1].Driver != "em4100" {
		t.Fatalf("unexpected: %+v", c)
	}
	if c.Sync.TLS == nil || !brokerIsTLS(c.Sync.Broker) || c.Sync.SigningKey == "" || c.Sync.PolicyKey == "" || c.Sync.Password != "" {
		t.Errorf("example is not the production (TLS, signed) setup: %+v", c.Sync)
	}
	if c.Recording.KeyFile == "" {
		t.Error("example does not encrypt recordings (recording.key_file)")
	}
	if d := c.Recording.Disk; d.LowPercent != 10 || d.FullMiB != 256 || d.CheckInterval != 30*time.Second {
		t.Errorf("disk guard %+v", d)
	}
	if c.Metrics.Listen != "127.0.0.1:9464" {
		t.Errorf("metrics.listen %q", c.Metrics.Listen)
	}
	if c.SIP.HotlineNumber != "100" {
		t.Errorf("hotline number %q", c.SIP.HotlineNumber)
	}
	if c.Readers[0].Role != RoleTerminal {
		t.Errorf("default role %q", c.Readers[0].Role)
	}
	if r, ok := c.OfficerReader(); !ok || r.Name != "officer-panel-reader" || r.Terminal != "" {
		t.Errorf("officer reader %+v %v", r, ok)
	}
}

func TestInvalid(t *testing.T) {
	base := "appliance_id: a1\nsync: {broker: tcp://x:1}\nsip: {trunk: {address: 'x:1'}, terminals: [{id: t1, sip_user: u, password: p}]}\n"
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for name, doc := range map[string]string{
		"wildcard id":           strings.Replace(base, "a1", "a/+", 1),
		"hotline not digits":    strings.Replace(base, "sip: {", "sip: {hotline_number: '1a0', ", 1),
		"trunk over SCTP":       strings.Replace(base, "address: 'x:1'", "address: 'x:1', transport: sctp", 1),
		"unknown key":           base + "colour: blue\n",
		"no broker":             strings.Replace(base, "tcp://x:1", "", 1),
		"bad terminal":          base + "readers: [{name: r, device: /dev/x, terminal: nope}]\n",
		"bad driver":            base + "readers: [{name: r, device: /dev/x, terminal: t1, driver: magic}]\n",
		"not yaml":              "{{{",
		"bad tap window":        base + "tap_window: soon\n",
		"bad role":              base + "readers: [{name: r, device: /dev/x, terminal: t1, role: warden}]\n",
		"officer with terminal": base + "readers: [{name: r, device: /dev/x, terminal: t1, role: officer}]\n",
		"two officer readers":   base + "readers: [{name: r, device: /dev/x, role: officer}, {name: s, device: /dev/y, role: officer}]\n",
		"control on real board": base + "board: rpi4\npanel_control: p.sock\n",
		"disk low 100%":         base + "recording: {disk: {low_percent: 100}}\n",
		"disk low negative":     base + "recording: {disk: {low_percent: -5}}\n",
		"disk check too often":  base + "recording: {disk: {check_interval: 10ms}}\n",
		"disk unknown key":      base + "recording: {disk: {full_gb: 1}}\n",
		"recording unknown key": base + "recording: {key: k}\n",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestPanelControlAndOfficerReader(t *testing.T) {
	dir := t.TempDir()
	doc := "appliance_id: a1\nboard: sim\npanel_control: run/panel.sock\nsync: {broker: tcp://x:1}\n" +
		"sip: {trunk: {address: 'x:1'}, terminals: [{id: t1, sip_user: u, password: p}]}\n" +
		"readers: [{name: r1, device: /dev/x, terminal: t1}, {name: off, device: /dev/y, role: officer, driver: em4100}]\n"
	path := dir + "/a.yaml"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.PanelControl != dir+"/run/panel.sock" {
		t.Errorf("panel_control %q not made relative to the file", c.PanelControl)
	}
	r, ok := c.OfficerReader()
	if !ok || r.Name != "off" || r.Driver != "em4100" || r.Role != RoleOfficer {
		t.Errorf("officer reader %+v %v", r, ok)
	}
	c.Readers = c.Readers[:1]
	if _, ok := c.OfficerReader(); ok {
		t.Error("officer reader found among terminal readers")
	}
}

func TestDiskGuardDefaults(t *testing.T) {
	c, err := Parse([]byte("appliance_id: a1\nsync: {broker: tcp://x:1}\nsip: {trunk: {address: 'x:1'}, terminals: [{id: t1, sip_user: u, password: p}]}\nrecording: {disk: {full_mib: 1024}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DiskGuard{LowPercent: DefaultDiskLowPercent, FullMiB: 1024, CheckInterval: DefaultDiskCheckInterval}
	if c.Recording.Disk != want {
		t.Fatalf("disk guard %+v, want %+v", c.Recording.Disk, want)
	}
	if c.Recording.KeyFile != "" {
		t.Fatalf("key file %q by default", c.Recording.KeyFile)
	}
	if k, err := c.Recording.LoadKey(); err != nil || !k.IsZero() {
		t.Fatalf("no key file: %v %v", k, err)
	}
}

// TestRecordingKeyFile: Load resolves recording.key_file relative to the
// config file and refuses a missing key, one of the wrong size and one
// that group or others may read, saying which key and why.
func TestRecordingKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/keys", 0o700); err != nil {
		t.Fatal(err)
	}
	key := dir + "/keys/recording.key"
	raw := []byte("0123456789abcdef0123456789abcdef")
	path := dir + "/a.yaml"
	doc := "appliance_id: a1\nsync: {broker: tcp://x:1}\nsip: {trunk: {address: 'x:1'}, terminals: [{id: t1, sip_user: u, password: p}]}\n" +
		"recording: {key_file: keys/recording.key}\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data  []byte
		mode  os.FileMode
		inErr string
	}{
		"missing":    {inErr: "no such file"},
		"short":      {data: raw[:31], mode: 0o600, inErr: "want exactly 32"},
		"long":       {data: append(append([]byte{}, raw...), '\n'), mode: 0o600, inErr: "want exactly 32"},
		"group read": {data: raw, mode: 0o640, inErr: "chmod 600"},
		"world read": {data: raw, mode: 0o604, inErr: "chmod 600"},
	} {
		os.Remove(key)
		if tc.data != nil {
			if err := os.WriteFile(key, tc.data, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(key, tc.mode); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(path)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, recstore.ErrKeyFile) ||
			!strings.Contains(err.Error(), "recording.key_file") || !strings.Contains(err.Error(), tc.inErr) {
			t.Errorf("%s: err = %v, want ErrInvalid naming recording.key_file and %q", name, err, tc.inErr)
		}
	}
	os.Remove(key)
	if err := os.WriteFile(key, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Recording.KeyFile != key {
		t.Fatalf("key_file %q not made relative to the file", c.Recording.KeyFile)
	}
	k, err := c.Recording.LoadKey()
	want, _ := recstore.NewKey(raw)
	if err != nil || k.ID() != want.ID() {
		t.Fatalf("loaded key %x (%v), want %x", k.ID(), err, want.ID())
	}
}

// TestReaderDevicesFromBoard: a reader that names no device gets the one
// its board wires to its terminal (or the board's officer reader);
// relative board devices are taken relative to the config file; a
// terminal the board does not wire is refused with what to set.
func TestReaderDevicesFromBoard(t *testing.T) {
	doc := "appliance_id: a1\nboard: %s\nsync: {broker: tcp://x:1}\n" +
		"sip: {trunk: {address: 'x:1'}, terminals: [{id: T1, sip_user: u, password: p}, {id: t1, sip_user: v, password: p}, {id: X9, sip_user: w, password: p}]}\n" +
		"readers:\n%s"
	c, err := Parse([]byte(fmt.Sprintf(doc, "rpi4", "  - {name: r1, terminal: T1}\n  - {name: own, terminal: X9, device: /dev/ttyS5}\n  - {name: off, role: officer}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{c.Readers[0].Device, c.Readers[1].Device, c.Readers[2].Device}; got[0] != "/dev/ttyUSB0" || got[1] != "/dev/ttyS5" || got[2] != "/dev/ttyAMA0" {
		t.Fatalf("devices %v", got)
	}
	_, err = Parse([]byte(fmt.Sprintf(doc, "rpi4", "  - {name: r9, terminal: X9}\n")))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `board "rpi4" wires none`) || !strings.Contains(err.Error(), "set device") {
		t.Fatalf("unwired terminal: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "appliance.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(doc, "sim", "  - {name: r1, terminal: t1}\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	lc, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "reader-t1"); lc.Readers[0].Device != want {
		t.Fatalf("sim device %q, want %q", lc.Readers[0].Device, want)
	}
}

// metrics.listen is optional, and when set a host:port.
func TestMetricsListen(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-appliance/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for listen, ok := range map[string]bool{"": true, "127.0.0.1:9464": true, ":9464": true, "[::1]:9464": true,
		"9464": false, "127.0.0.1": false, "127.0.0.1:": false} {
		y := strings.Replace(string(data), "  listen: 127.0.0.1:9464", fmt.Sprintf("  listen: %q", listen), 1)
		c, err := Parse([]byte(y))
		if ok && (err != nil || c.Metrics.Listen != listen) {
			t.Errorf("metrics.listen %q refused: %v", listen, err)
		}
		if !ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("metrics.listen %q accepted: %v", listen, err)
		}
	}
}
