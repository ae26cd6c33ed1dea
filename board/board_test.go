package board

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEveryEmbeddedBoardLoads(t *testing.T) {
	names := Names()
	for _, want := range []string{"generic-gpiochip", "rpi4", "sim"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Fatalf("embedded boards %v lack %q", names, want)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := Load(name)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if b.Name != name || b.Description == "" {
				t.Fatalf("name %q description %q", b.Name, b.Description)
			}
			if b.Debounce != 50*time.Millisecond {
				t.Fatalf("debounce %v", b.Debounce)
			}
			for _, r := range Roles {
				p, ok := b.Pin(r)
				if !ok || p.Name == "" {
					t.Fatalf("role %s has no pin", r)
				}
				if r.IsInput() && (!p.ActiveLow || p.Pull != PullUp) {
					t.Fatalf("button %s: want active-low with pull-up, got %+v", r, p)
				}
				if !r.IsInput() && p.ActiveLow {
					t.Fatalf("output %s is active-low", r)
				}
			}
			if b.Serial.OfficerReader == "" || len(b.Serial.Terminals) == 0 {
				t.Fatalf("serial %+v", b.Serial)
			}
			if err := b.Validate(); err != nil {
				t.Fatalf("Validate after Load: %v", err)
			}
		})
	}
}

func TestRPi4Pins(t *testing.T) {
	b, err := Load("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	if b.GPIO != DriverHost || b.Pins.Confirm.Name != "GPIO17" || b.Pins.Cancel.Name != "GPIO27" {
		t.Fatalf("rpi4: %+v", b)
	}
	if b.Serial.OfficerReader != "/dev/ttyAMA0" {
		t.Fatalf("officer reader %q", b.Serial.OfficerReader)
	}
	if dev, ok := b.TerminalDevice("T1"); !ok || dev != "/dev/ttyUSB0" {
		t.Fatalf("T1 device %q %v", dev, ok)
	}
	if _, ok := b.TerminalDevice("T9"); ok {
		t.Fatal("T9 has a device")
	}
}

func TestSimAndGeneric(t *testing.T) {
	s, err := Load("sim")
	if err != nil || s.GPIO != DriverSim {
		t.Fatalf("sim: %v %+v", err, s)
	}
	g, err := Load("generic-gpiochip")
	if err != nil || g.GPIO != DriverHost || !strings.HasPrefix(g.Pins.Buzzer.Name, "KINLINE_") {
		t.Fatalf("generic: %v %+v", err, g)
	}
}

func TestUnknownBoard(t *testing.T) {
	for _, name := range []string{"nope", "", "../boards/sim", "SIM", "sim.yaml"} {
		_, err := Load(name)
		if !errors.Is(err, ErrUnknownBoard) {
			t.Fatalf("Load(%q) = %v, want ErrUnknownBoard", name, err)
		}
		if !strings.Contains(err.Error(), "rpi4") {
			t.Fatalf("error does not list the known boards: %v", err)
		}
	}
}

const good = `
name: site-a
description: test
gpio: host
pins:
  confirm:  {pin: A, active_low: true, pull: up}
  cancel:   {pin: B, active_low: true, pull: up}
  pending:  {pin: C}
  approved: {pin: D}
  refused:  {pin: E}
  buzzer:   {pin: F}
serial:
  officer_reader: /dev/ttyS0
  terminals:
    - {terminal: T1, device: /dev/ttyUSB0}
`

func TestParseGoodAndDefaults(t *testing.T) {
	b, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if b.Debounce != DefaultDebounce || b.Pins.Refused.Name != "E" {
		t.Fatalf("%+v", b)
	}
	b, err = Parse([]byte(strings.Replace(good, "gpio: host", "gpio: host\ndebounce: 20ms", 1)))
	if err != nil || b.Debounce != 20*time.Millisecond {
		t.Fatalf("debounce: %v %v", err, b)
	}
}

func TestParseInvalid(t *testing.T) {
	cases := []struct{ name, from, to, wantMsg string }{
		{"duplicate pin", "{pin: E}", "{pin: D}", `pin "D" used by both "approved" and "refused"`},
		{"missing role", "  buzzer:   {pin: F}\n", "", `missing pin for role "buzzer"`},
		{"unknown key", "  buzzer:", "  buzzr:", "field buzzr not found"},
		{"bad driver", "gpio: host", "gpio: sysfs", `gpio driver "sysfs"`},
		{"bad pull", "pull: up}\n  cancel", "pull: sideways}\n  cancel", `pull "sideways"`},
		{"pull on output", "{pin: F}", "{pin: F, pull: up}", `output and cannot have pull`},
		{"bad debounce", "gpio: host", "gpio: host\ndebounce: 5s", "debounce 5s"},
		{"duplicate device", "/dev/ttyS0", "/dev/ttyUSB0", `serial device "/dev/ttyUSB0" used by both`},
		{"no officer reader", "officer_reader: /dev/ttyS0", "officer_reader: ''", "officer reader"},
		{"duplicate terminal", "    - {terminal: T1, device: /dev/ttyUSB0}", "    - {terminal: T1, device: /dev/ttyUSB0}\n    - {terminal: T1, device: /dev/ttyUSB1}", `terminal "T1" listed twice`},
		{"bad name", "name: site-a", "name: Site A", `name "Site A"`},
		{"not yaml", "name: site-a", "name: [", "invalid definition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(good, c.from, c.to, 1)
			if src == good {
				t.Fatalf("case does not change the definition")
			}
			_, err := Parse([]byte(src))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wantMsg)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(f, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := LoadFile(f)
	if err != nil || b.Name != "site-a" {
		t.Fatalf("%v %+v", err, b)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzParse: a definition that Parse accepts always validates and has every
// role's pin; nothing panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("accepted definition fails Validate: %v", err)
		}
		for _, r := range Roles {
			if p, _ := b.Pin(r); p.Name == "" {
				t.Fatalf("accepted definition lacks %s", r)
			}
		}
	})
}
