package hiltests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// command issues a command to the stack's appliance through central's API
// and waits until central has stored the appliance's answer.
func command(t *testing.T, e *env, body map[string]any) store.Command {
	t.Helper()
	path := "/api/v1/appliances/" + stack.ApplianceID + "/commands"
	var c store.Command
	if err := e.Do(e.ctx, "POST", path, body, &c); err != nil {
		t.Fatalf("POST %v: %v", body, err)
	}
	if c.State != store.CommandPending || c.ID == "" || c.Kind != body["kind"] {
		t.Fatalf("created %+v", c)
	}
	var got store.Command
	err := stack.WaitFor(e.ctx, 30*time.Second, "the answer to "+c.Kind, func() error {
		var list struct{ Commands []store.Command }
		if err := e.Do(e.ctx, "GET", path, nil, &list); err != nil {
			return err
		}
		for _, x := range list.Commands {
			if x.ID == c.ID {
				if x.State != store.CommandAnswered {
					return fmt.Errorf("command %s is %s", x.ID, x.State)
				}
				got = x
				return nil
			}
		}
		return fmt.Errorf("command %s not listed", c.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCommands drives central's commands end to end: a lockdown issued
// through the API reaches the appliance (signed, over MQTT), is answered
// and refuses the next call; lifting it lets calls through again; an
// end_call for a call not in progress is answered with its refusal.
//
// end_call of a call in progress, found through GET
// /api/v1/calls/in-progress, is driven by TestFaultForgedCommand.
func TestCommands(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	e := newEnv(t, family.Addr().String())
	seed(t, e)
	port := newPort(t, e)

	if c := command(t, e, map[string]any{"kind": wire.CmdLockdown}); !c.OK || c.Error != "" || c.AnsweredAt == nil {
		t.Fatalf("lockdown answered %+v", c)
	}
	e.tap(t, card)
	wantRefused(t, call(t, e, port, approved, time.Second), "block in lockdown")

	if c := command(t, e, map[string]any{"kind": wire.CmdLiftLockdown, "ttl_seconds": 120}); !c.OK {
		t.Fatalf("lift_lockdown answered %+v", c)
	}
	e.tap(t, card)
	if res := call(t, e, port, approved, time.Second); !res.Answered {
		t.Fatalf("call after lift_lockdown: %d %q", res.Code, res.Reason)
	}

	c := command(t, e, map[string]any{"kind": wire.CmdEndCall, "call_id": "no-such-call"})
	if c.OK || !strings.Contains(c.Error, "no such call") {
		t.Fatalf("end_call of no call answered %+v", c)
	}

	var audit struct{ Audit []store.AuditEntry }
	if err := e.Do(e.ctx, "GET", "/api/v1/audit?action=command.create", nil, &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Audit) != 3 {
		t.Fatalf("audit has %d command.create entries, want 3", len(audit.Audit))
	}
}
