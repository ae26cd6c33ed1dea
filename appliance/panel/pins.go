package panel

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/host/v3"

	"github.com/kinline/kinline/board"
)

// Opener resolves a board's pin names to GPIO pins. Buttons are used as
// gpio.PinIn and LEDs and the buzzer as gpio.PinOut.
type Opener interface {
	PinByName(name string) (gpio.PinIO, error)
}

// OpenerFor returns the opener a board's GPIO driver calls for: Host for
// board.DriverHost, a new Sim for board.DriverSim.
func OpenerFor(b *board.Board) (Opener, error) {
	switch b.GPIO {
	case board.DriverHost:
		return &Host{}, nil
	case board.DriverSim:
		return NewSim(), nil
	}
	return nil, fmt.Errorf("%w: board %q has gpio driver %q", ErrPin, b.Name, b.GPIO)
}

// Registry opens pins already registered in periph's gpioreg, by name or
// alias, without initialising any host driver. Tests register gpiotest pins
// there; Host uses it after host.Init.
type Registry struct{}

// PinByName implements Opener.
func (Registry) PinByName(name string) (gpio.PinIO, error) {
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("%w: no GPIO named %q is registered", ErrPin, name)
	}
	return p, nil
}

// Host opens real pins: it runs periph's host.Init once (which registers the
// SoC's GPIOs, e.g. "GPIO17" on a Raspberry Pi, and every named gpiochip
// line) and then looks pins up in gpioreg. The zero value is ready to use.
type Host struct {
	once sync.Once
	err  error
}

// PinByName implements Opener.
func (h *Host) PinByName(name string) (gpio.PinIO, error) {
	h.once.Do(func() {
		if _, err := host.Init(); err != nil {
			h.err = fmt.Errorf("%w: periph host.Init: %w", ErrPin, err)
		}
	})
	if h.err != nil {
		return nil, h.err
	}
	return Registry{}.PinByName(name)
}

// simEdgeBuffer is how many edges a simulated input pin queues.
const simEdgeBuffer = 64

// Sim creates periph gpiotest pins on demand, one per name, for the
// simulated board. Edges sent on a pin's EdgesChan reach the panel as real
// edges; outputs can be read back with Read.
type Sim struct {
	mu   sync.Mutex
	pins map[string]*gpiotest.Pin
}

// NewSim returns an empty simulated pin set.
func NewSim() *Sim { return &Sim{pins: map[string]*gpiotest.Pin{}} }

// PinByName implements Opener: it returns the pin called name, creating it
// (level low, with an edge queue) the first time.
func (s *Sim) PinByName(name string) (gpio.PinIO, error) {
	return s.Pin(name), nil
}

// Pin returns the gpiotest pin called name, creating it if needed.
func (s *Sim) Pin(name string) *gpiotest.Pin {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pins[name]
	if !ok {
		p = &gpiotest.Pin{N: name, Num: len(s.pins), Fn: "GPIO", EdgesChan: make(chan gpio.Level, simEdgeBuffer)}
		s.pins[name] = p
	}
	return p
}
