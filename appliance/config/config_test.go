package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
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
