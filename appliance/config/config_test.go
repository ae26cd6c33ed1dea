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
}

func TestInvalid(t *testing.T) {
	base := "appliance_id: a1\nsync: {broker: tcp://x:1}\nsip: {trunk: {address: 'x:1'}, terminals: [{id: t1, sip_user: u, password: p}]}\n"
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for name, doc := range map[string]string{
		"wildcard id":    strings.Replace(base, "a1", "a/+", 1),
		"unknown key":    base + "colour: blue\n",
		"no broker":      strings.Replace(base, "tcp://x:1", "", 1),
		"bad terminal":   base + "readers: [{name: r, device: /dev/x, terminal: nope}]\n",
		"bad driver":     base + "readers: [{name: r, device: /dev/x, terminal: t1, driver: magic}]\n",
		"not yaml":       "{{{",
		"bad tap window": base + "tap_window: soon\n",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
