package hiltests

// Moving a person between blocks, with central's real store (SQLite): after
// UpdatePerson changes the person's block and central publishes the two
// blocks' policies, the old block's appliance no longer holds the person and
// the new block's appliance holds them with their balance (credits minus
// the old appliance's debits) and their answered calls (RecentCalls, for
// quotas) intact.

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appstore "github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

func TestMovePersonBetweenBlocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cs, err := store.Open(ctx, filepath.Join(dir, "central.db"), filepath.Join(dir, "recordings"), syncLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	ms := money.New(cs)
	const appA, appB = "move-a", "move-b"
	for _, a := range [][2]string{{appA, "A"}, {appB, "B"}} {
		if err := cs.UpsertAppliance(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms.SetRates(ctx, "admin", []wire.Rate{{Prefix: "", DestinationType: wire.DestNational, PerMinute: 60, BillingUnitSeconds: 60}}); err != nil {
		t.Fatal(err)
	}
	set, err := ms.MoneySettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.Charging = store.ChargingOn
	if err := ms.SetMoneySettings(ctx, "admin", set); err != nil {
		t.Fatal(err)
	}
	person, err := people.New(cs).CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "M0001", Name: "Mover", Block: "A", Status: wire.StatusActive, PIN: "4321", Cards: []string{"04AA0001"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := person.ID
	if _, _, err := ms.Recharge(ctx, "admin", pid, 1000, "receipt-1"); err != nil {
		t.Fatal(err)
	}

	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{appA: "pw-a", appB: "pw-b"}}, syncLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	user, pass := b.InternalCredentials()
	svc, err := ingest.New(ingest.Config{Broker: "tcp://" + b.Addr(), Username: user, Password: pass, ChunkDir: t.TempDir()}, policysnap.NewIngestStore(cs, people.New(cs)), syncLog())
	if err != nil {
		t.Fatal(err)
	}
	runBG(t, svc.Run)
	select {
	case <-svc.Ready():
	case <-time.After(syncPatience):
		t.Fatal("ingest did not connect")
	}

	start := func(id, pw string) (*appstore.Store, chan *wire.Policy) {
		st := openApplianceStore(t, id)
		ch := make(chan *wire.Policy, 64)
		c, err := syncclient.New(syncclient.Config{Broker: "tcp://" + b.Addr(), ApplianceID: id, Password: pw, AckTimeout: 5 * time.Second, Software: "hil"},
			syncclient.Deps{Store: st, Log: syncLog(), OnPolicy: func(p *wire.Policy) { ch <- p }})
		if err != nil {
			t.Fatal(err)
		}
		runBG(t, c.Run)
		return st, ch
	}
	stA, polA := start(appA, "pw-a")
	_, polB := start(appB, "pw-b")
	waitPolicyWhere(t, polA, "A holds the person with 10.00", func(p *wire.Policy) bool {
		return holds(p, pid) && balanceOf(p, pid) == 1000
	})

	// A call on appliance A: answered, 2 minutes, 120 debited.
	answer := time.Now().Add(-3 * time.Minute).UTC().Truncate(time.Second)
	const callID = "call-move-1"
	err = stA.Update(func(tx *appstore.Tx) error {
		if _, err := tx.Append(wire.EventCall, wire.CallRecord{CallID: callID, PersonID: pid, PrisonNumber: "M0001", CardUID: "04AA0001", Terminal: "t1",
			Number: "+33123456789", Start: answer.Add(-10 * time.Second), Answer: &answer, End: answer.Add(2 * time.Minute),
			Disposition: wire.DispCompleted, Cost: 120, Currency: "EUR"}); err != nil {
			return err
		}
		_, err := tx.Append(wire.EventLedger, wire.LedgerEntry{ID: appA + "-debit-" + callID, Account: pid, Kind: wire.LedgerCallDebit,
			Amount: -120, Currency: "EUR", Ref: callID, At: answer, Origin: appA})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, syncPatience, "central holds the debit", func() bool {
		bal, err := ms.Balance(ctx, pid)
		return err == nil && bal == 880
	})

	// The move.
	blockB := "B"
	_, blocks, err := people.New(cs).UpdatePerson(ctx, "admin", pid, people.PersonUpdate{Block: &blockB})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(blocks, "A") || !slices.Contains(blocks, "B") {
		t.Fatalf("UpdatePerson says blocks %v changed, want A and B", blocks)
	}
	for _, blk := range blocks {
		svc.PolicyChanged(ctx, blk)
	}
	waitPolicyWhere(t, polA, "A no longer holds the person", func(p *wire.Policy) bool { return !holds(p, pid) })
	pb := waitPolicyWhere(t, polB, "B holds the person", func(p *wire.Policy) bool { return holds(p, pid) })
	if got := balanceOf(pb, pid); got != 880 {
		t.Fatalf("B's policy gives the person a balance of %d, want 880", got)
	}
	acct := accountOf(pb, pid)
	if acct == nil || len(acct.RecentCalls) != 1 || acct.RecentCalls[0].CallID != callID || !acct.RecentCalls[0].At.Equal(answer) {
		t.Fatalf("B's policy lost the person's quota history: %+v", acct)
	}
	if p, err := stA.Policy(); err != nil || holds(p, pid) || accountOf(p, pid) != nil {
		t.Fatalf("A still stores the person or their account: %v", err)
	}
}

func holds(p *wire.Policy, id string) bool {
	if p == nil {
		return false
	}
	for i := range p.People {
		if p.People[i].ID == id {
			return true
		}
	}
	return false
}

func accountOf(p *wire.Policy, id string) *wire.AccountMoney {
	if p == nil || p.Money == nil {
		return nil
	}
	for i := range p.Money.Accounts {
		if p.Money.Accounts[i].Account == id {
			return &p.Money.Accounts[i]
		}
	}
	return nil
}

func balanceOf(p *wire.Policy, id string) int64 {
	if a := accountOf(p, id); a != nil {
		return a.Balance
	}
	return -1
}

func waitPolicyWhere(t *testing.T, ch <-chan *wire.Policy, what string, cond func(*wire.Policy) bool) *wire.Policy {
	t.Helper()
	deadline := time.After(syncPatience)
	for {
		select {
		case p := <-ch:
			if cond(p) {
				return p
			}
		case <-deadline:
			t.Fatalf("timed out waiting for: %s", what)
		}
	}
}
