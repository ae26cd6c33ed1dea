package daemon

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// TestCentralEndsCall: end_call for a call in progress ends it and its
// record says central ended it; for an unknown call it is refused.
func TestCentralEndsCall(t *testing.T) {
	calls := &fakeCalls{active: []callctl.ActiveCall{{CallID: "c1", Terminal: "t1", PersonID: "p1"}}, done: make(chan string, 4)}
	o := newOfficerEnds(calls, func(string) (policy.Rule, bool) { return policy.Rule{}, false }, func(wire.OfficerAction) {}, slog.New(slog.DiscardHandler))
	if err := o.endByCentral(calls, "nope", ""); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("unknown call: %v", err)
	}
	if err := o.endByCentral(calls, "c1", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-calls.done:
		if id != "c1" {
			t.Fatalf("ended %s", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("call not ended")
	}
	o.wait()
	rec := wire.CallRecord{CallID: "c1", Disposition: wire.DispEnded}
	o.annotate(&rec)
	if rec.EndedBy != "central" || rec.Reason != ReasonEndedByCentral {
		t.Fatalf("record: ended_by %q reason %q", rec.EndedBy, rec.Reason)
	}
}

// TestCentralEndsCallNamesSender: an end_call command that says who sent
// it (Command.By, capability 21) puts them in the record's ended_by, with
// the reason still "ended by central"; a sender named like an officer id
// does not make it an officer's tap.
func TestCentralEndsCallNamesSender(t *testing.T) {
	for _, by := range []string{"user:alice (Alice Smith)", "o1"} {
		calls := &fakeCalls{active: []callctl.ActiveCall{{CallID: "c1", Terminal: "t1", PersonID: "p1"}}, done: make(chan string, 4)}
		o := newOfficerEnds(calls, func(string) (policy.Rule, bool) { return policy.Rule{}, false }, func(wire.OfficerAction) {}, slog.New(slog.DiscardHandler))
		if err := o.endByCentral(calls, "c1", by); err != nil {
			t.Fatal(err)
		}
		o.wait()
		rec := wire.CallRecord{CallID: "c1", Disposition: wire.DispEnded}
		o.annotate(&rec)
		if rec.EndedBy != by || rec.Reason != ReasonEndedByCentral {
			t.Fatalf("record: ended_by %q reason %q, want %q and %q", rec.EndedBy, rec.Reason, by, ReasonEndedByCentral)
		}
	}
}

// TestLockdownCommandsOutOfOrder: the broker may redeliver queued commands
// in any order after an outage. A lift issued before a lockdown, arriving
// after it, is answered as superseded and leaves the block locked, in the
// authorizer and in bbolt; a newer lift then applies.
func TestLockdownCommandsOutOfOrder(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{ApplianceID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &System{Store: st, Authz: authz.New(clock.NewFake(time.Unix(1e9, 0)), time.Minute), Log: slog.New(slog.DiscardHandler)}
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	cmd := func(kind string, at time.Time) *wire.Command {
		return &wire.Command{ID: kind + at.Format("150405"), Kind: kind, Issued: at, Expires: at.Add(time.Hour)}
	}
	locked := func() bool {
		on, err := st.Lockdown()
		if err != nil {
			t.Fatal(err)
		}
		if on != s.Authz.Lockdown() {
			t.Fatalf("bbolt says %v, authorizer %v", on, s.Authz.Lockdown())
		}
		return on
	}
	if err := s.command(cmd(wire.CmdLockdown, t0.Add(2*time.Minute))); err != nil || !locked() {
		t.Fatalf("lockdown: %v, locked %v", err, locked())
	}
	if err := s.command(cmd(wire.CmdLiftLockdown, t0.Add(time.Minute))); !errors.Is(err, ErrSuperseded) || !locked() {
		t.Fatalf("older lift: %v, locked %v (want ErrSuperseded, still locked)", err, locked())
	}
	if err := s.command(cmd(wire.CmdLiftLockdown, t0.Add(3*time.Minute))); err != nil || locked() {
		t.Fatalf("newer lift: %v, locked %v", err, locked())
	}
}
