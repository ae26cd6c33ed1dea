package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

func TestRaiseAndClearCentralAlarms(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "B"))
	// A retried forged batch raises one open alarm, not one per retry.
	for i := range 3 {
		added, err := s.RaiseAlarm(ctx, "appA", AlarmBatchRefused, "signature", fmt.Sprintf("forged seq 1..5 (try %d)", i))
		mustT(t, err)
		if added != (i == 0) {
			t.Fatalf("try %d added=%v", i, added)
		}
		clk.Advance(time.Second)
	}
	if _, err := s.RaiseAlarm(ctx, "app/+", AlarmBatchRefused, "signature", "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wildcard appliance id: %v", err)
	}
	if _, err := s.RaiseAlarm(ctx, "appB", AlarmBatchRefused, "signature", strings.Repeat("m", 5000)); err != nil {
		t.Fatal(err)
	}
	all, err := s.AlarmList(ctx, AlarmFilter{})
	mustT(t, err)
	if len(all) != 2 || all[0].ApplianceID != "appB" || len(all[0].Message) != maxAlarmMessage || all[1].Block != "A" || all[1].Origin != originCentral {
		t.Fatalf("alarms %+v", all)
	}
	// Scope: a block officer of B sees B's alarm only; no blocks, none.
	if got, _ := s.AlarmList(ctx, AlarmFilter{Blocks: []string{"B"}}); len(got) != 1 || got[0].ApplianceID != "appB" {
		t.Fatalf("scoped %+v", got)
	}
	if got, _ := s.AlarmList(ctx, AlarmFilter{Blocks: []string{}}); len(got) != 0 {
		t.Fatalf("empty scope %+v", got)
	}
	a := all[1]
	if _, err := s.ClearAlarm(ctx, "user:ada", a.ID, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("clear without note: %v", err)
	}
	got, err := s.ClearAlarm(ctx, "user:ada", a.ID, "key mismatch fixed")
	mustT(t, err)
	if got.Cleared == nil || !got.Cleared.Equal(clk.Now().UTC()) {
		t.Fatalf("cleared %+v", got)
	}
	if _, err := s.ClearAlarm(ctx, "user:ada", a.ID, "again"); !errors.Is(err, ErrConflict) {
		t.Fatalf("clear twice: %v", err)
	}
	if open, _ := s.AlarmList(ctx, AlarmFilter{ApplianceID: "appA", Open: true}); len(open) != 0 {
		t.Fatalf("open after clear %+v", open)
	}
	if l, _ := s.AuditLog(ctx, AuditFilter{Action: "alarm.clear"}); len(l) != 1 || l[0].Target != a.ID || !strings.Contains(l[0].Detail, "key mismatch") {
		t.Fatalf("clear audit %+v", l)
	}
	// Once cleared, the next refusal raises a new alarm.
	if added, err := s.RaiseAlarm(ctx, "appA", AlarmBatchRefused, "signature", "again"); err != nil || !added {
		t.Fatalf("raise after clear: %v %v", added, err)
	}
	// An appliance's own alarm and a stream gap are not cleared by hand.
	evs := chain("appA", 1, 1, "", func(uint64) (wire.EventType, any) {
		return wire.EventAlarm, wire.Alarm{Code: "tamper", Source: "reader1", Message: "lid open"}
	})
	evs = append(evs, chain("appA", 3, 3, "x", callEvent)...)
	_, err = s.StoreEvents(ctx, "appA", evs)
	mustT(t, err)
	for _, code := range []string{"tamper", AlarmEventGap} {
		al, _ := s.AlarmList(ctx, AlarmFilter{ApplianceID: "appA", Open: true})
		i := slices.IndexFunc(al, func(a Alarm) bool { return a.Code == code })
		if i < 0 {
			t.Fatalf("no %s alarm in %+v", code, al)
		}
		if _, err := s.ClearAlarm(ctx, "user:ada", al[i].ID, "looked"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("clear %s: %v", code, err)
		}
	}
	if _, err := s.ClearAlarm(ctx, "user:ada", "nope", "looked"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("clear unknown: %v", err)
	}
}

func TestAuditFilterByTime(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	for i := range 4 {
		mustT(t, s.Audit(ctx, "user:ada", "calls.search", "console", fmt.Sprint(i)))
		clk.Advance(time.Hour)
	}
	from, to := t0.Add(time.Hour), t0.Add(3*time.Hour)
	l, err := s.AuditLog(ctx, AuditFilter{From: from, To: to})
	mustT(t, err)
	if len(l) != 2 || l[0].Detail != "2" || l[1].Detail != "1" {
		t.Fatalf("time filter %+v", l)
	}
	if l, _ := s.AuditLog(ctx, AuditFilter{Actor: "user:ada", From: from}); len(l) != 3 {
		t.Fatalf("from only %+v", l)
	}
	var b strings.Builder
	mustT(t, s.ExportAuditCSV(ctx, "user:ada", AuditFilter{Action: "calls.search", From: from, To: to}, &b))
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 3 {
		t.Fatalf("csv %q", b.String())
	}
}

func TestAccountsList(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "B"))
	ann, err := createPerson(ctx, s, "admin", newPerson{PrisonNumber: "A1", Name: "Ann Lee", Block: "A"})
	mustT(t, err)
	_, err = createPerson(ctx, s, "admin", newPerson{PrisonNumber: "B1", Name: "Bob Roe", Block: "B"})
	mustT(t, err)
	_, err = createPerson(ctx, s, "admin", newPerson{PrisonNumber: "S1", Name: "Sam Officer", Block: "A", Officer: true})
	mustT(t, err)
	_, _, err = s.Recharge(ctx, "admin", ann.ID, 1250, "R-1")
	mustT(t, err)
	_, _, err = s.Adjust(ctx, "admin", ann.ID, -250, "correction")
	mustT(t, err)
	as, err := s.Accounts(ctx, AccountFilter{})
	mustT(t, err)
	if len(as) != 2 || as[0].Account != ann.ID || as[0].Balance != ledger.Money(1000) || as[0].Entries != 2 || as[0].LastEntry == nil ||
		as[1].PrisonNumber != "B1" || as[1].Balance != 0 || as[1].Entries != 0 || as[1].LastEntry != nil {
		t.Fatalf("accounts %+v", as)
	}
	if bal, _ := s.Balance(ctx, ann.ID); bal != as[0].Balance {
		t.Fatalf("list balance %d, Balance %d", as[0].Balance, bal)
	}
	if got, _ := s.Accounts(ctx, AccountFilter{Blocks: []string{"B"}}); len(got) != 1 || got[0].PrisonNumber != "B1" {
		t.Fatalf("scoped %+v", got)
	}
	if got, _ := s.Accounts(ctx, AccountFilter{Query: "lee"}); len(got) != 1 || got[0].Account != ann.ID {
		t.Fatalf("query %+v", got)
	}
	if got, _ := s.Accounts(ctx, AccountFilter{Query: "%"}); len(got) != 0 {
		t.Fatalf("wildcard query matched %+v", got)
	}
}

func TestPrivilegedAndHiddenCallsFromGlobalNumbers(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	err := addGlobalNumber(ctx, s, "admin", "+44 20 7946 0000", wire.NumberKindPrivileged, "legal aid line")
	mustT(t, err)
	err = addGlobalNumber(ctx, s, "admin", "+33*", wire.NumberKindHidden, "investigation")
	mustT(t, err)
	numbers := map[uint64]string{1: "+44 20 7946 0000", 2: "+33 1 2345 6789", 3: "+44 161 000 0000", 4: "+44 161 999 9999"}
	_, err = s.StoreEvents(ctx, "appA", chain("appA", 1, 4, "", func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		c := p.(wire.CallRecord)
		c.Number = numbers[seq]
		return typ, c
	}))
	mustT(t, err)
	// The projection stores the flags the list gave.
	var priv, hid int
	mustT(t, s.r.QueryRow(`SELECT privileged, hidden FROM calls WHERE call_id = 'call-1'`).Scan(&priv, &hid))
	if priv != 1 || hid != 0 {
		t.Fatalf("call-1 stored privileged=%d hidden=%d", priv, hid)
	}
	mustT(t, s.r.QueryRow(`SELECT privileged, hidden FROM calls WHERE call_id = 'call-2'`).Scan(&priv, &hid))
	if priv != 0 || hid != 1 {
		t.Fatalf("call-2 stored privileged=%d hidden=%d", priv, hid)
	}
	// A number put on the list later covers its earlier calls at read time.
	err = addGlobalNumber(ctx, s, "admin", "+44 161 999*", wire.NumberKindHidden, "witness")
	mustT(t, err)
	ids := func(f CallFilter) []string {
		t.Helper()
		cs, err := s.Calls(ctx, f)
		mustT(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(CallFilter{}); !slices.Equal(got, []string{"call-3", "call-1"}) {
		t.Fatalf("ordinary search %v", got)
	}
	if got := ids(CallFilter{ShowHidden: true}); !slices.Equal(got, []string{"call-4", "call-3", "call-2", "call-1"}) {
		t.Fatalf("search with hidden %v", got)
	}
	c1, err := s.Call(ctx, "call-1")
	mustT(t, err)
	c4, err := s.Call(ctx, "call-4")
	mustT(t, err)
	c3, err := s.Call(ctx, "call-3")
	mustT(t, err)
	if !c1.Privileged || c1.Hidden || !c4.Hidden || c4.Privileged || c3.Hidden || c3.Privileged {
		t.Fatalf("flags: 1 %v/%v 4 %v/%v 3 %v/%v", c1.Privileged, c1.Hidden, c4.Privileged, c4.Hidden, c3.Privileged, c3.Hidden)
	}
	// Taking the privileged number off the list keeps the stored flag.
	err = removeGlobalNumber(ctx, s, "admin", "+44 20 7946 0000", wire.NumberKindPrivileged, "line closed")
	mustT(t, err)
	if c, _ := s.Call(ctx, "call-1"); !c.Privileged {
		t.Fatal("stored privileged flag lost")
	}
}

func TestTerminalsFromEvents(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	_, err := s.StoreEvents(ctx, "appA", chain("appA", 1, 4, "", func(seq uint64) (wire.EventType, any) {
		switch seq {
		case 1:
			return wire.EventCardTap, wire.CardTap{Reader: "reader-1", Terminal: "t1", UID: "04a1"}
		case 2:
			return callEvent(seq) // on t1, ends later than the tap
		case 3:
			return wire.EventOfficer, wire.OfficerAction{Action: "confirm", Terminal: "t2"}
		}
		return wire.EventCardTap, wire.CardTap{Reader: "reader-1", Terminal: strings.Repeat("x", 200), UID: "04a1"}
	}))
	mustT(t, err)
	ts, err := s.Terminals(ctx)
	mustT(t, err)
	_, call := callEvent(2)
	if len(ts) != 2 || ts[0].Terminal != "t1" || ts[0].Reader != "reader-1" || ts[0].Block != "A" || !ts[0].LastSeen.Equal(call.(wire.CallRecord).End) ||
		ts[1].Terminal != "t2" || ts[1].Reader != "" || !ts[1].LastSeen.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("terminals %+v", ts)
	}
	// An older event does not move last seen back.
	_, err = s.StoreEvents(ctx, "appA", chain("appA", 5, 5, "", func(uint64) (wire.EventType, any) {
		return wire.EventOfficer, wire.OfficerAction{Action: "tap", Terminal: "t1"}
	}))
	mustT(t, err)
	if ts2, _ := s.Terminals(ctx); !ts2[0].LastSeen.Equal(*ts[0].LastSeen) || ts2[0].Reader != "reader-1" {
		t.Fatalf("after an older event %+v", ts2)
	}
}
