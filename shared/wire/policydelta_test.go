package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func deltaBase() *Policy {
	return &Policy{
		V: ProtocolVersion, ApplianceID: "a1", Block: "A", Version: 5,
		IssuedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		People: []Person{
			{ID: "p1", PrisonNumber: "A1", Name: "One", Status: StatusActive, Cards: []string{"01"}, Numbers: []ApprovedNumber{{Number: "+441"}}},
			{ID: "p2", PrisonNumber: "A2", Name: "Two", Status: StatusActive, Cards: []string{"02"}},
			{ID: "p3", PrisonNumber: "A3", Name: "Three", Status: StatusActive, Cards: []string{"03"}},
		},
		Rules:    []CallRule{{Level: "", CallsPerDay: 3}},
		Windows:  []Window{{Start: "08:00", End: "20:00"}},
		Numbers:  []NumberAttr{{Number: "+44800*", Kind: NumberKindFree}},
		Prison:   "HMP Test",
		TimeZone: "Europe/London",
		Money: &MoneyPolicy{Currency: "GBP", Digits: 2, TimeZone: "Europe/London",
			Rates:    []Rate{{Prefix: "+44", DestinationType: DestNational, PerMinute: 10, BillingUnitSeconds: 60}},
			Accounts: []AccountMoney{{Account: "p1", Balance: 500}, {Account: "p2", Balance: 100}}},
	}
}

func clonePolicy(t *testing.T, p *Policy) *Policy {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out Policy
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// overWire sends d through JSON and the decoder, as the appliance gets it.
func overWire(t *testing.T, d *PolicyDelta) *PolicyDelta {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePolicyDelta(data, d.ApplianceID)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
	return got
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPolicyDeltaReproducesSnapshot(t *testing.T) {
	cases := map[string]func(p *Policy){
		"person changed": func(p *Policy) { p.People[1].Cards = []string{"02", "22"} },
		"person added":   func(p *Policy) { p.People = append(p.People, Person{ID: "p4", Name: "Four", Status: StatusActive}) },
		"person added in the middle": func(p *Policy) {
			p.People = append([]Person{p.People[0], {ID: "p0", Name: "Zero"}}, p.People[1:]...)
		},
		"person removed":      func(p *Policy) { p.People = append(p.People[:1], p.People[2:]...) },
		"everyone removed":    func(p *Policy) { p.People = nil },
		"reordered":           func(p *Policy) { p.People[0], p.People[2] = p.People[2], p.People[0] },
		"rules emptied":       func(p *Policy) { p.Rules = nil },
		"windows changed":     func(p *Policy) { p.Windows = []Window{{Days: []int{1}, Start: "09:00", End: "10:00"}} },
		"numbers emptied":     func(p *Policy) { p.Numbers = []NumberAttr{} },
		"prison cleared":      func(p *Policy) { p.Prison = "" },
		"zone changed":        func(p *Policy) { p.TimeZone = "UTC" },
		"money removed":       func(p *Policy) { p.Money = nil },
		"balance changed":     func(p *Policy) { p.Money.Accounts[1].Balance = 90 },
		"block changed":       func(p *Policy) { p.Block = "B" },
		"nothing but version": func(p *Policy) {},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			base := deltaBase()
			next := clonePolicy(t, base)
			change(next)
			next.Version, next.IssuedAt = 9, base.IssuedAt.Add(time.Hour)
			d, err := DiffPolicy(base, next)
			if err != nil {
				t.Fatal(err)
			}
			d.Signature = []byte("sig")
			got, err := overWire(t, d).Apply(clonePolicy(t, base))
			if err != nil {
				t.Fatal(err)
			}
			want := clonePolicy(t, next)
			want.Signature = []byte("sig")
			if g, w := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(g, w) {
				t.Fatalf("applied delta differs from the snapshot\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestPolicyDeltaSmallForOneChange(t *testing.T) {
	base := deltaBase()
	for i := 0; i < 200; i++ {
		base.People = append(base.People, Person{ID: "q" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Name: "Someone", Status: StatusActive, Cards: []string{"AB"}})
	}
	next := clonePolicy(t, base)
	next.Version++
	next.People[3].Name = "Renamed"
	d, err := DiffPolicy(base, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Upsert) != 1 || len(d.Remove) != 0 || d.Order != nil || d.Rules != nil || d.Money != nil {
		t.Fatalf("delta carries more than the change: %+v", d)
	}
	if dl, sl := len(mustJSON(t, d)), len(mustJSON(t, next)); dl*10 > sl {
		t.Fatalf("delta %d bytes, snapshot %d", dl, sl)
	}
}

func TestPolicyDeltaRefusesOtherBase(t *testing.T) {
	base := deltaBase()
	next := clonePolicy(t, base)
	next.Version = 6
	next.People = next.People[1:]
	d, err := DiffPolicy(base, next)
	if err != nil {
		t.Fatal(err)
	}
	other := clonePolicy(t, base)
	other.Version = 4
	if _, err := d.Apply(other); !errors.Is(err, ErrDeltaBase) {
		t.Fatalf("apply to version 4: %v, want ErrDeltaBase", err)
	}
	other.Version, other.ApplianceID = 5, "a2"
	if _, err := d.Apply(other); !errors.Is(err, ErrDeltaBase) {
		t.Fatalf("apply to another appliance: %v", err)
	}
	noP1 := clonePolicy(t, base)
	noP1.People = noP1.People[1:]
	if _, err := d.Apply(noP1); !errors.Is(err, ErrDeltaBase) {
		t.Fatalf("removing a person the base lacks: %v", err)
	}
	if _, err := DiffPolicy(next, base); !errors.Is(err, ErrDeltaBase) {
		t.Fatalf("diff to an older version: %v", err)
	}
	// Apply never touches its base.
	before := mustJSON(t, base)
	if _, err := d.Apply(base); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, mustJSON(t, base)) {
		t.Fatal("Apply modified its base")
	}
}

func TestDecodePolicyDeltaRefuses(t *testing.T) {
	for name, msg := range map[string]string{
		"version":        `{"v":2,"appliance_id":"a1","base_version":1,"version":2}`,
		"appliance":      `{"v":1,"appliance_id":"a2","base_version":1,"version":2}`,
		"not newer":      `{"v":1,"appliance_id":"a1","base_version":2,"version":2}`,
		"upsert twice":   `{"v":1,"appliance_id":"a1","base_version":1,"version":2,"upsert":[{"id":"p"},{"id":"p"}]}`,
		"upsert removed": `{"v":1,"appliance_id":"a1","base_version":1,"version":2,"upsert":[{"id":"p"}],"remove":["p"]}`,
		"empty id":       `{"v":1,"appliance_id":"a1","base_version":1,"version":2,"remove":[""]}`,
		"order twice":    `{"v":1,"appliance_id":"a1","base_version":1,"version":2,"order":["p","p"]}`,
		"money both":     `{"v":1,"appliance_id":"a1","base_version":1,"version":2,"money":{},"no_money":true}`,
		"not json":       `{"v":1,`,
	} {
		if _, err := DecodePolicyDelta([]byte(msg), "a1"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := DecodePolicyRequest([]byte(`{"v":1,"appliance_id":"a2","have":3}`), "a1"); !errors.Is(err, ErrMalformed) {
		t.Errorf("request from another appliance: %v", err)
	}
	r, err := DecodePolicyRequest([]byte(`{"v":1,"appliance_id":"a1","have":3}`), "a1")
	if err != nil || r.Have != 3 {
		t.Fatalf("request: %+v %v", r, err)
	}
}

func TestPolicyDeltaTopics(t *testing.T) {
	if id, ok := ApplianceFromTopic(TopicPolicyRequest("a1")); !ok || id != "a1" {
		t.Fatal("policy request topic not under the appliance's subtree")
	}
	if TopicPolicyRequest("a1") != TopicRoot+"/a1/up/policy-request" || TopicPolicyDelta("a1") != TopicRoot+"/a1/down/policy-delta" {
		t.Fatal("topics moved: the brokers' ACLs rely on up/ and down/")
	}
}

// FuzzDecodePolicyDelta: the decoder and Apply never panic on untrusted
// bytes, and a delta that applies yields a policy of its version that
// keeps every person id once.
func FuzzDecodePolicyDelta(f *testing.F) {
	f.Add([]byte(`{"v":1,"appliance_id":"a1","block":"A","base_version":5,"version":6,"upsert":[{"id":"p9","name":"x"}],"remove":["p2"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodePolicyDelta(data, "a1")
		if err != nil {
			return
		}
		base := deltaBase()
		res, err := d.Apply(base)
		if err != nil {
			return
		}
		if res.Version != d.Version || res.ApplianceID != "a1" {
			t.Fatalf("result version %d for %q", res.Version, res.ApplianceID)
		}
		seen := map[string]bool{}
		for _, p := range res.People {
			if seen[p.ID] {
				t.Fatalf("person %q twice", p.ID)
			}
			seen[p.ID] = true
		}
		if _, err := DecodePolicyRequest(data, "a1"); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
			t.Fatalf("request decoder error not wrapped: %v", err)
		}
	})
}
