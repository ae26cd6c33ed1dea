package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/panel"
	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

const waitLong = 10 * time.Second

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func openSimPanel(t *testing.T, clk clock.Clock) *panel.Panel {
	t.Helper()
	b, err := board.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	p, err := panel.Open(b, panel.NewSim(), panel.Config{Clock: clk, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.SetOfficers(panel.OfficersFromPolicy(&wire.Policy{People: []wire.Person{
		{ID: "o1", Status: wire.StatusActive, Officer: true, Cards: []string{"0F0F0F0F"}},
	}}))
	return p
}

// confirmAsync runs ConfirmCall in the background and waits until the
// panel shows the request.
func confirmAsync(t *testing.T, p *panel.Panel, r authz.ConfirmRequest) <-chan error {
	t.Helper()
	out := make(chan error, 1)
	go func() {
		_, err := panelConfirmer{p}.ConfirmCall(context.Background(), r)
		out <- err
	}()
	testkit.Eventually(t, waitLong, "request "+r.CallID+" to be shown", func() bool { return p.State().CallID == r.CallID })
	return out
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitLong):
		t.Fatal("confirmation never answered")
		return nil
	}
}

// TestPanelConfirmer drives the real panel on the simulated board through
// the adapter the daemon gives the authorizer: each panel outcome becomes
// the refusal reason the caller hears.
func TestPanelConfirmer(t *testing.T) {
	clk := clock.NewFake(t0)
	p := openSimPanel(t, clk)
	ctx := context.Background()

	// Button: pressed through the panel's simulated pin.
	ch := confirmAsync(t, p, authz.ConfirmRequest{CallID: "c1", Terminal: "t1", Mode: wire.ConfirmButton, Window: 30 * time.Second})
	if err := p.Press(ctx, board.RoleConfirm); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, ch); err != nil {
		t.Fatalf("button: %v", err)
	}

	// Card mode, confirmed by the officer's card: who and how.
	var conf authz.Confirmation
	confirmed := make(chan error, 1)
	go func() {
		var err error
		conf, err = panelConfirmer{p}.ConfirmCall(ctx, authz.ConfirmRequest{CallID: "c2", Terminal: "t1", Mode: wire.ConfirmCard, Window: 30 * time.Second})
		confirmed <- err
	}()
	testkit.Eventually(t, waitLong, "request c2 to be shown", func() bool { return p.State().CallID == "c2" })
	p.OfficerTap("0f0f0f0f")
	if err := waitErr(t, confirmed); err != nil || conf.OfficerID != "o1" || conf.Method != panel.MethodCard {
		t.Fatalf("card: %+v %v", conf, err)
	}

	// The window runs out: "officer did not confirm".
	ch = confirmAsync(t, p, authz.ConfirmRequest{CallID: "c3", Terminal: "t1", Mode: wire.ConfirmBoth, Window: 20 * time.Second})
	clk.Advance(21 * time.Second)
	if err := waitErr(t, ch); !errors.Is(err, policy.ErrNotConfirmed) || !errors.Is(err, panel.ErrTimeout) {
		t.Fatalf("timeout: %v", err)
	}

	// Only the cancel button is "officer refused".
	clk.Advance(time.Second) // past the debounce of the last press
	ch = confirmAsync(t, p, authz.ConfirmRequest{CallID: "c4", Terminal: "t1", Mode: wire.ConfirmButton, Window: 20 * time.Second})
	if err := p.Press(ctx, board.RoleCancel); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, ch); !errors.Is(err, policy.ErrOfficerRefused) {
		t.Fatalf("cancel: %v", err)
	}
	// A card that is not an officer's refuses nothing: the window runs
	// out, "officer did not confirm".
	ch = confirmAsync(t, p, authz.ConfirmRequest{CallID: "c5", Terminal: "t1", Mode: wire.ConfirmCard, Window: 20 * time.Second})
	p.OfficerTap("DEADBEEF")
	if s := p.State(); s.CallID != "c5" {
		t.Fatalf("a card that is not an officer's ended the wait: %+v", s)
	}
	clk.Advance(21 * time.Second)
	if err := waitErr(t, ch); !errors.Is(err, policy.ErrNotConfirmed) || errors.Is(err, policy.ErrOfficerRefused) {
		t.Fatalf("card that is not an officer's, then the window: %v", err)
	}

	// A mode the panel does not know, and a closed panel: unavailable.
	if _, err := (panelConfirmer{p}).ConfirmCall(ctx, authz.ConfirmRequest{CallID: "c6", Mode: "retina"}); !errors.Is(err, policy.ErrPanelUnavailable) {
		t.Fatalf("bad mode: %v", err)
	}
	p.Close()
	if _, err := (panelConfirmer{p}).ConfirmCall(ctx, authz.ConfirmRequest{CallID: "c7", Mode: wire.ConfirmButton}); !errors.Is(err, policy.ErrPanelUnavailable) {
		t.Fatalf("closed panel: %v", err)
	}
}

// fakeCalls is call control for officerEnds.
type fakeCalls struct {
	mu     sync.Mutex
	active []callctl.ActiveCall
	ended  []string
	done   chan string
}

func (f *fakeCalls) ActiveCalls() []callctl.ActiveCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]callctl.ActiveCall(nil), f.active...)
}

func (f *fakeCalls) EndCall(_ context.Context, id string) error {
	f.mu.Lock()
	f.ended = append(f.ended, id)
	f.mu.Unlock()
	f.done <- id
	return nil
}

// TestOfficerTapEndsCalls: an officer's idle tap ends the calls of people
// whose rule says so (and only those), reports an end_call action per call
// and names the officer in those calls' records.
func TestOfficerTapEndsCalls(t *testing.T) {
	a := authz.New(clock.NewFake(t0), time.Minute)
	a.SetPolicy(&wire.Policy{V: 1, Version: 1,
		Rules: []wire.CallRule{{Level: "high", Confirm: wire.ConfirmButton, OfficerTapEndsCall: true}},
		People: []wire.Person{
			{ID: "p-high", Status: wire.StatusActive, SupervisionLevel: "high"},
			{ID: "p-low", Status: wire.StatusActive},
		}})
	calls := &fakeCalls{done: make(chan string, 4), active: []callctl.ActiveCall{
		{CallID: "c-high", Terminal: "t1", PersonID: "p-high"},
		{CallID: "c-low", Terminal: "t2", PersonID: "p-low"},
		{CallID: "c-gone", Terminal: "t3", PersonID: "p-unknown"},
	}}
	var mu sync.Mutex
	var actions []wire.OfficerAction
	o := newOfficerEnds(calls, a.RuleFor, func(x wire.OfficerAction) {
		mu.Lock()
		actions = append(actions, x)
		mu.Unlock()
	}, slog.New(slog.NewTextHandler(t.Output(), nil)))

	if ended := o.tapped("o1"); len(ended) != 1 || ended[0] != "c-high" {
		t.Fatalf("ended %v", ended)
	}
	select {
	case id := <-calls.done:
		if id != "c-high" {
			t.Fatalf("EndCall(%s)", id)
		}
	case <-time.After(waitLong):
		t.Fatal("EndCall never called")
	}
	o.wait()
	mu.Lock()
	if len(actions) != 1 || actions[0] != (wire.OfficerAction{Action: ActionEndCall, OfficerID: "o1", CallID: "c-high", Terminal: "t1"}) {
		t.Fatalf("actions %+v", actions)
	}
	mu.Unlock()

	rec := wire.CallRecord{CallID: "c-high", Disposition: wire.DispEnded, Reason: "ended by officer or central"}
	o.annotate(&rec)
	if rec.EndedBy != "o1" || rec.Reason != ReasonEndedByOfficer {
		t.Fatalf("record %+v", rec)
	}
	// Annotated once; other calls untouched.
	other := wire.CallRecord{CallID: "c-high", Disposition: wire.DispEnded}
	o.annotate(&other)
	low := wire.CallRecord{CallID: "c-low", Disposition: wire.DispCompleted}
	o.annotate(&low)
	if other.EndedBy != "" || low.EndedBy != "" {
		t.Fatalf("annotated twice or the wrong call: %+v %+v", other, low)
	}
}
