package panel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// waitFor is generous: the suite must pass on a loaded 2-core machine.
const waitFor = 10 * time.Second

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

type result struct {
	c   Confirmation
	err error
}

type rig struct {
	t   *testing.T
	b   *board.Board
	sim *Sim
	clk *clock.Fake
	p   *Panel

	mu      sync.Mutex
	actions []wire.OfficerAction
	idle    []string
}

func newRig(t *testing.T, tweak func(*Config)) *rig {
	t.Helper()
	b, err := board.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, b: b, sim: NewSim(), clk: clock.NewFake(t0)}
	cfg := Config{
		Clock:  r.clk,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnAction: func(a wire.OfficerAction) {
			r.mu.Lock()
			r.actions = append(r.actions, a)
			r.mu.Unlock()
		},
		OnIdleOfficerTap: func(id string) {
			r.mu.Lock()
			r.idle = append(r.idle, id)
			r.mu.Unlock()
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	r.p, err = Open(b, r.sim, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.p.SetOfficers(func(uid string) (string, bool) {
		switch uid {
		case "0A0B0C0D":
			return "officer-7", true
		case "11223344":
			return "officer-9", true
		}
		return "", false
	})
	t.Cleanup(func() { r.p.Close() })
	return r
}

// pin returns the simulated pin of a role.
func (r *rig) pin(role board.Role) *gpiotest.Pin {
	bp, _ := r.b.Pin(role)
	return r.sim.Pin(bp.Name)
}

// leds reads the LED and buzzer pins themselves (all active-high on sim).
func (r *rig) leds() string {
	on := func(role board.Role) string {
		if r.pin(role).Read() == gpio.High {
			return "1"
		}
		return "0"
	}
	return "pending=" + on(board.RolePending) + " approved=" + on(board.RoleApproved) +
		" refused=" + on(board.RoleRefused) + " buzzer=" + on(board.RoleBuzzer)
}

func (r *rig) wantLEDs(want string) {
	r.t.Helper()
	testkit.Eventually(r.t, waitFor, "LEDs "+want+" (have "+r.leds()+")", func() bool { return r.leds() == want })
}

// edges sends raw levels to a button pin and waits until the panel took them.
func (r *rig) edges(role board.Role, levels ...gpio.Level) {
	r.t.Helper()
	before, _ := r.p.ButtonCounts(role)
	for _, l := range levels {
		r.pin(role).EdgesChan <- l
	}
	testkit.Eventually(r.t, waitFor, "edges handled", func() bool {
		e, _ := r.p.ButtonCounts(role)
		return e >= before+uint64(len(levels))
	})
}

// press presses a button cleanly, then lets the debounce window pass.
func (r *rig) press(role board.Role) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := r.p.Press(ctx, role); err != nil {
		r.t.Fatal(err)
	}
	r.clk.Advance(100 * time.Millisecond)
}

func (r *rig) presses(role board.Role) uint64 {
	_, n := r.p.ButtonCounts(role)
	return n
}

// request starts RequestConfirmation and waits until the panel shows it.
func (r *rig) request(req Request) <-chan result {
	r.t.Helper()
	ch := r.requestAsync(context.Background(), req)
	testkit.Eventually(r.t, waitFor, "request "+req.CallID+" shown", func() bool { return r.p.State().CallID == req.CallID })
	return ch
}

func (r *rig) requestAsync(ctx context.Context, req Request) <-chan result {
	ch := make(chan result, 1)
	go func() {
		c, err := r.p.RequestConfirmation(ctx, req)
		ch <- result{c, err}
	}()
	return ch
}

func (r *rig) result(ch <-chan result) result {
	r.t.Helper()
	select {
	case res := <-ch:
		return res
	case <-time.After(waitFor):
		r.t.Fatal("no result")
	}
	return result{}
}

func (r *rig) noResult(ch <-chan result) {
	r.t.Helper()
	select {
	case res := <-ch:
		r.t.Fatalf("request finished early: %+v", res)
	case <-time.After(30 * time.Millisecond): // a grace period for a wrong early result: load can only hide one, not fail a right panel
	}
}

func (r *rig) wantActions(want ...wire.OfficerAction) {
	r.t.Helper()
	testkit.Eventually(r.t, waitFor, fmt.Sprintf("%d actions", len(want)), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.actions) >= len(want)
	})
	// Give a wrongly reported extra action a moment to show up (real time
	// on purpose: a loaded machine can only hide an extra, not invent one).
	time.Sleep(20 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.actions) != len(want) {
		r.t.Fatalf("actions %+v, want %+v", r.actions, want)
	}
	for i := range want {
		if r.actions[i] != want[i] {
			r.t.Fatalf("action %d = %+v, want %+v", i, r.actions[i], want[i])
		}
	}
}

func req(id string, m Mode) Request {
	return Request{CallID: id, Terminal: "T1", PersonID: "P1", Number: "+441234", Mode: m, Window: time.Minute}
}

func TestIdleStateAllOff(t *testing.T) {
	r := newRig(t, nil)
	r.wantLEDs("pending=0 approved=0 refused=0 buzzer=0")
	if p := r.pin(board.RoleConfirm); p.Read() != gpio.High || p.Pull() != gpio.PullUp {
		t.Fatalf("confirm button not idle-high with pull-up: %v %v", p.Read(), p.Pull())
	}
	// A press with nothing pending does nothing and reports nothing.
	r.press(board.RoleConfirm)
	r.press(board.RoleCancel)
	if r.presses(board.RoleConfirm) != 1 || r.presses(board.RoleCancel) != 1 {
		t.Fatal("presses not counted")
	}
	r.wantLEDs("pending=0 approved=0 refused=0 buzzer=0")
	r.wantActions()
}

func TestDebounceBouncyEdgesCountOnce(t *testing.T) {
	r := newRig(t, nil)
	c := board.RoleConfirm
	// Contact bounce on press: five edges at one instant -> one press.
	r.edges(c, gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low)
	if n := r.presses(c); n != 1 {
		t.Fatalf("bouncy press counted %d times", n)
	}
	// Held 200 ms, then bounce on release: no new press.
	r.clk.Advance(200 * time.Millisecond)
	r.edges(c, gpio.High, gpio.Low, gpio.High)
	if n := r.presses(c); n != 1 {
		t.Fatalf("release bounce counted: %d", n)
	}
	// A press 10 ms after the last edge is still inside the window.
	r.clk.Advance(10 * time.Millisecond)
	r.edges(c, gpio.Low, gpio.High)
	if n := r.presses(c); n != 1 {
		t.Fatalf("press inside the debounce window counted: %d", n)
	}
	// After a quiet window, the next press counts.
	r.clk.Advance(50 * time.Millisecond)
	r.edges(c, gpio.Low)
	if n := r.presses(c); n != 2 {
		t.Fatalf("press after a quiet window: %d presses, want 2", n)
	}
	// Still held: a repeated active level is not a new press.
	r.clk.Advance(time.Second)
	r.edges(c, gpio.Low)
	if n := r.presses(c); n != 2 {
		t.Fatalf("held button counted again: %d", n)
	}
}

func TestDebounceWindowFromBoardAndConfig(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Debounce = 5 * time.Millisecond })
	c := board.RoleConfirm
	r.edges(c, gpio.Low, gpio.High)
	r.clk.Advance(6 * time.Millisecond)
	r.edges(c, gpio.Low, gpio.High)
	if n := r.presses(c); n != 2 {
		t.Fatalf("5ms debounce: %d presses, want 2", n)
	}
}

func TestConfirmByButton(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(req("C1", ConfirmButton))
	r.wantLEDs("pending=1 approved=0 refused=0 buzzer=1")
	st := r.p.State()
	if st.Terminal != "T1" || st.Mode != ConfirmButton || st.ButtonDone {
		t.Fatalf("state %+v", st)
	}
	// The buzzer beeps once, briefly.
	r.clk.Advance(DefaultBeep)
	r.wantLEDs("pending=1 approved=0 refused=0 buzzer=0")
	r.noResult(ch)

	r.clk.Advance(5 * time.Second)
	r.press(board.RoleConfirm)
	res := r.result(ch)
	if res.err != nil || res.c.Method != MethodButton || res.c.OfficerID != "" {
		t.Fatalf("result %+v", res)
	}
	if want := t0.Add(DefaultBeep + 5*time.Second); !res.c.At.Equal(want) {
		t.Fatalf("At = %v, want %v", res.c.At, want)
	}
	r.wantLEDs("pending=0 approved=1 refused=0 buzzer=0")
	r.wantActions(wire.OfficerAction{Action: ActionConfirm, CallID: "C1", Terminal: "T1"})
	// The approved LED shows briefly.
	r.clk.Advance(DefaultResultShow)
	r.wantLEDs("pending=0 approved=0 refused=0 buzzer=0")
	if st := r.p.State(); st.CallID != "" {
		t.Fatalf("still pending: %+v", st)
	}
}

func TestConfirmByOfficerCard(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(req("C2", OfficerCard))
	// The button alone does not confirm a card-mode request.
	r.press(board.RoleConfirm)
	r.noResult(ch)
	r.wantLEDs("pending=1 approved=0 refused=0 buzzer=1")
	r.p.OfficerTap("0a0b0c0d") // any case
	res := r.result(ch)
	if res.err != nil || res.c.OfficerID != "officer-7" || res.c.Method != MethodCard {
		t.Fatalf("result %+v", res)
	}
	r.wantLEDs("pending=0 approved=1 refused=0 buzzer=1")
	r.wantActions(wire.OfficerAction{Action: ActionConfirm, OfficerID: "officer-7", CallID: "C2", Terminal: "T1"})
}

func TestButtonModeAcceptsOfficerCard(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(req("C3", ConfirmButton))
	r.p.OfficerTap("11223344")
	res := r.result(ch)
	if res.err != nil || res.c.OfficerID != "officer-9" || res.c.Method != MethodCard {
		t.Fatalf("result %+v", res)
	}
}

func TestBothNeedsButtonAndCard(t *testing.T) {
	for _, cardFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("cardFirst=%v", cardFirst), func(t *testing.T) {
			r := newRig(t, nil)
			ch := r.request(req("C4", Both))
			if cardFirst {
				r.p.OfficerTap("0A0B0C0D")
				r.noResult(ch)
				if st := r.p.State(); !st.CardDone || st.ButtonDone {
					t.Fatalf("after card: %+v", st)
				}
				r.wantLEDs("pending=1 approved=0 refused=0 buzzer=1")
				r.press(board.RoleConfirm)
			} else {
				r.press(board.RoleConfirm)
				r.noResult(ch)
				if st := r.p.State(); st.CardDone || !st.ButtonDone {
					t.Fatalf("after button: %+v", st)
				}
				r.wantLEDs("pending=1 approved=0 refused=0 buzzer=1")
				r.p.OfficerTap("0A0B0C0D")
			}
			res := r.result(ch)
			if res.err != nil || res.c.OfficerID != "officer-7" || res.c.Method != MethodBoth {
				t.Fatalf("result %+v", res)
			}
			r.wantLEDs("pending=0 approved=1 refused=0 buzzer=1")
			r.wantActions(wire.OfficerAction{Action: ActionConfirm, OfficerID: "officer-7", CallID: "C4", Terminal: "T1"})
		})
	}
}

func TestBothButtonOnlyTimesOut(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(Request{CallID: "C5", Terminal: "T2", Mode: Both, Window: 30 * time.Second})
	r.press(board.RoleConfirm)
	r.clk.Advance(29 * time.Second)
	r.noResult(ch)
	r.clk.Advance(time.Second)
	res := r.result(ch)
	if !errors.Is(res.err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", res.err)
	}
	r.wantLEDs("pending=0 approved=0 refused=1 buzzer=0")
	r.wantActions(wire.OfficerAction{Action: ActionTimeout, CallID: "C5", Terminal: "T2"})
	r.clk.Advance(DefaultResultShow)
	r.wantLEDs("pending=0 approved=0 refused=0 buzzer=0")
}

func TestCancelButton(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(req("C6", ConfirmButton))
	r.press(board.RoleCancel)
	res := r.result(ch)
	if !errors.Is(res.err, ErrCancelled) {
		t.Fatalf("err = %v", res.err)
	}
	r.wantLEDs("pending=0 approved=0 refused=1 buzzer=1")
	r.wantActions(wire.OfficerAction{Action: ActionCancel, CallID: "C6", Terminal: "T1"})
	r.clk.Advance(DefaultBeep)
	r.wantLEDs("pending=0 approved=0 refused=1 buzzer=0")
	// A late confirm press changes nothing.
	r.press(board.RoleConfirm)
	r.wantLEDs("pending=0 approved=0 refused=1 buzzer=0")
	r.wantActions(wire.OfficerAction{Action: ActionCancel, CallID: "C6", Terminal: "T1"})
}

// TestNotOfficerCardIgnored: a card that is not an officer's (a
// prisoner's, an unknown one) tapped while a call waits neither refuses
// nor confirms it: it is reported, the request stays shown with what was
// done so far, and the officer still confirms it.
func TestNotOfficerCardIgnored(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(req("C7", Both))
	r.press(board.RoleConfirm)
	r.p.OfficerTap("DEADBEEF") // an inmate's or unknown card
	r.noResult(ch)
	if s := r.p.State(); s.CallID != "C7" || !s.ButtonDone || s.CardDone || !s.Pending || s.Refused {
		t.Fatalf("state after a card that is not an officer's: %+v", s)
	}
	r.wantLEDs("pending=1 approved=0 refused=0 buzzer=1")
	r.p.OfficerTap("0A0B0C0D")
	res := r.result(ch)
	if res.err != nil || res.c.OfficerID != "officer-7" || res.c.Method != MethodBoth {
		t.Fatalf("after the officer's card: %+v", res)
	}
	r.wantActions(
		wire.OfficerAction{Action: ActionUnknownCard, CallID: "C7", Terminal: "T1"},
		wire.OfficerAction{Action: ActionConfirm, OfficerID: "officer-7", CallID: "C7", Terminal: "T1"},
	)
}

// TestNotOfficerCardThenTimeout: with only cards that are not an officer's
// tapped, the request ends when its window runs out, as a timeout, never
// as the officer's refusal.
func TestNotOfficerCardThenTimeout(t *testing.T) {
	r := newRig(t, nil)
	r.p.SetOfficers(nil) // no card is an officer's, not even 0A0B0C0D
	rq := req("C8", OfficerCard)
	rq.Window = 20 * time.Second
	ch := r.request(rq)
	r.p.OfficerTap("0A0B0C0D")
	r.p.OfficerTap("CAFE")
	r.noResult(ch)
	r.clk.Advance(20 * time.Second)
	res := r.result(ch)
	if !errors.Is(res.err, ErrTimeout) || errors.Is(res.err, ErrCancelled) {
		t.Fatalf("err = %v, want a timeout", res.err)
	}
	r.wantActions(
		wire.OfficerAction{Action: ActionUnknownCard, CallID: "C8", Terminal: "T1"},
		wire.OfficerAction{Action: ActionUnknownCard, CallID: "C8", Terminal: "T1"},
		wire.OfficerAction{Action: ActionTimeout, CallID: "C8", Terminal: "T1"},
	)
}

func TestIdleOfficerTap(t *testing.T) {
	r := newRig(t, nil)
	r.p.OfficerTap("0A0B0C0D")
	r.p.OfficerTap("CAFE")
	r.wantActions(
		wire.OfficerAction{Action: ActionTap, OfficerID: "officer-7"},
		wire.OfficerAction{Action: ActionUnknownCard},
	)
	r.mu.Lock()
	idle := append([]string(nil), r.idle...)
	r.mu.Unlock()
	if len(idle) != 1 || idle[0] != "officer-7" {
		t.Fatalf("OnIdleOfficerTap got %v", idle)
	}
	r.wantLEDs("pending=0 approved=0 refused=0 buzzer=0")
}

func TestQueueInOrderWindowStartsWhenShown(t *testing.T) {
	r := newRig(t, func(c *Config) { c.QueueLimit = 1 })
	ch1 := r.request(req("Q1", ConfirmButton))
	ch2 := r.requestAsync(context.Background(), req("Q2", ConfirmButton))
	testkit.Eventually(t, waitFor, "Q2 queued", func() bool { return r.p.State().Queued == 1 })
	// The queue is full: a third request is refused at once.
	if _, err := r.p.RequestConfirmation(context.Background(), req("Q3", ConfirmButton)); !errors.Is(err, ErrBusy) {
		t.Fatalf("third request: %v, want ErrBusy", err)
	}
	r.clk.Advance(50 * time.Second) // Q1 shown for 50 s of its 60 s
	r.press(board.RoleConfirm)
	if res := r.result(ch1); res.err != nil {
		t.Fatal(res.err)
	}
	testkit.Eventually(t, waitFor, "Q2 shown", func() bool { return r.p.State().CallID == "Q2" })
	// Q2 lights pending while Q1's approval still shows.
	r.wantLEDs("pending=1 approved=1 refused=0 buzzer=1")
	// Q2's full window counts from when it was shown.
	r.clk.Advance(59 * time.Second)
	r.noResult(ch2)
	r.clk.Advance(time.Second)
	if res := r.result(ch2); !errors.Is(res.err, ErrTimeout) {
		t.Fatalf("Q2: %v", res.err)
	}
	r.wantActions(
		wire.OfficerAction{Action: ActionConfirm, CallID: "Q1", Terminal: "T1"},
		wire.OfficerAction{Action: ActionTimeout, CallID: "Q2", Terminal: "T1"},
	)
}

func TestNoQueueMeansBusy(t *testing.T) {
	r := newRig(t, func(c *Config) { c.QueueLimit = -1 })
	r.request(req("B1", ConfirmButton))
	if _, err := r.p.RequestConfirmation(context.Background(), req("B2", ConfirmButton)); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
}

func TestCallerGivesUp(t *testing.T) {
	r := newRig(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch1 := r.requestAsync(ctx, req("G1", ConfirmButton))
	testkit.Eventually(t, waitFor, "G1 shown", func() bool { return r.p.State().CallID == "G1" })
	ch2 := r.requestAsync(context.Background(), req("G2", OfficerCard))
	testkit.Eventually(t, waitFor, "G2 queued", func() bool { return r.p.State().Queued == 1 })
	cancel()
	if res := r.result(ch1); !errors.Is(res.err, context.Canceled) {
		t.Fatalf("G1: %v", res.err)
	}
	testkit.Eventually(t, waitFor, "G2 shown", func() bool { return r.p.State().CallID == "G2" })
	r.p.OfficerTap("0A0B0C0D")
	if res := r.result(ch2); res.err != nil || res.c.OfficerID != "officer-7" {
		t.Fatalf("G2: %+v", res)
	}

	// A queued caller that gives up leaves the queue.
	ch3 := r.request(req("G3", ConfirmButton))
	ctx4, cancel4 := context.WithCancel(context.Background())
	ch4 := r.requestAsync(ctx4, req("G4", ConfirmButton))
	testkit.Eventually(t, waitFor, "G4 queued", func() bool { return r.p.State().Queued == 1 })
	cancel4()
	if res := r.result(ch4); !errors.Is(res.err, context.Canceled) {
		t.Fatalf("G4: %v", res.err)
	}
	if st := r.p.State(); st.Queued != 0 || st.CallID != "G3" {
		t.Fatalf("state %+v", st)
	}
	r.press(board.RoleConfirm)
	if res := r.result(ch3); res.err != nil {
		t.Fatal(res.err)
	}
}

func TestBadRequests(t *testing.T) {
	r := newRig(t, nil)
	for _, q := range []Request{{}, {CallID: "x", Mode: Mode(9)}, {CallID: "x", Window: -time.Second}} {
		if _, err := r.p.RequestConfirmation(context.Background(), q); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("%+v: %v", q, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.p.RequestConfirmation(ctx, req("x", Both)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if st := r.p.State(); st.CallID != "" {
		t.Fatalf("request shown: %+v", st)
	}
}

func TestDefaultWindow(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DefaultWindow = 10 * time.Second })
	ch := r.request(Request{CallID: "D1"})
	r.clk.Advance(10 * time.Second)
	if res := r.result(ch); !errors.Is(res.err, ErrTimeout) {
		t.Fatalf("err = %v", res.err)
	}
}

func TestCloseFailsPendingAndTurnsOff(t *testing.T) {
	r := newRig(t, nil)
	ch := r.request(req("X1", ConfirmButton))
	ch2 := r.requestAsync(context.Background(), req("X2", ConfirmButton))
	testkit.Eventually(t, waitFor, "X2 queued", func() bool { return r.p.State().Queued == 1 })
	if err := r.p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []<-chan result{ch, ch2} {
		if res := r.result(c); !errors.Is(res.err, ErrClosed) {
			t.Fatalf("err = %v", res.err)
		}
	}
	r.wantLEDs("pending=0 approved=0 refused=0 buzzer=0")
	if _, err := r.p.RequestConfirmation(context.Background(), req("X3", Both)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := r.p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCallbackMayCallPanel(t *testing.T) {
	// OnIdleOfficerTap reaching back into the panel must not deadlock.
	var r *rig
	got := make(chan State, 1)
	r = newRig(t, func(c *Config) {
		c.OnIdleOfficerTap = func(string) { got <- r.p.State() }
	})
	r.p.OfficerTap("0A0B0C0D")
	select {
	case <-got:
	case <-time.After(waitFor):
		t.Fatal("callback did not run")
	}
}

// TestRegistryOpenerRealBoard opens the rpi4 board through gpioreg (the
// path real boards take after host.Init) with gpiotest pins registered
// under the BCM names, and confirms a call with the physical button.
func TestRegistryOpenerRealBoard(t *testing.T) {
	b, err := board.Load("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	pins := map[board.Role]*gpiotest.Pin{}
	for _, role := range board.Roles {
		bp, _ := b.Pin(role)
		if gpioreg.ByName(bp.Name) != nil {
			t.Skipf("this host already has a GPIO named %s; not overriding real hardware", bp.Name)
		}
		p := &gpiotest.Pin{N: bp.Name, Num: 1000 + len(pins), EdgesChan: make(chan gpio.Level, 8)}
		if err := gpioreg.Register(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(bp.Name) })
		pins[role] = p
	}
	clk := clock.NewFake(t0)
	p, err := Open(b, Registry{}, Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() {
		_, err := p.RequestConfirmation(context.Background(), req("R1", ConfirmButton))
		done <- err
	}()
	testkit.Eventually(t, waitFor, "pending LED on GPIO22", func() bool { return pins[board.RolePending].Read() == gpio.High })
	pins[board.RoleConfirm].EdgesChan <- gpio.Low // active-low press
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("no confirmation")
	}
	if pins[board.RoleApproved].Read() != gpio.High || pins[board.RolePending].Read() != gpio.Low {
		t.Fatal("LEDs not driven on the registered pins")
	}
}

func TestOpenMissingPin(t *testing.T) {
	b, err := board.Load("generic-gpiochip")
	if err != nil {
		t.Fatal(err)
	}
	if gpioreg.ByName(b.Pins.Confirm.Name) != nil {
		t.Skip("this host has the generic board's lines")
	}
	if _, err := Open(b, Registry{}, Config{}); !errors.Is(err, ErrPin) {
		t.Fatalf("err = %v, want ErrPin", err)
	}
}

func TestHostOpenerWithoutHardware(t *testing.T) {
	b, err := board.Load("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{}
	_, err = Open(b, h, Config{})
	if err == nil {
		t.Skip("this machine has the rpi4 panel's GPIOs; Open succeeded on real hardware and was not exercised further")
	}
	if !errors.Is(err, ErrPin) {
		t.Fatalf("err = %v, want ErrPin", err)
	}
}

func TestOpenerFor(t *testing.T) {
	for name, want := range map[string]string{"sim": "*panel.Sim", "rpi4": "*panel.Host"} {
		b, err := board.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		o, err := OpenerFor(b)
		if err != nil || fmt.Sprintf("%T", o) != want {
			t.Fatalf("%s: %T %v", name, o, err)
		}
	}
	// Open with a nil opener picks the sim pins for the sim board.
	b, _ := board.Load("sim")
	p, err := Open(b, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Press(context.Background(), board.RoleConfirm); err != nil {
		t.Fatal(err)
	}
}

func TestOfficersFromPolicy(t *testing.T) {
	pol := &wire.Policy{People: []wire.Person{
		{ID: "off-1", Status: wire.StatusActive, Officer: true, Cards: []string{"ab12"}},
		{ID: "off-2", Status: wire.StatusSuspended, Officer: true, Cards: []string{"CD34"}},
		{ID: "inmate", Status: wire.StatusActive, Cards: []string{"EF56"}},
	}}
	f := OfficersFromPolicy(pol)
	if id, ok := f("AB12"); !ok || id != "off-1" {
		t.Fatalf("AB12: %q %v", id, ok)
	}
	for _, uid := range []string{"CD34", "EF56", ""} {
		if _, ok := f(uid); ok {
			t.Fatalf("%q known as an officer", uid)
		}
	}
	if _, ok := OfficersFromPolicy(nil)("AB12"); ok {
		t.Fatal("nil policy knows an officer")
	}
}
