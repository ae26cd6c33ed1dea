package hiltests

import (
	"context"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// setCharging sets the prison's charging setting ("on" or "off") through
// the API, keeping the other money settings, and returns what it read.
func setCharging(ctx context.Context, st *stack.Stack, charging string) (map[string]any, error) {
	var set map[string]any
	if err := st.Do(ctx, "GET", "/api/v1/money/settings", nil, &set); err != nil {
		return nil, err
	}
	old := set["charging"]
	set["charging"] = charging
	if err := st.Do(ctx, "PUT", "/api/v1/money/settings", set, nil); err != nil {
		return nil, err
	}
	set["charging"] = old
	return set, nil
}

// unrated is an approved number no rate of TestChargingRefusesUnratedNumber
// matches (its rates are for +44).
const unrated = "+15550001"

// TestChargingRefusesUnratedNumber: a fresh installation does not charge
// (and says so), so with a rate entered a call is still free. With
// charging turned on, a call to an approved number that matches no rate
// is refused with the spoken reason, in English and in Spanish, and
// recorded as refused with that reason at central; a rated number is
// charged.
func TestChargingRefusesUnratedNumber(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond, Accept: '1', AcceptAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	e := newEnv(t, family.Addr().String(), func(_ string, o *stack.Options) { o.IVR = true })
	var ids []string
	for _, p := range []stack.Person{
		{PrisonNumber: "A1234BC", Name: "Alex Morgan", Card: card, Numbers: []string{approved, unrated}},
		{PrisonNumber: "D4321ZZ", Name: "Dani Ruiz", Card: daniCard, Numbers: []string{approved, unrated}, Language: "es"},
	} {
		id, err := e.Seed(e.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := e.Do(e.ctx, "PUT", "/api/v1/rates", map[string]any{"rates": []wire.Rate{
		{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	port := newPort(t, e)
	testkit.Eventually(t, 15*time.Second, "the appliance to log a policy with charging off", func() bool {
		lines, err := e.ApplianceLogLines(`msg="policy applied"`, "charging=off")
		return err == nil && len(lines) > 0
	})

	// Charging off (a fresh installation), rates or not: free.
	e.tap(t, card)
	if res := call(t, e, port, unrated, 2*time.Second); !res.Answered {
		t.Fatalf("charging off, unrated number: %+v, want answered", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Disposition != wire.DispCompleted || c.Cost != 0 {
		t.Fatalf("charging off: call %+v, want completed and not charged", c)
	}

	// Charging on: the unrated number is refused, in each person's
	// language; the rated one is charged.
	old, err := setCharging(e.ctx, e.Stack, "on")
	if err != nil {
		t.Fatal(err)
	}
	if old["charging"] != "off" {
		t.Fatalf("a fresh installation's charging is %v, want off", old["charging"])
	}
	for _, id := range ids {
		if err := e.Do(e.ctx, "POST", "/api/v1/accounts/"+id+"/recharges", map[string]any{"amount": "5.00", "receipt": "R-charging-" + id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the appliance to log a policy with charging on", func() bool {
		lines, err := e.ApplianceLogLines(`msg="policy applied"`, "charging=on")
		return err == nil && len(lines) > 0
	})
	reason := "no rate for this number: " + unrated
	e.tap(t, card)
	wantSpokenRefusal(t, call(t, e, port, unrated, time.Second), reason, "en", prompts.RefusedNoRate)
	e.tap(t, daniCard)
	wantSpokenRefusal(t, call(t, e, port, unrated, time.Second), reason, "es", prompts.RefusedNoRate)
	e.tap(t, card)
	if res := call(t, e, port, approved, 2*time.Second); !res.Answered {
		t.Fatalf("charging on, rated number: %+v, want answered", res)
	}
	calls, err = e.WaitCalls(e.ctx, 4, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rated, dani, alex := calls[0], calls[1], calls[2] // newest first
	for i, c := range []store.Call{alex, dani} {
		if c.PersonID != ids[i] || c.Disposition != wire.DispRefused || c.Reason != reason || c.Number != unrated {
			t.Fatalf("refused call at central: %+v, want %s's, refused with %q", c, ids[i], reason)
		}
	}
	if rated.Disposition != wire.DispCompleted || rated.Cost <= 0 {
		t.Fatalf("rated call with charging on: %+v, want completed and charged", rated)
	}
}
