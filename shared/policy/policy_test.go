package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func testPolicy() *wire.Policy {
	return &wire.Policy{V: wire.ProtocolVersion, Version: 3, People: []wire.Person{
		{ID: "p1", Name: "Ann", Status: wire.StatusActive, Cards: []string{"04a1b2c3"}, Numbers: []wire.ApprovedNumber{{Number: "+44 20 7946 0001"}}},
		{ID: "p2", Name: "Bob", Status: wire.StatusSuspended, Cards: []string{"DEADBEEF"}, Numbers: []wire.ApprovedNumber{{Number: "5550100"}}},
		{ID: "o1", Name: "Officer", Status: wire.StatusActive, Officer: true, Cards: []string{"0F0F0F0F"}},
	}}
}

func TestDecide(t *testing.T) {
	ix := NewIndex(testPolicy())
	cases := []struct {
		uid, number string
		want        error
	}{
		{"04A1B2C3", "00442079460001", nil},
		{"04a1b2c3", "+442079460001", nil},
		{"04A1B2C3", "+442079460002", ErrNotApproved},
		{"11223344", "+442079460001", ErrUnknownCard},
		{"DEADBEEF", "5550100", ErrInactive},
		{"0F0F0F0F", "5550100", ErrInactive},
		{"04A1B2C3", "12;drop", ErrInvalidNumber},
	}
	for _, c := range cases {
		d := ix.Decide(c.uid, c.number)
		if !errors.Is(d.Err, c.want) && !(c.want == nil && d.Err == nil) {
			t.Errorf("Decide(%q,%q) = %v, want %v", c.uid, c.number, d.Err, c.want)
		}
		if c.want == nil && (d.Person == nil || d.Person.ID != "p1" || d.Number == nil) {
			t.Errorf("allowed decision without person/number: %+v", d)
		}
	}
	if d := NewIndex(nil).Decide("04A1B2C3", "1"); !errors.Is(d.Err, ErrNoPolicy) {
		t.Errorf("nil policy: %v", d.Err)
	}
}

func TestNormalizeNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+44 (20) 7946-0001": "+442079460001",
		"0044 20":            "+4420",
		"5550100":            "5550100",
		"":                   "",
		"+":                  "",
		"12+3":               "",
		"sip:123":            "",
		"++1":                "",
	} {
		if got := NormalizeNumber(in); got != want {
			t.Errorf("NormalizeNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"+44 20 7946 0001", "0044", "(555) 010-0", "", "+", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeNumber(s)
		if n == "" {
			return
		}
		if NormalizeNumber(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, NormalizeNumber(n))
		}
		for i, c := range n {
			if !(c >= '0' && c <= '9' || c == '+' && i == 0) {
				t.Fatalf("bad char in %q", n)
			}
		}
	})
}

// BenchmarkDecide measures the local decision from card UID received to
// allow/deny over a block of 2,000 people with 10 numbers each.
func BenchmarkDecide(b *testing.B) {
	p := &wire.Policy{V: 1, Version: 1}
	for i := 0; i < 2000; i++ {
		person := wire.Person{ID: "p", Status: wire.StatusActive, Cards: []string{uidFor(i)}}
		for j := 0; j < 10; j++ {
			person.Numbers = append(person.Numbers, wire.ApprovedNumber{Number: "+4420794" + uidFor(i*10 + j)[:6]})
		}
		p.People = append(p.People, person)
	}
	ix := NewIndex(p)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Decide(uidFor(i%2000), "+4420794000000")
	}
}

func uidFor(i int) string {
	const hex = "0123456789"
	b := []byte("00000000")
	for k := 7; k >= 0 && i > 0; k-- {
		b[k] = hex[i%10]
		i /= 10
	}
	return string(b)
}

func TestRuleFor(t *testing.T) {
	p := &wire.Policy{V: 1, Version: 1,
		Rules: []wire.CallRule{
			{Level: "", Confirm: wire.ConfirmNone},
			{Level: "high", Confirm: wire.ConfirmButton, ConfirmWindowSeconds: 20, OfficerTapEndsCall: true},
			{Level: "high", Confirm: wire.ConfirmNone}, // a duplicate level: the first wins
			{Level: "max", Confirm: wire.ConfirmBoth},
			{Level: "future", Confirm: "retina-scan"},
		},
		People: []wire.Person{
			{ID: "low", Status: wire.StatusActive, Cards: []string{"01010101"}, Numbers: []wire.ApprovedNumber{{Number: "5550100"}}},
			{ID: "high", Status: wire.StatusActive, SupervisionLevel: "high", Cards: []string{"02020202"}, Numbers: []wire.ApprovedNumber{{Number: "5550100"}}},
			{ID: "max-card", Status: wire.StatusActive, SupervisionLevel: "max", Confirm: wire.ConfirmCard, ConfirmWindowSeconds: 5},
			{ID: "high-exempt", Status: wire.StatusActive, SupervisionLevel: "high", Confirm: wire.ConfirmNone},
			{ID: "unknown-level", Status: wire.StatusActive, SupervisionLevel: "nope"},
			{ID: "future", Status: wire.StatusActive, SupervisionLevel: "future"},
			{ID: "override-future", Status: wire.StatusActive, Confirm: "telepathy"},
		}}
	ix := NewIndex(p)
	want := map[string]Rule{
		"low":             {Window: DefaultConfirmWindow},
		"high":            {Confirm: wire.ConfirmButton, Window: 20 * time.Second, EndOnOfficerTap: true},
		"max-card":        {Confirm: wire.ConfirmCard, Window: 5 * time.Second},
		"high-exempt":     {Window: 20 * time.Second, EndOnOfficerTap: true},
		"unknown-level":   {Window: DefaultConfirmWindow},
		"future":          {Confirm: wire.ConfirmBoth, Window: DefaultConfirmWindow}, // unknown modes fail closed
		"override-future": {Confirm: wire.ConfirmBoth, Window: DefaultConfirmWindow},
	}
	for id, w := range want {
		person := ix.PersonByID(id)
		if person == nil {
			t.Fatalf("PersonByID(%q) = nil", id)
		}
		if got := ix.RuleFor(person); got != w {
			t.Errorf("RuleFor(%s) = %+v, want %+v", id, got, w)
		}
	}
	if d := ix.Decide("02020202", "5550100"); !d.Allowed() || !d.Rule.NeedsConfirmation() || d.Rule.Confirm != wire.ConfirmButton {
		t.Errorf("Decide for a high-supervision person: %+v", d)
	}
	if d := ix.Decide("01010101", "5550100"); !d.Allowed() || d.Rule.NeedsConfirmation() {
		t.Errorf("Decide for a low-supervision person: %+v", d)
	}
	// Without a default rule, a person without a level needs nothing.
	if r := NewIndex(&wire.Policy{People: []wire.Person{{ID: "x"}}}).RuleFor(&wire.Person{ID: "x"}); r.NeedsConfirmation() {
		t.Errorf("no rules: %+v", r)
	}
	if r := NewIndex(nil).RuleFor(nil); r != (Rule{}) {
		t.Errorf("nil person: %+v", r)
	}
	for _, m := range []string{"", "none", "button", "card", "both"} {
		if !ValidConfirm(m) {
			t.Errorf("ValidConfirm(%q) = false", m)
		}
	}
	if ValidConfirm("Button") || ValidConfirm("always") {
		t.Error("ValidConfirm accepts junk")
	}
}
