// Package board holds Kinline's board support as data: one YAML file per
// board, embedded in the binary, naming the GPIO pins of the officer panel
// (confirm and cancel buttons, pending/approved/refused LEDs, buzzer, with
// their polarity and pull) and the default serial devices of the officer's
// card reader and of each block terminal's card reader.
//
// Boards embedded today: "rpi4" (Raspberry Pi 4 / CM4 class, BCM GPIO names),
// "generic-gpiochip" (any Linux gpiochip board with device-tree line names)
// and "sim" (in-memory GPIO for the demo and tests). Load returns a validated
// *Board; LoadFile and Parse accept a site's own definition in the same
// format.
package board

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed boards/*.yaml
var embedded embed.FS

// Errors of the board layer.
var (
	// ErrUnknownBoard is returned by Load for a name with no embedded definition.
	ErrUnknownBoard = errors.New("board: unknown board")
	// ErrInvalid is returned (wrapped, with the reason) for a definition that
	// does not parse or fails validation.
	ErrInvalid = errors.New("board: invalid definition")
)

// Driver says how a board's pins are opened.
type Driver string

// GPIO drivers.
const (
	// DriverHost opens pins by name through periph's host drivers
	// (host.Init, then gpioreg.ByName): BCM names on a Raspberry Pi,
	// gpiochip line names elsewhere.
	DriverHost Driver = "host"
	// DriverSim creates in-memory periph gpiotest pins.
	DriverSim Driver = "sim"
)

// Role is what a pin does on the officer panel.
type Role string

// Panel roles. Every board must define all of them.
const (
	RoleConfirm  Role = "confirm"  // input: the officer's confirm button
	RoleCancel   Role = "cancel"   // input: the officer's cancel button
	RolePending  Role = "pending"  // output: LED lit while a confirmation is pending
	RoleApproved Role = "approved" // output: LED lit briefly when a call is confirmed
	RoleRefused  Role = "refused"  // output: LED lit briefly when a call is refused
	RoleBuzzer   Role = "buzzer"   // output: beeps when a confirmation is requested
)

// Roles lists every panel role, inputs first.
var Roles = []Role{RoleConfirm, RoleCancel, RolePending, RoleApproved, RoleRefused, RoleBuzzer}

// IsInput reports whether the role is a button.
func (r Role) IsInput() bool { return r == RoleConfirm || r == RoleCancel }

// Pull values for input pins.
const (
	PullNone = "none" // also the meaning of an empty pull: leave as wired
	PullUp   = "up"
	PullDown = "down"
)

// DefaultDebounce is used when a board does not set debounce.
const DefaultDebounce = 50 * time.Millisecond

// Pin is one panel pin.
type Pin struct {
	// Name is the pin's name as periph registers it (gpioreg.ByName).
	Name string `yaml:"pin"`
	// ActiveLow means the pin is "on" (button pressed, LED lit) at low level.
	ActiveLow bool `yaml:"active_low"`
	// Pull is the input bias: "", "none", "up" or "down". Inputs only.
	Pull string `yaml:"pull"`
}

// Pins maps every panel role to its pin.
type Pins struct {
	Confirm  Pin `yaml:"confirm"`
	Cancel   Pin `yaml:"cancel"`
	Pending  Pin `yaml:"pending"`
	Approved Pin `yaml:"approved"`
	Refused  Pin `yaml:"refused"`
	Buzzer   Pin `yaml:"buzzer"`
}

// TerminalReader is the default serial device of one block terminal's
// IC-card reader.
type TerminalReader struct {
	Terminal string `yaml:"terminal"`
	Device   string `yaml:"device"`
}

// Serial lists a board's default card-reader devices.
type Serial struct {
	OfficerReader string           `yaml:"officer_reader"`
	Terminals     []TerminalReader `yaml:"terminals"`
}

// Board is one validated board definition.
type Board struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// GPIO is the driver that opens the pins.
	GPIO Driver `yaml:"gpio"`
	// Debounce is the buttons' debounce window (DefaultDebounce if unset).
	Debounce time.Duration `yaml:"debounce"`
	Pins     Pins          `yaml:"pins"`
	Serial   Serial        `yaml:"serial"`
}

// Pin returns the pin of a role.
func (b *Board) Pin(r Role) (Pin, bool) {
	switch r {
	case RoleConfirm:
		return b.Pins.Confirm, true
	case RoleCancel:
		return b.Pins.Cancel, true
	case RolePending:
		return b.Pins.Pending, true
	case RoleApproved:
		return b.Pins.Approved, true
	case RoleRefused:
		return b.Pins.Refused, true
	case RoleBuzzer:
		return b.Pins.Buzzer, true
	}
	return Pin{}, false
}

// TerminalDevice returns the default reader device of a terminal.
func (b *Board) TerminalDevice(terminal string) (string, bool) {
	for _, t := range b.Serial.Terminals {
		if t.Terminal == terminal {
			return t.Device, true
		}
	}
	return "", false
}

// Names lists the embedded boards, sorted.
func Names() []string {
	entries, err := fs.ReadDir(embedded, "boards")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load returns the embedded board called name, validated.
func Load(name string) (*Board, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownBoard, name, strings.Join(Names(), ", "))
	}
	data, err := embedded.ReadFile(path.Join("boards", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownBoard, name, strings.Join(Names(), ", "))
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("board %q: %w", name, err)
	}
	if b.Name != name {
		return nil, fmt.Errorf("%w: file %s.yaml names board %q", ErrInvalid, name, b.Name)
	}
	return b, nil
}

// LoadFile reads and validates a board definition from a file, for sites
// whose wiring differs from the embedded boards.
func LoadFile(file string) (*Board, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("board file %s: %w", file, err)
	}
	return b, nil
}

// maxDefinition bounds the size of a definition Parse accepts.
const maxDefinition = 64 << 10

// Parse decodes one board definition (YAML, unknown keys refused), fills in
// defaults and validates it.
func Parse(data []byte) (*Board, error) {
	if len(data) > maxDefinition {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(data), maxDefinition)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var b Board
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if b.Debounce == 0 {
		b.Debounce = DefaultDebounce
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// Validate checks a definition: a name, a known driver, a sane debounce,
// every role given a pin, no pin used twice, pulls only on buttons, and
// unique, well-formed reader devices and terminal names.
func (b *Board) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if !validName(b.Name) {
		bad("name %q: want 1-64 characters of [a-z0-9_-]", b.Name)
	}
	if b.GPIO != DriverHost && b.GPIO != DriverSim {
		bad("gpio driver %q: want %q or %q", b.GPIO, DriverHost, DriverSim)
	}
	if b.Debounce < time.Millisecond || b.Debounce > time.Second {
		bad("debounce %v: want 1ms to 1s", b.Debounce)
	}
	usedBy := map[string]Role{}
	for _, r := range Roles {
		p, _ := b.Pin(r)
		if p.Name == "" {
			bad("missing pin for role %q", r)
			continue
		}
		if !validToken(p.Name) {
			bad("role %q: bad pin name %q", r, p.Name)
			continue
		}
		if other, dup := usedBy[p.Name]; dup {
			bad("pin %q used by both %q and %q", p.Name, other, r)
		}
		usedBy[p.Name] = r
		switch p.Pull {
		case "", PullNone, PullUp, PullDown:
		default:
			bad("role %q: pull %q: want none, up or down", r, p.Pull)
		}
		if !r.IsInput() && p.Pull != "" && p.Pull != PullNone {
			bad("role %q is an output and cannot have pull %q", r, p.Pull)
		}
	}
	devices := map[string]string{}
	useDevice := func(dev, user string) {
		if !validToken(dev) {
			bad("%s: bad serial device %q", user, dev)
			return
		}
		if other, dup := devices[dev]; dup {
			bad("serial device %q used by both %s and %s", dev, other, user)
		}
		devices[dev] = user
	}
	useDevice(b.Serial.OfficerReader, "the officer reader")
	terminals := map[string]bool{}
	for i, t := range b.Serial.Terminals {
		if !validToken(t.Terminal) {
			bad("serial terminal %d: bad terminal name %q", i, t.Terminal)
			continue
		}
		if terminals[t.Terminal] {
			bad("terminal %q listed twice", t.Terminal)
		}
		terminals[t.Terminal] = true
		useDevice(t.Device, "terminal "+t.Terminal)
	}
	return errors.Join(errs...)
}
