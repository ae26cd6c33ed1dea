package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
