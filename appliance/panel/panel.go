// Package panel drives a block's officer panel: a confirm and a cancel
// button (GPIO inputs, debounced on the injected clock), pending, approved
// and refused LEDs and a buzzer (GPIO outputs), plus the officer's card
// reader, whose taps are fed in with OfficerTap.
//
// Call control asks for dual authorization with RequestConfirmation: the
// pending LED lights and the buzzer beeps once; the officer confirms with the
// button and/or a known officer's card within the window, as the Request's
// Mode says, and the approved LED shows briefly; the cancel button or the
// window running out show the refused LED instead. Only an officer acts on
// the panel: a card that is not a known officer's (a prisoner's, an unknown
// one) is reported as ActionUnknownCard and otherwise ignored, so the
// request keeps waiting for the officer.
//
// One request is shown at a time. Later requests queue in arrival order
// (each waiting, bounded by its own ctx, for the panel to be free; its window
// starts when it is shown). When Config.QueueLimit requests already wait,
// RequestConfirmation returns ErrBusy at once.
//
// Every panel action is reported through Config.OnAction as a
// wire.OfficerAction (it becomes an event to central). An officer card tapped
// while nothing is pending is reported as ActionTap and handed to
// Config.OnIdleOfficerTap, so call control can end a call per policy.
//
// Pins come from an Opener: Host (periph host.Init and gpioreg) for real
// boards, Sim (periph gpiotest pins) for the simulated board, whose buttons
// can be pressed through ServeControl and the kinline-panelsim tool.
package panel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the panel layer.
var (
	// ErrTimeout: the window ran out before the officer confirmed.
	ErrTimeout = errors.New("panel: confirmation window expired")
	// ErrCancelled: the officer refused with the cancel button.
	ErrCancelled = errors.New("panel: confirmation refused")
	// ErrBusy: QueueLimit requests already wait for the panel.
	ErrBusy = errors.New("panel: busy")
	// ErrBadRequest: the Request is malformed.
	ErrBadRequest = errors.New("panel: bad request")
	// ErrClosed: the panel has been closed.
	ErrClosed = errors.New("panel: closed")
	// ErrPin: a pin could not be opened or configured.
	ErrPin = errors.New("panel: gpio")
	// ErrNotSimulated: the operation needs the simulated board's pins.
	ErrNotSimulated = errors.New("panel: not a simulated board")
)

// Mode says what confirms a Request.
type Mode int

// Confirmation modes.
const (
	// ConfirmButton: the confirm button. A known officer's card is accepted
	// too, since it also records who confirmed.
	ConfirmButton Mode = iota
	// OfficerCard: a known officer's card. The button alone does nothing.
	OfficerCard
	// Both: the button and a known officer's card, in either order, within
	// the same window.
	Both
)

// String returns "button", "card" or "both".
func (m Mode) String() string {
	switch m {
	case ConfirmButton:
		return "button"
	case OfficerCard:
		return "card"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Confirmation methods (Confirmation.Method).
const (
	MethodButton = "button"
	MethodCard   = "card"
	MethodBoth   = "button+card"
)

// Actions reported through Config.OnAction (wire.OfficerAction.Action).
const (
	ActionConfirm     = "confirm"      // a request was confirmed (OfficerID set when a card was used)
	ActionCancel      = "cancel"       // the cancel button refused a request
	ActionUnknownCard = "unknown_card" // a card that is not an officer's was tapped (ignored: a pending request keeps waiting)
	ActionTimeout     = "timeout"      // a request's window ran out
	ActionTap         = "tap"          // an officer's card was tapped with nothing pending
)

// Request asks the officer to confirm one call.
type Request struct {
	CallID   string
	Terminal string
	PersonID string
	Number   string
	Mode     Mode
	// Window is how long the officer has, from when the request is shown.
	// Zero means Config.DefaultWindow.
	Window time.Duration
}

// Confirmation says who confirmed a request and how. OfficerID is empty
// when only the button was used.
type Confirmation struct {
	OfficerID string
	Method    string // MethodButton, MethodCard or MethodBoth
	At        time.Time
}

// Defaults of Config.
const (
	DefaultWindow     = 60 * time.Second
	DefaultQueueLimit = 4
	DefaultBeep       = 200 * time.Millisecond
	DefaultResultShow = 3 * time.Second
	// edgePoll bounds each wait for an edge (in real time) so that Close is
	// noticed on pins whose Halt does not interrupt WaitForEdge.
	edgePoll = 100 * time.Millisecond
)

// Config holds the panel's collaborators and timings. The zero value works:
// real clock, no logging, no callbacks, the defaults above and the board's
// debounce.
type Config struct {
	Clock  clock.Clock  // nil: clock.Real
	Logger *slog.Logger // nil: discard
	// OnAction receives every panel action, in order. It runs on a panel
	// goroutine; it may call the Panel but should not block for long.
	OnAction func(wire.OfficerAction)
	// OnIdleOfficerTap receives the officer id of a known officer card
	// tapped while nothing is pending (after the matching ActionTap).
	OnIdleOfficerTap func(officerID string)
	// Debounce overrides the board's debounce window when not zero.
	Debounce time.Duration
	// DefaultWindow is used for Requests without a Window.
	DefaultWindow time.Duration
	// QueueLimit is how many requests may wait behind the one shown.
	// Zero means DefaultQueueLimit; negative means none (ErrBusy at once).
	QueueLimit int
	// Beep is how long the buzzer sounds when a request is shown.
	Beep time.Duration
	// ResultShow is how long the approved or refused LED stays lit.
	ResultShow time.Duration
}

// State is what the panel shows. LEDs are read back from the pins where they
// can be read (simulated pins), otherwise they are what the panel drove.
type State struct {
	Pending, Approved, Refused, Buzzer bool
	CallID                             string // the request shown, if any
	Terminal                           string
	Mode                               Mode
	ButtonDone, CardDone               bool // steps done of the request shown
	Queued                             int  // requests waiting behind it
}

type outcome struct {
	conf Confirmation
	err  error
}

type request struct {
	r       Request
	done    chan outcome // buffered: written once
	button  bool
	card    bool
	officer string
	timer   clock.Timer
}

type button struct {
	role        board.Role
	pin         gpio.PinIn
	active      gpio.Level
	lastEdge    time.Time
	hadEdge     bool
	released    bool
	edges       uint64
	presses     uint64
	edgesSignal chan struct{} // closed and replaced on every edge
}

type output struct {
	role   board.Role
	pin    gpio.PinOut
	onLvl  gpio.Level
	driven bool
}

// Panel is an open officer panel. Its methods are safe for concurrent use.
type Panel struct {
	board    *board.Board
	clk      clock.Clock
	log      *slog.Logger
	cfg      Config
	debounce time.Duration

	confirm, cancel                    *button
	pending, approved, refused, buzzer *output

	cbMu sync.Mutex // held while delivering callbacks, so they stay in order

	mu        sync.Mutex
	officers  func(string) (string, bool)
	active    *request
	queue     []*request
	resultGen uint64
	beepGen   uint64
	out       []func()
	closed    bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens the panel of board b with the pins from o (nil: OpenerFor(b)),
// configures buttons as inputs with both edges and the board's pull, turns
// every output off, and starts watching the buttons. Close releases it.
func Open(b *board.Board, o Opener, cfg Config) (*Panel, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil board", ErrPin)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if o == nil {
		var err error
		if o, err = OpenerFor(b); err != nil {
			return nil, err
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultWindow <= 0 {
		cfg.DefaultWindow = DefaultWindow
	}
	if cfg.QueueLimit == 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.Beep <= 0 {
		cfg.Beep = DefaultBeep
	}
	if cfg.ResultShow <= 0 {
		cfg.ResultShow = DefaultResultShow
	}
	p := &Panel{
		board:    b,
		clk:      cfg.Clock,
		log:      cfg.Logger.With("component", "panel", "board", b.Name),
		cfg:      cfg,
		debounce: b.Debounce,
		stop:     make(chan struct{}),
	}
	if cfg.Debounce > 0 {
		p.debounce = cfg.Debounce
	}
	var err error
	if p.confirm, err = openButton(b, o, board.RoleConfirm); err != nil {
		return nil, err
	}
	if p.cancel, err = openButton(b, o, board.RoleCancel); err != nil {
		return nil, err
	}
	outs := []**output{&p.pending, &p.approved, &p.refused, &p.buzzer}
	for i, r := range []board.Role{board.RolePending, board.RoleApproved, board.RoleRefused, board.RoleBuzzer} {
		if *outs[i], err = openOutput(b, o, r); err != nil {
			return nil, err
		}
	}
	for _, btn := range []*button{p.confirm, p.cancel} {
		p.wg.Add(1)
		go p.watch(btn)
	}
	p.log.Info("officer panel open", "debounce", p.debounce)
	return p, nil
}

func openButton(b *board.Board, o Opener, r board.Role) (*button, error) {
	bp, _ := b.Pin(r)
	pin, err := o.PinByName(bp.Name)
	if err != nil {
		return nil, fmt.Errorf("%s button: %w", r, err)
	}
	pull := gpio.PullNoChange
	switch bp.Pull {
	case board.PullUp:
		pull = gpio.PullUp
	case board.PullDown:
		pull = gpio.PullDown
	case board.PullNone:
		pull = gpio.Float
	}
	if err := pin.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("%w: %s button on %s: %w", ErrPin, r, bp.Name, err)
	}
	btn := &button{role: r, pin: pin, active: gpio.Level(!bp.ActiveLow), edgesSignal: make(chan struct{})}
	btn.released = pin.Read() != btn.active
	return btn, nil
}

func openOutput(b *board.Board, o Opener, r board.Role) (*output, error) {
	bp, _ := b.Pin(r)
	pin, err := o.PinByName(bp.Name)
	if err != nil {
		return nil, fmt.Errorf("%s output: %w", r, err)
	}
	out := &output{role: r, pin: pin, onLvl: gpio.Level(!bp.ActiveLow)}
	if err := pin.Out(!out.onLvl); err != nil {
		return nil, fmt.Errorf("%w: %s output on %s: %w", ErrPin, r, bp.Name, err)
	}
	return out, nil
}

// Close stops watching the buttons, fails every request with ErrClosed and
// turns every output off. It does not close the pins' drivers.
func (p *Panel) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	reqs := p.queue
	p.queue = nil
	if p.active != nil {
		p.active.timer.Stop()
		reqs = append(reqs, p.active)
		p.active = nil
	}
	for _, r := range reqs {
		r.done <- outcome{err: ErrClosed}
	}
	for _, o := range []*output{p.pending, p.approved, p.refused, p.buzzer} {
		p.setLocked(o, false)
	}
	p.mu.Unlock()
	for _, btn := range []*button{p.confirm, p.cancel} {
		if h, ok := btn.pin.(interface{ Halt() error }); ok {
			_ = h.Halt()
		}
	}
	p.wg.Wait()
	p.log.Info("officer panel closed")
	return nil
}

// SetOfficers sets the lookup from a card UID (upper-case hex, see
// policy.NormalizeUID) to an officer id; call it whenever the policy
// changes (OfficersFromPolicy builds one). Until it is called, or with nil,
// no card is an officer's.
func (p *Panel) SetOfficers(f func(uid string) (officerID string, ok bool)) {
	p.mu.Lock()
	p.officers = f
	p.mu.Unlock()
}

// RequestConfirmation shows r on the panel (after the requests queued before
// it) and waits until the officer confirms, refuses, the window runs out or
// ctx ends. It returns who confirmed, or ErrCancelled (the cancel button),
// ErrTimeout, ErrBusy, ErrBadRequest, ErrClosed or ctx's error.
func (p *Panel) RequestConfirmation(ctx context.Context, r Request) (Confirmation, error) {
	if r.CallID == "" {
		return Confirmation{}, fmt.Errorf("%w: no call id", ErrBadRequest)
	}
	if r.Mode != ConfirmButton && r.Mode != OfficerCard && r.Mode != Both {
		return Confirmation{}, fmt.Errorf("%w: mode %v", ErrBadRequest, r.Mode)
	}
	if r.Window < 0 {
		return Confirmation{}, fmt.Errorf("%w: negative window %v", ErrBadRequest, r.Window)
	}
	if r.Window == 0 {
		r.Window = p.cfg.DefaultWindow
	}
	if err := ctx.Err(); err != nil {
		return Confirmation{}, fmt.Errorf("panel: request %s: %w", r.CallID, err)
	}
	req := &request{r: r, done: make(chan outcome, 1)}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return Confirmation{}, ErrClosed
	case p.active == nil:
		p.activateLocked(req)
	case p.cfg.QueueLimit < 0 || len(p.queue) >= p.cfg.QueueLimit:
		n := len(p.queue)
		p.mu.Unlock()
		return Confirmation{}, fmt.Errorf("%w: %d request(s) waiting", ErrBusy, n+1)
	default:
		p.queue = append(p.queue, req)
		p.log.Info("confirmation queued", "call", r.CallID, "position", len(p.queue))
	}
	p.mu.Unlock()

	select {
	case o := <-req.done:
		p.flush()
		return o.conf, o.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	switch {
	case p.active == req:
		req.timer.Stop()
		p.active = nil
		p.setLocked(p.pending, false)
		p.log.Info("confirmation abandoned by caller", "call", r.CallID, "err", ctx.Err())
		p.promoteLocked()
	default:
		for i, q := range p.queue {
			if q == req {
				p.queue = append(p.queue[:i], p.queue[i+1:]...)
				break
			}
		}
	}
	p.mu.Unlock()
	p.flush()
	select {
	case o := <-req.done: // decided just before ctx ended: that decision stands
		return o.conf, o.err
	default:
	}
	return Confirmation{}, fmt.Errorf("panel: request %s: %w", r.CallID, ctx.Err())
}

// OfficerTap handles a card tapped on the officer's reader. A known
// officer's card confirms (or completes, in Both mode) the request shown.
// A card that is not an officer's changes nothing: it is reported as
// ActionUnknownCard (naming the request shown, if any, which keeps
// waiting for the officer, its window running). With nothing pending, a
// known officer's tap is reported as ActionTap and passed to
// OnIdleOfficerTap.
func (p *Panel) OfficerTap(uid string) {
	uid = policy.NormalizeUID(uid)
	p.mu.Lock()
	lookup := p.officers
	p.mu.Unlock()
	officerID, known := "", false
	if lookup != nil && uid != "" {
		officerID, known = lookup(uid)
	}

	p.mu.Lock()
	defer p.flush()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	req := p.active
	if req == nil {
		if !known {
			p.log.Warn("unknown card on the officer reader", "uid", uid)
			p.actionLocked(wire.OfficerAction{Action: ActionUnknownCard})
			return
		}
		p.log.Info("officer card tapped, nothing pending", "officer", officerID)
		p.actionLocked(wire.OfficerAction{Action: ActionTap, OfficerID: officerID})
		if f := p.cfg.OnIdleOfficerTap; f != nil {
			p.out = append(p.out, func() { f(officerID) })
		}
		return
	}
	if !known {
		p.log.Warn("card that is not an officer's ignored: the call still waits for the officer", "uid", uid, "call", req.r.CallID)
		p.actionLocked(p.reqAction(req, ActionUnknownCard, ""))
		return
	}
	req.card, req.officer = true, officerID
	switch {
	case req.r.Mode != Both:
		p.confirmLocked(req, MethodCard)
	case req.button:
		p.confirmLocked(req, MethodBoth)
	default:
		p.log.Info("officer card accepted, waiting for the confirm button", "call", req.r.CallID, "officer", officerID)
	}
}

// State returns what the panel shows now.
func (p *Panel) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := State{
		Pending:  p.lit(p.pending),
		Approved: p.lit(p.approved),
		Refused:  p.lit(p.refused),
		Buzzer:   p.lit(p.buzzer),
		Queued:   len(p.queue),
	}
	if a := p.active; a != nil {
		s.CallID, s.Terminal, s.Mode = a.r.CallID, a.r.Terminal, a.r.Mode
		s.ButtonDone, s.CardDone = a.button, a.card
	}
	return s
}

// ButtonCounts returns how many edges a button's pin delivered and how many
// presses the debounce counted from them.
func (p *Panel) ButtonCounts(r board.Role) (edges, presses uint64) {
	btn := p.buttonFor(r)
	if btn == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return btn.edges, btn.presses
}

func (p *Panel) buttonFor(r board.Role) *button {
	switch r {
	case board.RoleConfirm:
		return p.confirm
	case board.RoleCancel:
		return p.cancel
	}
	return nil
}

// Press simulates a press of a button on a simulated board: it sends the
// pin a real edge to the active level and one back, and waits until the
// panel has handled both.
func (p *Panel) Press(ctx context.Context, r board.Role) error {
	btn := p.buttonFor(r)
	if btn == nil {
		return fmt.Errorf("%w: %q is not a button", ErrBadRequest, r)
	}
	sim, ok := btn.pin.(*gpiotest.Pin)
	if !ok {
		return fmt.Errorf("%w: %s button is %T", ErrNotSimulated, r, btn.pin)
	}
	p.mu.Lock()
	want := btn.edges + 2
	p.mu.Unlock()
	for _, l := range []gpio.Level{btn.active, !btn.active} {
		select {
		case sim.EdgesChan <- l:
		case <-ctx.Done():
			return fmt.Errorf("panel: press %s: %w", r, ctx.Err())
		case <-p.stop:
			return ErrClosed
		}
	}
	for {
		p.mu.Lock()
		got, sig := btn.edges, btn.edgesSignal
		p.mu.Unlock()
		if got >= want {
			return nil
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return fmt.Errorf("panel: press %s: %w", r, ctx.Err())
		case <-p.stop:
			return ErrClosed
		}
	}
}

// watch delivers one button's edges until Close.
func (p *Panel) watch(btn *button) {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		if !btn.pin.WaitForEdge(edgePoll) {
			continue
		}
		p.edge(btn, btn.pin.Read())
	}
}

// edge applies the debounce: a press counts when the pin reaches its active
// level after having been released, and the line was quiet (no edge at all)
// for the debounce window before it. Bounces on press and on release are
// edges inside the window, so they never count.
func (p *Panel) edge(btn *button, level gpio.Level) {
	now := p.clk.Now()
	p.mu.Lock()
	quiet := !btn.hadEdge || now.Sub(btn.lastEdge) >= p.debounce
	btn.hadEdge, btn.lastEdge = true, now
	btn.edges++
	close(btn.edgesSignal)
	btn.edgesSignal = make(chan struct{})
	if level != btn.active {
		btn.released = true
	} else if btn.released && quiet && !p.closed {
		btn.released = false
		btn.presses++
		p.pressLocked(btn.role)
	}
	p.mu.Unlock()
	p.flush()
}

func (p *Panel) pressLocked(r board.Role) {
	req := p.active
	if req == nil {
		p.log.Info("button pressed, nothing pending", "button", r)
		return
	}
	if r == board.RoleCancel {
		p.log.Info("officer cancelled", "call", req.r.CallID)
		p.actionLocked(p.reqAction(req, ActionCancel, ""))
		p.finishLocked(req, Confirmation{}, fmt.Errorf("%w: cancel button", ErrCancelled))
		return
	}
	switch req.r.Mode {
	case ConfirmButton:
		req.button = true
		p.confirmLocked(req, MethodButton)
	case Both:
		req.button = true
		if req.card {
			p.confirmLocked(req, MethodBoth)
		} else {
			p.log.Info("confirm button accepted, waiting for an officer card", "call", req.r.CallID)
		}
	case OfficerCard:
		p.log.Info("confirm button ignored: this call needs an officer card", "call", req.r.CallID)
	}
}

func (p *Panel) reqAction(req *request, action, officer string) wire.OfficerAction {
	return wire.OfficerAction{Action: action, OfficerID: officer, CallID: req.r.CallID, Terminal: req.r.Terminal}
}

func (p *Panel) confirmLocked(req *request, method string) {
	c := Confirmation{OfficerID: req.officer, Method: method, At: p.clk.Now()}
	p.log.Info("call confirmed", "call", req.r.CallID, "officer", c.OfficerID, "method", method)
	p.actionLocked(p.reqAction(req, ActionConfirm, c.OfficerID))
	p.finishLocked(req, c, nil)
}

// activateLocked shows req: pending LED on, one beep, window started.
func (p *Panel) activateLocked(req *request) {
	p.active = req
	p.setLocked(p.pending, true)
	p.beepGen++
	gen := p.beepGen
	p.setLocked(p.buzzer, true)
	p.clk.AfterFunc(p.cfg.Beep, func() {
		p.mu.Lock()
		if p.beepGen == gen && !p.closed {
			p.setLocked(p.buzzer, false)
		}
		p.mu.Unlock()
	})
	req.timer = p.clk.AfterFunc(req.r.Window, func() {
		p.mu.Lock()
		if p.active == req && !p.closed {
			p.log.Info("confirmation window expired", "call", req.r.CallID, "window", req.r.Window)
			p.actionLocked(p.reqAction(req, ActionTimeout, ""))
			p.finishLocked(req, Confirmation{}, fmt.Errorf("%w after %v", ErrTimeout, req.r.Window))
		}
		p.mu.Unlock()
		p.flush()
	})
	p.log.Info("confirmation requested", "call", req.r.CallID, "terminal", req.r.Terminal,
		"person", req.r.PersonID, "number", req.r.Number, "mode", req.r.Mode, "window", req.r.Window)
}

// finishLocked ends the request shown: result LED for ResultShow, the
// outcome to the waiting caller, then the next queued request.
func (p *Panel) finishLocked(req *request, c Confirmation, err error) {
	req.timer.Stop()
	p.active = nil
	p.setLocked(p.pending, false)
	p.setLocked(p.approved, err == nil)
	p.setLocked(p.refused, err != nil)
	p.resultGen++
	gen := p.resultGen
	p.clk.AfterFunc(p.cfg.ResultShow, func() {
		p.mu.Lock()
		if p.resultGen == gen && !p.closed {
			p.setLocked(p.approved, false)
			p.setLocked(p.refused, false)
		}
		p.mu.Unlock()
	})
	req.done <- outcome{conf: c, err: err}
	p.promoteLocked()
}

func (p *Panel) promoteLocked() {
	if p.closed || p.active != nil || len(p.queue) == 0 {
		return
	}
	next := p.queue[0]
	p.queue = p.queue[1:]
	p.activateLocked(next)
}

func (p *Panel) setLocked(o *output, on bool) {
	lvl := !o.onLvl
	if on {
		lvl = o.onLvl
	}
	if err := o.pin.Out(lvl); err != nil {
		p.log.Warn("cannot drive panel output", "output", o.role, "err", err)
		return
	}
	o.driven = on
}

// lit reads an output back where its pin can be read, else returns what
// the panel drove.
func (p *Panel) lit(o *output) bool {
	if r, ok := o.pin.(interface{ Read() gpio.Level }); ok {
		return r.Read() == o.onLvl
	}
	return o.driven
}

// actionLocked queues an action for OnAction.
func (p *Panel) actionLocked(a wire.OfficerAction) {
	if f := p.cfg.OnAction; f != nil {
		p.out = append(p.out, func() { f(a) })
	}
}

// flush delivers queued callbacks in order. Whoever holds cbMu delivers
// everything queued, including callbacks queued by callbacks; a caller that
// finds cbMu held leaves its callbacks to the holder.
func (p *Panel) flush() {
	for {
		if !p.cbMu.TryLock() {
			return
		}
		for {
			p.mu.Lock()
			if len(p.out) == 0 {
				p.mu.Unlock()
				break
			}
			f := p.out[0]
			p.out = p.out[1:]
			p.mu.Unlock()
			f()
		}
		p.cbMu.Unlock()
		p.mu.Lock()
		empty := len(p.out) == 0
		p.mu.Unlock()
		if empty {
			return
		}
	}
}
