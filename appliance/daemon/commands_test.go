package daemon

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// TestCentralEndsCall: end_call for a call in progress ends it and its
// record says central ended it; for an unknown call it is refused.
func TestCentralEndsCall(t *testing.T) {
	calls := &fakeCalls{active: []callctl.ActiveCall{{CallID: "c1", Terminal: "t1", PersonID: "p1"}}, done: make(chan string, 4)}
	o := newOfficerEnds(calls, func(string) (policy.Rule, bool) { return policy.Rule{}, false }, func(wire.OfficerAction) {}, slog.New(slog.DiscardHandler))
	if err := o.endByCentral(calls, "nope"); !errors.Is(err, ErrNoSuchCall) {
		t.Fatalf("unknown call: %v", err)
	}
	if err := o.endByCentral(calls, "c1"); err != nil {
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
