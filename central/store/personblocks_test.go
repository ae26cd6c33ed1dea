package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// A call record and its debit about a person of another block, signed by
// (here: stored for) block A's own appliance, are kept in the stream and
// acknowledged but not projected: no call row, no debit, an alarm each.
func TestForeignPersonEventsNotProjected(t *testing.T) {
	s, ann, bob := moneyFixture(t)
	credit(t, s, bob, 1000, "R-1")
	start := t0.Add(time.Minute)
	ans := start.Add(5 * time.Second)
	forged := wire.CallRecord{CallID: "forged-1", PersonID: bob, Terminal: "t1", Number: "+442079460000",
		Start: start, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Cost: 300, Currency: "EUR"}
	own := forged
	own.CallID, own.PersonID = "own-1", ann
	evs := ledgerEvents("appA", 1, "", forged, debit("appA:1", "appA", bob, -300, "forged-1", ans), own)
	if ack := mustStore(t, s, "appA", evs); ack != 3 {
		t.Fatalf("ack %d, want 3: the foreign events are kept in the stream", ack)
	}
	if b := balance(t, s, bob); b != 1000 {
		t.Fatalf("bob's balance %d, want 1000 (block A's appliance may not debit block B's people)", b)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls WHERE call_id = 'forged-1'`); n != 0 {
		t.Fatal("foreign call record projected")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM calls WHERE call_id = 'own-1'`); n != 1 {
		t.Fatal("the appliance's own person's call not projected")
	}
	al := ledgerAlarms(t, s, "appA", AlarmForeignPerson)
	if len(al) != 2 || al[0].Origin != originCentral || !strings.Contains(al[0].Message, bob) {
		t.Fatalf("foreign-person alarms %+v, want 2 naming %s", al, bob)
	}
	// Redelivered: no second alarm, still no debit.
	mustStore(t, s, "appA", evs)
	if al := ledgerAlarms(t, s, "appA", AlarmForeignPerson); len(al) != 2 {
		t.Fatalf("alarms after redelivery %+v", al)
	}
	if b := balance(t, s, bob); b != 1000 {
		t.Fatalf("balance %d after redelivery", b)
	}
}

// A person moved from block A to block B: A's events from before the move
// are A's (reported late, after the move, they still count), events after
// it are B's.
func TestPersonMoveDecidesByEventTime(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		if err := s.UpsertAppliance(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	setTestRate(t, s)
	p, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: "M1", Name: "Mover", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	credit(t, s, p.ID, 1000, "R-1")
	clk.Advance(time.Hour)
	blk := "B"
	if err := movePerson(ctx, s, "test", p.ID, blk); err != nil {
		t.Fatal(err)
	}
	before, after := t0.Add(30*time.Minute), t0.Add(2*time.Hour)
	// Both arrive after the move.
	mustStore(t, s, "appA", atTimes(ledgerEvents("appA", 1, "",
		debit("appA:1", "appA", p.ID, -100, "a1", before), // A's: legitimate
		debit("appA:2", "appA", p.ID, -200, "a2", after)), // after the move: not A's
		before, after))
	mustStore(t, s, "appB", atTimes(ledgerEvents("appB", 1, "",
		debit("appB:1", "appB", p.ID, -400, "b1", before), // before the move: not B's
		debit("appB:2", "appB", p.ID, -50, "b2", after)),  // B's: legitimate
		before, after))
	if b := balance(t, s, p.ID); b != 1000-100-50 {
		t.Fatalf("balance %d, want %d", b, 1000-100-50)
	}
	if a, b := len(ledgerAlarms(t, s, "appA", AlarmForeignPerson)), len(ledgerAlarms(t, s, "appB", AlarmForeignPerson)); a != 1 || b != 1 {
		t.Fatalf("foreign-person alarms: appA %d, appB %d; want 1 each", a, b)
	}
}

// atTimes gives evs the times ts (in order) and seals and chains them again.
func atTimes(evs []wire.Event, ts ...time.Time) []wire.Event {
	prev := ""
	for i := range evs {
		evs[i].Time, evs[i].PrevHash = ts[i], prev
		evs[i].Seal()
		prev = evs[i].Hash
	}
	return evs
}
