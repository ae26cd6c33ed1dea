package wire

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestMoneyChargingValidated: a money part's Charging is "" (a central
// before capability 19) or "on"; anything else makes the policy, and a
// delta that carries it, malformed.
func TestMoneyChargingValidated(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		charging string
		ok       bool
	}{{"", true}, {ChargingOn, true}, {"off", false}, {"ON", false}, {"on ", false}, {"yes", false}} {
		p := Policy{V: ProtocolVersion, ApplianceID: "a1", Block: "A", Version: 3, IssuedAt: t0,
			Money: &MoneyPolicy{Currency: "EUR", Digits: 2, TimeZone: "UTC", Rates: []Rate{}, Accounts: []AccountMoney{}, Charging: tc.charging}}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode[Policy](data, "a1")
		if tc.ok != (err == nil) {
			t.Errorf("policy with charging %q: Decode = %v, want ok %v", tc.charging, err, tc.ok)
		}
		if !tc.ok && (!errors.Is(err, ErrMalformed) || !errors.Is(err, ErrBadCharging)) {
			t.Errorf("policy with charging %q: %v, want ErrMalformed and ErrBadCharging", tc.charging, err)
		}
		d := PolicyDelta{V: ProtocolVersion, ApplianceID: "a1", Block: "A", BaseVersion: 3, Version: 4, IssuedAt: t0, Money: p.Money}
		data, err = json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodePolicyDelta(data, "a1"); tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrBadCharging) {
			t.Errorf("delta with charging %q: DecodePolicyDelta = %v, want ok %v", tc.charging, err, tc.ok)
		}
	}
	// Without a money part there is nothing to check, and a policy of a
	// central before the field decodes as before.
	old := []byte(`{"v":1,"appliance_id":"a1","block":"A","version":3,"issued_at":"2026-12-08T04:00:00Z","people":[],"money":{"currency":"EUR","digits":2,"time_zone":"UTC","rates":[],"accounts":[],"included_seq":0}}`)
	p, err := Decode[Policy](old, "a1")
	if err != nil || p.Money == nil || p.Money.Charging != "" {
		t.Fatalf("a policy without charging: %+v, %v", p, err)
	}
}
