package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func testCommand(id, app, kind string, issued time.Time, ttl time.Duration) *wire.Command {
	return &wire.Command{V: wire.ProtocolVersion, ID: id, ApplianceID: app, Kind: kind, Issued: issued, Expires: issued.Add(ttl)}
}

func TestCommandLifecycle(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app-1", "A"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertAppliance(ctx, "app-2", "A"); err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	lock := testCommand("c1", "app-1", wire.CmdLockdown, now, time.Minute)
	if err := s.CreateCommand(ctx, "admin", lock); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCommand(ctx, "admin", lock); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate id: %v, want ErrConflict", err)
	}
	if err := s.CreateCommand(ctx, "admin", testCommand("c2", "nope", wire.CmdLockdown, now, time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown appliance: %v, want ErrNotFound", err)
	}
	if err := s.CreateCommand(ctx, "admin", testCommand("c3", "app-1", wire.CmdEndCall, now, time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("end_call without call id: %v, want ErrInvalid", err)
	}
	short := testCommand("c4", "app-1", wire.CmdRefresh, now.Add(time.Second), 10*time.Second)
	if err := s.CreateCommand(ctx, "admin", short); err != nil {
		t.Fatal(err)
	}
	log, err := s.AuditLog(ctx, AuditFilter{Action: "command.create"})
	if err != nil || len(log) != 2 || log[0].Target != "app-1" || log[0].Actor != "admin" {
		t.Fatalf("audit: %+v %v", log, err)
	}

	list, err := s.Commands(ctx, "app-1")
	if err != nil || len(list) != 2 || list[0].ID != "c4" || list[1].ID != "c1" {
		t.Fatalf("commands: %+v %v", list, err)
	}
	if list[1].State != CommandPending || list[1].IssuedBy != "admin" || list[1].Kind != wire.CmdLockdown || !list[1].Expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("c1: %+v", list[1])
	}

	// Answers: only from the appliance it was sent to; first wins.
	ans := &wire.CommandAnswer{V: wire.ProtocolVersion, ApplianceID: "app-2", ID: "c1", OK: true, At: now.Add(2 * time.Second)}
	if err := s.AnswerCommand(ctx, ans); !errors.Is(err, ErrNotFound) {
		t.Fatalf("foreign answer: %v, want ErrNotFound", err)
	}
	ans.ApplianceID = "app-1"
	if err := s.AnswerCommand(ctx, ans); err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerCommand(ctx, &wire.CommandAnswer{V: 1, ApplianceID: "app-1", ID: "c1", OK: false, Error: "late", At: now.Add(5 * time.Second)}); err != nil {
		t.Fatalf("second answer: %v", err)
	}
	if err := s.AnswerCommand(ctx, &wire.CommandAnswer{V: 1, ApplianceID: "app-1", ID: "zz", OK: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}

	clk.Advance(30 * time.Second) // c4 expired unanswered; c1 answered
	list, err = s.Commands(ctx, "app-1")
	if err != nil || len(list) != 2 {
		t.Fatal(list, err)
	}
	c4, c1 := list[0], list[1]
	if c4.State != CommandExpired || c4.AnsweredAt != nil {
		t.Fatalf("c4: %+v", c4)
	}
	if c1.State != CommandAnswered || !c1.OK || c1.Error != "" || c1.AnsweredAt == nil || !c1.AnsweredAt.Equal(now.Add(2*time.Second)) {
		t.Fatalf("c1 after answers: %+v", c1)
	}
	if other, err := s.Commands(ctx, "app-2"); err != nil || len(other) != 0 {
		t.Fatalf("app-2: %+v %v", other, err)
	}
}
