package hiltests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// The card-reader defects of issue 10, driven through the real appliance
// binary and the PN532 simulator on a pty.

const (
	cardA = "04A1B2C3"
	cardB = "04D5E6F7"
)

// readerRate prices the calls of these tests, so that a call billed to the
// wrong person shows in the accounts.
var readerRate = wire.Rate{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 60, BillingUnitSeconds: 1, ConnectionFee: 5}

// readerEnv is an installation with person A (card cardA) and person B
// (card cardB), both allowed to call the approved number and credited
// 20.00 at readerRate. It returns the people's ids.
func readerEnv(t *testing.T) (e *env, port *phone.Port, personA, personB string) {
	t.Helper()
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e = newEnv(t, family.Addr().String())
	for i, p := range []stack.Person{
		{PrisonNumber: "A1111AA", Name: "Person A", Card: cardA, Numbers: []string{approved}},
		{PrisonNumber: "B2222BB", Name: "Person B", Card: cardB, Numbers: []string{approved}},
	} {
		id, err := e.Seed(e.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Do(e.ctx, "POST", "/api/v1/accounts/"+id+"/recharges", map[string]any{"amount": "20.00", "receipt": fmt.Sprintf("R-%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			personA = id
		} else {
			personB = id
		}
	}
	if err := e.Do(e.ctx, "PUT", "/api/v1/rates", map[string]any{"rates": []wire.Rate{readerRate}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := setCharging(e.ctx, e.Stack, "on"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return e, newPort(t, e), personA, personB
}

// present puts card in the simulated reader's field (until replaced or
// removed) and waits until the reader has answered a poll with it.
func (e *env) present(t *testing.T, card string) {
	t.Helper()
	b, err := readersim.ParseUID(card)
	if err != nil {
		t.Fatal(err)
	}
	before := e.Reader.Stats().Targets
	if err := e.Reader.Present(b); err != nil {
		t.Fatal(err)
	}
	if err := stack.WaitFor(e.ctx, 15*time.Second, "the reader to read card "+card, func() error {
		if e.Reader.Stats().Targets == before {
			return fmt.Errorf("not read")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// waitTaps waits until the appliance has logged n card taps and returns
// their UIDs in order.
func (e *env) waitTaps(t *testing.T, n int, d time.Duration) ([]string, error) {
	t.Helper()
	lines, err := e.WaitApplianceLog(e.ctx, d, n, `msg="card tap"`)
	var uids []string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, " uid="); ok {
			uid, _, _ := strings.Cut(rest, " ")
			uids = append(uids, uid)
		}
	}
	return uids, err
}

// balance is the person's balance at central.
func (e *env) balance(t *testing.T, person string) int64 {
	t.Helper()
	var st statement
	if err := e.Do(e.ctx, "GET", "/api/v1/accounts/"+person, nil, &st); err != nil {
		t.Fatal(err)
	}
	return st.Balance
}

// TestTapsABALastCardDecides is issue 10's "wrong person's call": A taps,
// B taps, A taps again, all within the 2 s dedup window, then a call. The
// call must be decided, billed and recorded as A's (before the fix A's
// second tap was dropped and the call was B's). The appliance's reader log
// lines also carry reader= once (item 6).
func TestTapsABALastCardDecides(t *testing.T) {
	e, port, personA, personB := readerEnv(t)
	start := time.Now()
	e.present(t, cardA)
	e.present(t, cardB)
	e.present(t, cardA)
	e.Reader.Remove()
	if d := time.Since(start); d >= 2*time.Second {
		t.Logf("the three taps took %v, longer than the dedup window: the test proves less than it should", d)
	}
	uids, err := e.waitTaps(t, 3, 15*time.Second)
	if err != nil {
		t.Errorf("the appliance logged taps %v, want %s %s %s: %v", uids, cardA, cardB, cardA, err)
	}
	res := call(t, e, port, approved, 2*time.Second)
	if !res.Answered {
		t.Fatalf("call: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := calls[0]
	if c.PersonID != personA || c.CardUID != cardA {
		t.Fatalf("the call was decided for person %s with card %s, want A (%s, card %s); B is %s", c.PersonID, c.CardUID, personA, cardA, personB)
	}
	if c.Disposition != "completed" || c.Cost <= 0 {
		t.Fatalf("call record %+v, want a completed, billed call", c)
	}
	// The debit reaches central with the record: A pays, B does not.
	if err := stack.WaitFor(e.ctx, time.Minute, "A's debit at central", func() error {
		if b := e.balance(t, personA); b != 2000-c.Cost {
			return fmt.Errorf("A's balance %d, want %d", b, 2000-c.Cost)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if b := e.balance(t, personB); b != 2000 {
		t.Errorf("B's balance %d, want 2000 (B made no call)", b)
	}
	if _, err := e.WaitRecording(e.ctx, c.ID, time.Minute); err != nil {
		t.Errorf("recording of A's call: %v", err)
	}
	lines, err := e.ApplianceLogLines("reader=" + stack.ReaderName)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Error("no appliance log line names the reader")
	}
	for _, l := range lines {
		if strings.Count(l, "reader="+stack.ReaderName) > 1 {
			t.Errorf("log line repeats its reader key: %s", l)
		}
	}
	// No part of the appliance names the appliance twice either (the
	// sync client did).
	all, err := e.ApplianceLogLines("appliance=" + stack.ApplianceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if strings.Count(l, "appliance="+stack.ApplianceID) > 1 {
			t.Fatalf("log line repeats its appliance key: %s", l)
		}
	}
}

// TestCorruptLengthTapNotLost is issue 10's item 3: the PN532 answers the
// poll for a tapped card with a corrupted length byte. The appliance polls
// again at once and the tap (a card held 1 s) decides the call; before the
// fix the driver waited out its 5 s poll timeout and the tap was lost.
func TestCorruptLengthTapNotLost(t *testing.T) {
	e, port, personA, _ := readerEnv(t)
	// The driver has a poll pending (the reader answered it when asked).
	polls := e.Reader.Stats().Commands[0x4A]
	if err := stack.WaitFor(e.ctx, 30*time.Second, "a card poll", func() error {
		if e.Reader.Stats().Commands[0x4A] == polls {
			return fmt.Errorf("no new poll")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.Reader.CorruptLengthNext(1)
	b, _ := readersim.ParseUID(cardA)
	if err := e.Reader.Tap(b, time.Second); err != nil {
		t.Fatal(err)
	}
	if uids, err := e.waitTaps(t, 1, 15*time.Second); err != nil || uids[0] != cardA {
		t.Fatalf("taps %v (%v): the tap whose poll answer had a corrupted length byte was lost", uids, err)
	}
	if lines, _ := e.ApplianceLogLines("unreadable answer to a card poll"); len(lines) == 0 {
		t.Error("the appliance did not log the unreadable answer")
	}
	res := call(t, e, port, approved, time.Second)
	if !res.Answered {
		t.Fatalf("call: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.PersonID != personA || c.CardUID != cardA {
		t.Fatalf("call record %+v, want A's", c)
	}
}

// TestReaderBackAfterLongUnplug is issue 10's item 5: after the reader has
// been unplugged for 35 s (long enough for the old backoff to reach 30 s),
// a card presented as it is plugged back in is read within 10 s, and the
// call is A's. Before the fix the reader was reopened up to 30 s later.
func TestReaderBackAfterLongUnplug(t *testing.T) {
	e, port, personA, _ := readerEnv(t)
	if err := e.Reader.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WaitApplianceLog(e.ctx, 15*time.Second, 1, `msg="card reader down"`); err != nil {
		t.Fatal(err)
	}
	// The unplug's length is the test's input, not a wait for a condition.
	select {
	case <-time.After(35 * time.Second):
	case <-e.ctx.Done():
		t.Fatal(e.ctx.Err())
	}
	b, _ := readersim.ParseUID(cardA)
	if err := e.Reader.Present(b); err != nil {
		t.Fatal(err)
	}
	before := e.Reader.Stats().Targets
	if err := e.Reader.Replug(); err != nil {
		t.Fatal(err)
	}
	plugged := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := stack.WaitFor(ctx, 10*time.Second, "the card read after the replug", func() error {
		if e.Reader.Stats().Targets == before {
			return fmt.Errorf("not read")
		}
		return nil
	}); err != nil {
		t.Fatalf("reader not read again within 10 s of being plugged back in: %v", err)
	}
	t.Logf("card read %v after the replug", time.Since(plugged).Round(time.Millisecond))
	e.Reader.Remove()
	if uids, err := e.waitTaps(t, 1, 15*time.Second); err != nil || uids[0] != cardA {
		t.Fatalf("taps %v: %v", uids, err)
	}
	res := call(t, e, port, approved, time.Second)
	if !res.Answered {
		t.Fatalf("call: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.PersonID != personA || c.CardUID != cardA {
		t.Fatalf("call record %+v, want A's", c)
	}
}
