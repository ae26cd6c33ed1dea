package policysnap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

func TestMaxContactsAndApprovalWorkflow(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "B"))
	_, err := s.UpdateSettings(ctx, "admin", people.PrisonSettings{PrisonName: "HMP Test", MaxContacts: 2})
	mustT(t, err)
	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)

	c1, _, err := s.AddContact(ctx, "officer:a", ann.ID, people.NewContact{Number: "+44 1111", Name: "Mum", Status: people.ContactRequested, Identity: "passport 1"})
	mustT(t, err)
	if c1.Status != people.ContactRequested || c1.RequestedBy != "officer:a" || c1.DecidedBy != "" || c1.Identity != "passport 1" {
		t.Fatalf("requested contact %+v", c1)
	}
	// A requested contact is not in the policy.
	p, err := s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if len(p.People[0].Numbers) != 0 {
		t.Fatalf("requested number published: %+v", p.People[0].Numbers)
	}
	c2, _, err := s.AddContact(ctx, "officer:a", ann.ID, people.NewContact{Number: "+44 2222", Name: "Dad", Status: people.ContactRequested})
	mustT(t, err)
	// The third is over max_contacts = 2.
	_, _, err = s.AddContact(ctx, "officer:a", ann.ID, people.NewContact{Number: "+44 3333", Name: "Sis", Status: people.ContactRequested})
	if !errors.Is(err, people.ErrTooManyContacts) || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "maximum is 2") {
		t.Fatalf("third contact: %v", err)
	}
	// A rejected one does not count, but one may not be added beyond either.
	if _, _, err := s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+44 4444", Name: "Old", Status: people.ContactRejected}); err != nil {
		t.Fatalf("rejected contact refused: %v", err)
	}

	// Who may decide: not an investigator, not another block's officer.
	for _, d := range []people.Decider{
		{Actor: "user:ivy", Role: store.RoleInvestigator},
		{Actor: "user:fin", Role: store.RoleFinance},
		{Actor: "user:bob", Role: store.RoleBlockOfficer, Blocks: []string{"B"}},
		{Actor: "token:viewer", Role: store.RoleViewer},
	} {
		if _, _, err := s.DecideContact(ctx, d, c1.ID, people.ContactApproved, "checked"); !errors.Is(err, people.ErrNotAllowed) {
			t.Fatalf("%s decided: %v", d.Actor, err)
		}
	}
	officerA := people.Decider{Actor: "user:amy", Role: store.RoleBlockOfficer, Blocks: []string{"A"}}
	if _, _, err := s.DecideContact(ctx, officerA, c1.ID, people.ContactApproved, " "); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("decision without reason: %v", err)
	}
	if _, _, err := s.DecideContact(ctx, officerA, c1.ID, "maybe", "x"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad decision: %v", err)
	}
	v0 := policyVersion(t, s, "appA")
	clk.Advance(time.Minute)
	got, block, err := s.DecideContact(ctx, officerA, c1.ID, people.ContactApproved, "ID checked")
	mustT(t, err)
	if block != "A" || got.Status != people.ContactApproved || got.DecidedBy != "user:amy" || got.DecisionReason != "ID checked" ||
		got.Decided == nil || !got.Decided.Equal(clk.Now()) {
		t.Fatalf("approved %+v %s", got, block)
	}
	if v := policyVersion(t, s, "appA"); v <= v0 {
		t.Fatalf("policy not bumped by approval: %d -> %d", v0, v)
	}
	if _, _, err := s.DecideContact(ctx, officerA, c1.ID, people.ContactApproved, "again"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("approve twice: %v", err)
	}
	admin := people.Decider{Actor: "token:admin", Role: store.RoleAdmin}
	_, _, err = s.DecideContact(ctx, admin, c2.ID, people.ContactRejected, "unknown caller")
	mustT(t, err)
	// Room again: a third may be added now, but the rejected one cannot
	// come back while two are held.
	_, _, err = s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+44 3333", Name: "Sis", Status: people.ContactRequested})
	mustT(t, err)
	if _, _, err := s.DecideContact(ctx, admin, c2.ID, people.ContactApproved, "on appeal"); !errors.Is(err, people.ErrTooManyContacts) {
		t.Fatalf("re-approval over the limit: %v", err)
	}
	p, err = s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if len(p.People[0].Numbers) != 1 || p.People[0].Numbers[0].Number != "+441111" {
		t.Fatalf("policy numbers %+v", p.People[0].Numbers)
	}
	if p.Prison != "HMP Test" {
		t.Fatalf("prison %q", p.Prison)
	}
	log, err := s.AuditLog(ctx, store.AuditFilter{Action: "contact.approve"})
	mustT(t, err)
	if len(log) != 1 || log[0].Actor != "user:amy" || !strings.Contains(log[0].Detail, "ID checked") {
		t.Fatalf("audit %+v", log)
	}
}

func TestSelfBlockedContactNotInPolicy(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)
	c, _, err := s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+44 1111", Name: "Mum"})
	mustT(t, err)
	_, _, err = s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+44 2222", Name: "Dad"})
	mustT(t, err)
	// As the event projection does when the family presses 9.
	if _, err := s.exec(`UPDATE contacts SET self_blocked = 1 WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	p, err := s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if n := p.People[0].Numbers; len(n) != 1 || n[0].Number != "+442222" {
		t.Fatalf("self-blocked number published: %+v", n)
	}
	cs, err := s.Contacts(ctx, ann.ID)
	mustT(t, err)
	if len(cs) != 2 || slices.IndexFunc(cs, func(x people.Contact) bool { return x.SelfBlocked != (x.ID == c.ID) }) >= 0 {
		t.Fatalf("contacts %+v", cs)
	}
	// An appliance's report marks by number (normalized), once, audited
	// once, and names the block to republish every time.
	v0 := policyVersion(t, s, "appA")
	nb := wire.NumberBlocked{CallID: "call-9", PersonID: ann.ID, Terminal: "t1", Number: "0044 2222"}
	for range 2 {
		if b, err := s.SelfBlockReported(ctx, "appA", nb); err != nil || b != "A" {
			t.Fatalf("SelfBlockReported: %q %v", b, err)
		}
	}
	if l, _ := s.AuditLog(ctx, store.AuditFilter{Action: "contact.self_blocked"}); len(l) != 1 || l[0].Actor != "appliance:appA" || l[0].Target != "person:"+ann.ID {
		t.Fatalf("self-block audit %+v", l)
	}
	if b, err := s.SelfBlockReported(ctx, "appA", wire.NumberBlocked{PersonID: ann.ID, Number: "+44 9999"}); err != nil || b != "" {
		t.Fatalf("SelfBlockReported unknown number: %q %v", b, err)
	}
	if _, err := s.SelfBlockReported(ctx, "appA", wire.NumberBlocked{PersonID: ann.ID, Number: "not a number"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("SelfBlockReported bad number: %v", err)
	}
	p, err = s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if len(p.People[0].Numbers) != 0 || p.Version <= v0 {
		t.Fatalf("both self-blocked, still published: %+v v%d", p.People[0].Numbers, p.Version)
	}
	// Lifting needs a reason, refuses a contact not self-blocked, and
	// bumps the policy so the number returns.
	if _, _, err := s.LiftSelfBlock(ctx, "admin", c.ID, " "); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("lift without reason: %v", err)
	}
	v0 = policyVersion(t, s, "appA")
	got, block, err := s.LiftSelfBlock(ctx, "admin", c.ID, "the family asked to be called again")
	mustT(t, err)
	if block != "A" || got.SelfBlocked {
		t.Fatalf("lifted %+v %q", got, block)
	}
	if _, _, err := s.LiftSelfBlock(ctx, "admin", c.ID, "again"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("lift twice: %v", err)
	}
	p, err = s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if len(p.People[0].Numbers) != 1 || p.People[0].Numbers[0].Number != "+441111" || p.Version <= v0 {
		t.Fatalf("after lifting: %+v v%d", p.People[0].Numbers, p.Version)
	}
	if l, _ := s.AuditLog(ctx, store.AuditFilter{Action: "contact.self_block_lift"}); len(l) != 1 || !strings.Contains(l[0].Detail, "called again") {
		t.Fatalf("lift audit %+v", l)
	}
}

func TestGlobalNumbersInPolicy(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "B"))
	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)
	for _, n := range []string{"+44 20 1111", "+44 800 123", "+44 30 3333", "+44 40 4444"} {
		_, _, err := s.AddContact(ctx, "admin", ann.ID, people.NewContact{Number: n, Name: "X"})
		mustT(t, err)
	}
	if _, _, err := s.AddGlobalNumber(ctx, "admin", "+44 20 1111", wire.NumberKindPrivileged, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("no note: %v", err)
	}
	if _, _, err := s.AddGlobalNumber(ctx, "admin", "+44 20 1111", "vip", "x"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad kind: %v", err)
	}
	vB := policyVersion(t, s, "appB")
	g, blocks, err := s.AddGlobalNumber(ctx, "admin", "+44 20 1111", wire.NumberKindPrivileged, "solicitors")
	mustT(t, err)
	if g.Number != "+44201111" || !slices.Equal(blocks, []string{"A", "B"}) {
		t.Fatalf("added %+v %v", g, blocks)
	}
	if policyVersion(t, s, "appB") <= vB {
		t.Fatal("every block's policy must be bumped")
	}
	if _, _, err := s.AddGlobalNumber(ctx, "admin", "+44201111", wire.NumberKindPrivileged, "again"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	_, _, err = s.AddGlobalNumber(ctx, "admin", "+44 800*", wire.NumberKindFree, "free-phone")
	mustT(t, err)
	_, _, err = s.AddGlobalNumber(ctx, "admin", "+44 30 3333", wire.NumberKindHidden, "witness protection")
	mustT(t, err)
	_, _, err = s.AddGlobalNumber(ctx, "admin", "+44 99 9999", wire.NumberKindBlocked, "victim")
	mustT(t, err)
	p, err := s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if len(p.Numbers) != 4 {
		t.Fatalf("policy numbers %+v", p.Numbers)
	}
	flags := map[string][3]bool{}
	for _, n := range p.People[0].Numbers {
		flags[n.Number] = [3]bool{n.Privileged, n.Free, n.Hidden}
	}
	want := map[string][3]bool{"+44201111": {true, false, false}, "+44800123": {false, true, false}, "+44303333": {false, false, true}, "+44404444": {}}
	for k, v := range want {
		if flags[k] != v {
			t.Fatalf("%s flags %v want %v (all %v)", k, flags[k], v, flags)
		}
	}
	if _, err := s.RemoveGlobalNumber(ctx, "admin", "+44 20 1111", wire.NumberKindPrivileged, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("remove without note: %v", err)
	}
	_, err = s.RemoveGlobalNumber(ctx, "admin", "+44 20 1111", wire.NumberKindPrivileged, "no longer their solicitor")
	mustT(t, err)
	if _, err := s.RemoveGlobalNumber(ctx, "admin", "+44 20 1111", wire.NumberKindPrivileged, "again"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	log, err := s.AuditLog(ctx, store.AuditFilter{Action: "number.remove"})
	mustT(t, err)
	if len(log) != 1 || !strings.Contains(log[0].Detail, "no longer their solicitor") {
		t.Fatalf("audit %+v", log)
	}
}

func TestRulesWindowsAndPersonOverridesInPolicy(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	_, err := s.UpdateSettings(ctx, "admin", people.PrisonSettings{PrisonName: "HMP Test", TimeZone: "Europe/London", MaxContacts: 10})
	mustT(t, err)
	if _, err := s.UpdateSettings(ctx, "admin", people.PrisonSettings{TimeZone: "Mars/Olympus", MaxContacts: 10}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad zone: %v", err)
	}
	if _, err := s.UpdateSettings(ctx, "admin", people.PrisonSettings{MaxContacts: 0}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("zero max contacts: %v", err)
	}
	ws, _ := people.ParseWindows("1-5 08:00-20:00")
	rule := wire.CallRule{Level: "high", Confirm: wire.ConfirmButton, MaxDurationSeconds: 600, CallsPerDay: 2, CallsPerWeek: 10, CallsPerMonth: 30, Windows: ws}
	mustT(t, s.PutRule(ctx, "admin", "A", rule))
	mustT(t, s.PutRule(ctx, "admin", "A", wire.CallRule{Level: "", MaxDurationSeconds: 1200}))
	for _, bad := range []wire.CallRule{
		{Level: "x", CallsPerDay: -1},
		{Level: "x", MaxDurationSeconds: people.MaxCallDurationSeconds + 1},
		{Level: "x", Windows: []wire.Window{{Start: "25:00", End: "26:00"}}},
	} {
		if err := s.PutRule(ctx, "admin", "A", bad); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("rule %+v accepted: %v", bad, err)
		}
	}
	bw, _ := people.ParseWindows("07:00-21:00")
	mustT(t, s.SetBlockWindows(ctx, "admin", "A", bw))
	if err := s.SetBlockWindows(ctx, "admin", "Z", bw); !errors.Is(err, store.ErrUnknownBlock) {
		t.Fatalf("unknown block: %v", err)
	}
	pw, _ := people.ParseWindows("0 10:00-11:00")
	ann, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", SupervisionLevel: "high", Windows: pw, MaxDurationSeconds: 300})
	mustT(t, err)
	if ann.MaxDurationSeconds != 300 || len(ann.Windows) != 1 {
		t.Fatalf("person %+v", ann)
	}
	p, err := s.PolicyFor(ctx, "appA")
	mustT(t, err)
	if p.TimeZone != "Europe/London" || p.Prison != "HMP Test" || len(p.Windows) != 1 || p.Windows[0].Start != "07:00" {
		t.Fatalf("policy header %+v", p)
	}
	if len(p.Rules) != 2 || p.Rules[1].Level != "high" || p.Rules[1].CallsPerDay != 2 || p.Rules[1].CallsPerMonth != 30 ||
		p.Rules[1].MaxDurationSeconds != 600 || len(p.Rules[1].Windows) != 1 || p.Rules[0].MaxDurationSeconds != 1200 {
		t.Fatalf("rules %+v", p.Rules)
	}
	if pp := p.People[0]; pp.MaxDurationSeconds != 300 || len(pp.Windows) != 1 || pp.Windows[0].Days[0] != 0 {
		t.Fatalf("person in policy %+v", pp)
	}
	mustT(t, s.DeleteRule(ctx, "admin", "A", "high"))
	if err := s.DeleteRule(ctx, "admin", "A", "high"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}

	// Suspension with a reason and an end; ExpireSuspensions lifts it.
	until := clk.Now().Add(48 * time.Hour)
	st, reason := wire.StatusSuspended, "fight"
	got, _, err := s.UpdatePerson(ctx, "admin", ann.ID, people.PersonUpdate{Status: &st, StatusReason: &reason, SuspendedUntil: &until})
	mustT(t, err)
	if got.Status != st || got.StatusReason != "fight" || got.SuspendedUntil == nil || !got.SuspendedUntil.Equal(until) {
		t.Fatalf("suspended %+v", got)
	}
	if b, err := s.ExpireSuspensions(ctx); err != nil || len(b) != 0 {
		t.Fatalf("early expiry %v %v", b, err)
	}
	clk.Advance(49 * time.Hour)
	b, err := s.ExpireSuspensions(ctx)
	mustT(t, err)
	got, err = s.Person(ctx, ann.ID)
	mustT(t, err)
	if !slices.Equal(b, []string{"A"}) || got.Status != wire.StatusActive || got.SuspendedUntil != nil || got.StatusReason != "" {
		t.Fatalf("after expiry %v %+v", b, got)
	}
}
