package store

import (
	"context"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// TestCallsInProgress: a call_started event lists the call; its record
// (in the same batch or a later one) ends it; a start that arrives after
// its record (redelivered, reordered) lists nothing; calls_cleared ends
// the appliance's older calls and no other appliance's; hidden calls (by
// the appliance's flag or central's hidden numbers) only for those who
// see them; block scopes.
func TestCallsInProgress(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "B"))
	if err := addGlobalNumber(ctx, s, "test", "+449999", wire.NumberKindHidden, "a hidden line"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	started := func(id, number string, at time.Time) wire.CallStarted {
		return wire.CallStarted{CallID: id, Terminal: "t1", PersonID: "p1", PrisonNumber: "A1", Number: number, Start: at}
	}
	record := func(id string, at time.Time) wire.CallRecord {
		return wire.CallRecord{CallID: id, PersonID: "p1", Terminal: "t1", Number: "+4411", Start: at, End: at.Add(time.Minute), Disposition: wire.DispCompleted}
	}
	ids := func(f InProgressFilter) []string {
		t.Helper()
		cs, err := s.CallsInProgress(ctx, f)
		mustT(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.CallID)
		}
		return out
	}
	all := InProgressFilter{WithHidden: true}
	// Batch 1: a1 starts and ends; a2 and a3 (a hidden number) start.
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "",
		started("a1", "+4411", t0), record("a1", t0), started("a2", "+44 11", t0.Add(time.Second)), started("a3", "+449999", t0.Add(2*time.Second))))
	if got := ids(all); len(got) != 2 || got[0] != "a2" || got[1] != "a3" {
		t.Fatalf("in progress %v, want a2 a3", got)
	}
	cs, err := s.CallsInProgress(ctx, all)
	mustT(t, err)
	if c := cs[0]; c.ApplianceID != "appA" || c.Block != "A" || c.Number != "+4411" || !c.Start.Equal(t0.Add(time.Second)) || c.Hidden || !cs[1].Hidden {
		t.Fatalf("rows %+v", cs)
	}
	if got := ids(InProgressFilter{}); len(got) != 1 || got[0] != "a2" {
		t.Fatalf("without hidden %v", got)
	}
	if got := ids(InProgressFilter{Blocks: []string{"B"}, WithHidden: true}); len(got) != 0 {
		t.Fatalf("block B sees %v", got)
	}
	// Batch 2 (appB): b1 starts. Batch 3 (appA): a2 ends; a record
	// stored before its start (a1 again) lists nothing.
	mustStore(t, s, "appB", ledgerEvents("appB", 1, "", started("b1", "+4411", t0)))
	evA := ledgerEvents("appA", 1, "", started("a1", "+4411", t0), record("a1", t0), started("a2", "+44 11", t0.Add(time.Second)),
		started("a3", "+449999", t0.Add(2*time.Second)), record("a2", t0), started("a1", "+4411", t0))
	mustStore(t, s, "appA", evA[4:])
	if got := ids(all); len(got) != 2 || got[0] != "b1" || got[1] != "a3" {
		t.Fatalf("after a2's record %v, want b1 a3", got)
	}
	// appA restarts: its older calls are over (a9 too, whose start is in
	// the same batch as the clear), appB's b1 is not.
	ev := chain("appA", 7, 8, evA[5].Hash, func(seq uint64) (wire.EventType, any) {
		if seq == 7 {
			return wire.EventCallStarted, started("a9", "+4411", t0.Add(30*time.Minute))
		}
		return wire.EventCallsCleared, wire.CallsCleared{At: t0.Add(time.Hour)}
	})
	mustStore(t, s, "appA", ev)
	if got := ids(all); len(got) != 1 || got[0] != "b1" {
		t.Fatalf("after appA's restart %v, want b1", got)
	}
}
