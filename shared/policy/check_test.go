package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// noon is Wednesday 18 November 2026, 12:00 UTC.
var noon = time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)

func at(hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 18, t.Hour(), t.Minute(), 0, 0, time.UTC)
}

// rulesPolicy: block windows 07:00-23:00; default rule 30 min, 3 calls a
// day, 08:00-22:00; "strict" rule 09:00-10:00, 1 call a day. Rates: +44 at
// 10 a minute, 60 s units, 5 connection fee. Ann (A) has 1000.
func rulesPolicy() *wire.Policy {
	return &wire.Policy{V: 1, Version: 9,
		Windows: []wire.Window{{Start: "07:00", End: "23:00"}},
		Rules: []wire.CallRule{
			{Level: "", MaxDurationSeconds: 1800, CallsPerDay: 3, Windows: []wire.Window{{Start: "08:00", End: "22:00"}}},
			{Level: "strict", MaxDurationSeconds: 1800, CallsPerDay: 1, Windows: []wire.Window{{Start: "09:00", End: "10:00"}}},
		},
		Numbers: []wire.NumberAttr{
			{Number: "+449990001", Kind: wire.NumberKindBlocked},
			{Number: "+449990002", Kind: wire.NumberKindBlocked},
			{Number: "+44800*", Kind: wire.NumberKindFree},
			{Number: "+44 800 1234", Kind: wire.NumberKindPrivileged},
			{Number: "+4470*", Kind: wire.NumberKindHidden},
			{Number: "+441110009", Kind: "future-kind"},
		},
		People: []wire.Person{
			{ID: "A", Status: wire.StatusActive, Cards: []string{"AA"}, Numbers: []wire.ApprovedNumber{
				{Number: "+441110001"}, {Number: "+441110002", Free: true}, {Number: "+441110003", Privileged: true},
				{Number: "+449990001"}, {Number: "+15550001"}, {Number: "+448005555"}, {Number: "+447001111"},
				{Number: "+441110009"},
			}},
			{ID: "S", Status: wire.StatusActive, SupervisionLevel: "strict", Cards: []string{"BB"},
				Numbers: []wire.ApprovedNumber{{Number: "+441110001"}}},
			{ID: "W", Status: wire.StatusActive, SupervisionLevel: "strict", Cards: []string{"CC"},
				Windows:            []wire.Window{{Start: "11:00", End: "13:00"}},
				MaxDurationSeconds: 3600, Numbers: []wire.ApprovedNumber{{Number: "+441110001"}}},
			{ID: "R", Status: wire.StatusReleased, Cards: []string{"DD"}, Numbers: []wire.ApprovedNumber{{Number: "+441110001"}}},
		},
		Money: &wire.MoneyPolicy{Currency: "EUR", Digits: 2,
			Rates: []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60, ConnectionFee: 5}},
			Accounts: []wire.AccountMoney{
				{Account: "A", Balance: 1000},
				{Account: "S", Balance: 1000},
				{Account: "W", Balance: 1000},
			},
		},
	}
}

// own is a fixed Own.
type own struct {
	debits map[string]ledger.Money
	calls  map[string][]ledger.Call
}

func (o own) Debits(a string) ledger.Money { return o.debits[a] }
func (o own) Calls(a string) []ledger.Call { return o.calls[a] }

func stamps(ids ...string) []wire.CallStamp {
	var out []wire.CallStamp
	for i, id := range ids {
		out = append(out, wire.CallStamp{CallID: id, At: at("08:00").Add(time.Duration(i) * time.Minute)})
	}
	return out
}

func account(p *wire.Policy, id string) *wire.AccountMoney {
	for i := range p.Money.Accounts {
		if p.Money.Accounts[i].Account == id {
			return &p.Money.Accounts[i]
		}
	}
	panic(id)
}

func TestCheck(t *testing.T) {
	type tc struct {
		name    string
		mod     func(p *wire.Policy)
		uid     string
		number  string
		now     time.Time
		own     Own
		want    error
		maxDur  time.Duration
		limited string
		check   func(t *testing.T, d Decision)
	}
	cases := []tc{
		{name: "allowed, rule limits", uid: "AA", number: "+441110001", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			check: func(t *testing.T, d Decision) {
				if !d.Rated || d.Rate.Prefix != "+44" || d.Usable != 1000 || d.Currency != ledger.EUR || d.Free || d.Privileged || d.Hidden {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "balance limits", uid: "AA", number: "+441110001", now: noon,
			mod:    func(p *wire.Policy) { account(p, "A").Balance = 105 }, // 5 fee + 10 units
			maxDur: 10 * time.Minute, limited: wire.LimitBalance},
		{name: "own debits lower the balance", uid: "AA", number: "+441110001", now: noon,
			own:    own{debits: map[string]ledger.Money{"A": -895}}, // 105 usable
			maxDur: 10 * time.Minute, limited: wire.LimitBalance,
			check: func(t *testing.T, d Decision) {
				if d.Usable != 105 {
					t.Errorf("usable %d", d.Usable)
				}
			}},
		{name: "rule window limits", uid: "AA", number: "+441110001", now: at("21:50"), maxDur: 10 * time.Minute, limited: wire.LimitWindow},
		{name: "block window limits", uid: "AA", number: "+441110001", now: at("21:50"),
			mod:    func(p *wire.Policy) { p.Windows[0].End = "21:55" },
			maxDur: 5 * time.Minute, limited: wire.LimitWindow},
		{name: "person max duration overrides rule", uid: "CC", number: "+441110001", now: at("11:00"),
			maxDur: time.Hour, limited: wire.LimitRule},
		{name: "person's windows replace the rule's and limit", uid: "CC", number: "+441110001", now: at("12:50"),
			maxDur: 10 * time.Minute, limited: wire.LimitWindow},
		{name: "no limit at all", uid: "AA", number: "+441110001", now: noon,
			mod: func(p *wire.Policy) {
				p.Windows, p.Rules, p.Money = nil, nil, nil
			},
			check: func(t *testing.T, d Decision) {
				if d.MaxDuration != 0 || d.LimitedBy != "" || d.Rated {
					t.Errorf("decision %+v", d)
				}
			}},

		{name: "unknown card", uid: "EE", number: "+441110001", now: noon, want: ErrUnknownCard},
		{name: "released", uid: "DD", number: "+441110001", now: noon, want: ErrInactive},
		{name: "invalid number", uid: "AA", number: "+44;1", now: noon, want: ErrInvalidNumber},
		{name: "blocked though approved", uid: "AA", number: "+449990001", now: noon, want: ErrNumberBlocked},
		{name: "blocked before approval", uid: "AA", number: "+449990002", now: noon, want: ErrNumberBlocked},
		{name: "blocked by prefix", uid: "AA", number: "+441110001", now: noon, want: ErrNumberBlocked,
			mod: func(p *wire.Policy) {
				p.Numbers = append(p.Numbers, wire.NumberAttr{Number: "+44111*", Kind: wire.NumberKindBlocked})
			}},
		{name: "not approved", uid: "AA", number: "+441110004", now: noon, want: ErrNotApproved},
		{name: "free prefix does not approve", uid: "AA", number: "+448007777", now: noon, want: ErrNotApproved},
		{name: "unknown kind ignored", uid: "AA", number: "+441110009", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule},

		{name: "outside block windows", uid: "AA", number: "+441110001", now: at("23:30"), want: ErrOutsideSchedule},
		{name: "outside rule windows", uid: "AA", number: "+441110001", now: at("22:30"), want: ErrOutsideSchedule},
		{name: "outside strict rule windows", uid: "BB", number: "+441110001", now: noon, want: ErrOutsideSchedule},
		{name: "inside strict rule windows", uid: "BB", number: "+441110001", now: at("09:40"), maxDur: 20 * time.Minute, limited: wire.LimitWindow},
		{name: "person windows replace the rule's", uid: "CC", number: "+441110001", now: at("09:15"), want: ErrOutsideSchedule},
		{name: "bad rule window fails closed for that rule", uid: "BB", number: "+441110001", now: at("09:15"), want: ErrOutsideSchedule,
			mod: func(p *wire.Policy) {
				p.Rules[1].Windows = append(p.Rules[1].Windows, wire.Window{Start: "9:00", End: "10:00"})
			}},
		{name: "bad rule window spares other rules", uid: "AA", number: "+441110001", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) {
				p.Rules[1].Windows = append(p.Rules[1].Windows, wire.Window{Start: "25:00", End: "10:00"})
			}},
		{name: "bad block window fails closed", uid: "AA", number: "+441110001", now: noon, want: ErrOutsideSchedule,
			mod: func(p *wire.Policy) {
				p.Windows = append(p.Windows, wire.Window{Days: []int{7}, Start: "01:00", End: "02:00"})
			}},
		{name: "bad time zone fails closed", uid: "AA", number: "+441110001", now: noon, want: ErrOutsideSchedule,
			mod: func(p *wire.Policy) { p.TimeZone = "Mars/Olympus" }},

		{name: "quota from policy's recent calls", uid: "AA", number: "+441110001", now: noon, want: ErrQuotaExceeded,
			mod: func(p *wire.Policy) { account(p, "A").RecentCalls = stamps("c1", "c2", "c3") },
			check: func(t *testing.T, d Decision) {
				if !errors.Is(d.Err, ledger.ErrQuotaDay) || d.Usage.Day != 3 || d.Quota.PerDay != 3 {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "quota counts own calls", uid: "AA", number: "+441110001", now: noon, want: ErrQuotaExceeded,
			mod: func(p *wire.Policy) { account(p, "A").RecentCalls = stamps("c1", "c2") },
			own: own{calls: map[string][]ledger.Call{"A": {{ID: "c9", At: at("11:00")}}}}},
		{name: "a call known twice counts once", uid: "AA", number: "+441110001", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) { account(p, "A").RecentCalls = stamps("c1", "c2") },
			own: own{calls: map[string][]ledger.Call{"A": {{ID: "c2", At: at("08:01")}}}}},
		{name: "yesterday's calls do not count today", uid: "AA", number: "+441110001", now: noon.Add(24 * time.Hour), maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) { account(p, "A").RecentCalls = stamps("c1", "c2", "c3") }},
		{name: "account quota tighter than rule", uid: "AA", number: "+441110001", now: noon, want: ErrQuotaExceeded,
			mod: func(p *wire.Policy) {
				a := account(p, "A")
				a.CallsPerWeek = 2
				a.RecentCalls = []wire.CallStamp{{CallID: "m", At: noon.Add(-48 * time.Hour)}, {CallID: "t", At: noon.Add(-24 * time.Hour)}}
			},
			check: func(t *testing.T, d Decision) {
				if !errors.Is(d.Err, ledger.ErrQuotaWeek) {
					t.Errorf("err %v", d.Err)
				}
			}},

		{name: "insufficient balance", uid: "AA", number: "+441110001", now: noon, want: ErrInsufficientBalance,
			mod: func(p *wire.Policy) { account(p, "A").Balance = 14 }},
		{name: "own debits exhaust the balance", uid: "AA", number: "+441110001", now: noon, want: ErrInsufficientBalance,
			own: own{debits: map[string]ledger.Money{"A": -990}}},
		{name: "account missing from money", uid: "AA", number: "+441110001", now: noon, want: ErrInsufficientBalance,
			mod: func(p *wire.Policy) { p.Money.Accounts = p.Money.Accounts[1:] }},
		{name: "no rate", uid: "AA", number: "+15550001", now: noon, want: ErrNoRate},
		{name: "unusable rates refuse rated calls", uid: "AA", number: "+441110001", now: noon, want: ErrNoRate,
			mod: func(p *wire.Policy) { p.Money.Rates[0].BillingUnitSeconds = 0 }},
		{name: "unusable rates spare free calls", uid: "AA", number: "+441110002", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) { p.Money.Rates[0].BillingUnitSeconds = 0 }},
		{name: "free approved number needs no balance", uid: "AA", number: "+441110002", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) { account(p, "A").Balance = 0 },
			check: func(t *testing.T, d Decision) {
				if !d.Free || !d.Rate.Free || d.Rate.Cost(time.Hour) != 0 {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "free by prison-wide prefix", uid: "AA", number: "+448005555", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) { account(p, "A").Balance = 0 },
			check: func(t *testing.T, d Decision) {
				if !d.Free || d.Privileged {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "prison-wide privileged number needs no approval", uid: "AA", number: "+448001234", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			check: func(t *testing.T, d Decision) {
				if !d.Privileged || !d.Free || d.Number != nil {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "approved privileged", uid: "AA", number: "+441110003", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			check: func(t *testing.T, d Decision) {
				if !d.Privileged || d.Free || d.Number == nil {
					t.Errorf("decision %+v", d)
				}
			}},
		{name: "hidden by prefix", uid: "AA", number: "+447001111", now: noon, maxDur: 30 * time.Minute, limited: wire.LimitRule,
			mod: func(p *wire.Policy) {
				p.Money.Rates = append(p.Money.Rates, wire.Rate{Prefix: "+447", DestinationType: wire.DestMobile, PerMinute: 20, BillingUnitSeconds: 1})
			},
			check: func(t *testing.T, d Decision) {
				if !d.Hidden || d.Rate.DestinationType != ledger.Mobile {
					t.Errorf("decision %+v", d)
				}
			}},

		// Order of the checks.
		{name: "schedule before quota", uid: "AA", number: "+441110001", now: at("23:30"), want: ErrOutsideSchedule,
			mod: func(p *wire.Policy) { account(p, "A").RecentCalls = stamps("c1", "c2", "c3") }},
		{name: "quota before money", uid: "AA", number: "+441110001", now: noon, want: ErrQuotaExceeded,
			mod: func(p *wire.Policy) {
				account(p, "A").RecentCalls = stamps("c1", "c2", "c3")
				account(p, "A").Balance = 0
			}},
		{name: "approval before schedule", uid: "AA", number: "+441110004", now: at("23:30"), want: ErrNotApproved},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := rulesPolicy()
			if c.mod != nil {
				c.mod(p)
			}
			d := NewIndex(p).Check(Request{UID: c.uid, Number: c.number, Now: c.now, Own: c.own})
			if c.want == nil {
				if d.Err != nil {
					t.Fatalf("refused: %v", d.Err)
				}
				if d.MaxDuration != c.maxDur || d.LimitedBy != c.limited {
					if c.check == nil || c.maxDur != 0 || c.limited != "" {
						t.Errorf("max duration %v by %q, want %v by %q", d.MaxDuration, d.LimitedBy, c.maxDur, c.limited)
					}
				}
			} else if !errors.Is(d.Err, c.want) {
				t.Fatalf("err = %v, want %v", d.Err, c.want)
			} else if !strings.HasPrefix(d.Err.Error(), c.want.Error()) {
				t.Errorf("reason %q does not start with %q", d.Err, c.want)
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

func TestWindowsPastMidnightAndZones(t *testing.T) {
	base := func(days []int) *wire.Policy {
		return &wire.Policy{V: 1, People: []wire.Person{{ID: "N", Status: wire.StatusActive, Cards: []string{"AA"},
			Windows: []wire.Window{{Days: days, Start: "22:00", End: "02:00"}}, Numbers: []wire.ApprovedNumber{{Number: "123"}}}}}
	}
	thu0100 := time.Date(2026, 11, 19, 1, 0, 0, 0, time.UTC) // Thursday
	// Wednesday's window (day 3) runs into Thursday.
	d := NewIndex(base([]int{3})).Check(Request{UID: "AA", Number: "123", Now: thu0100})
	if d.Err != nil || d.MaxDuration != time.Hour || d.LimitedBy != wire.LimitWindow {
		t.Fatalf("Wednesday's window at 01:00 Thursday: %+v", d)
	}
	// Thursday's window starts at 22:00 Thursday.
	if d := NewIndex(base([]int{4})).Check(Request{UID: "AA", Number: "123", Now: thu0100}); !errors.Is(d.Err, ErrOutsideSchedule) {
		t.Fatalf("Thursday's window at 01:00 Thursday: %v", d.Err)
	}
	if d := NewIndex(base([]int{4})).Check(Request{UID: "AA", Number: "123", Now: thu0100.Add(21*time.Hour + 30*time.Minute)}); d.Err != nil || d.MaxDuration != 3*time.Hour+30*time.Minute {
		t.Fatalf("Thursday 22:30: %+v", d)
	}

	// Back-to-back windows are one span.
	p := base(nil)
	p.People[0].Windows = []wire.Window{{Start: "08:00", End: "12:00"}, {Start: "12:00", End: "14:00"}, {Start: "14:00", End: "24:00"}}
	if d := NewIndex(p).Check(Request{UID: "AA", Number: "123", Now: at("11:00")}); d.Err != nil || d.MaxDuration != 13*time.Hour {
		t.Fatalf("chained windows: %+v", d)
	}

	// Windows count in the policy's zone: 21:00 in New York is 02:00 UTC.
	p = base(nil)
	p.TimeZone = "America/New_York"
	p.People[0].Windows = []wire.Window{{Days: []int{3}, Start: "08:00", End: "22:00"}}
	nyWed2100 := time.Date(2026, 11, 19, 2, 0, 0, 0, time.UTC)
	if d := NewIndex(p).Check(Request{UID: "AA", Number: "123", Now: nyWed2100}); d.Err != nil || d.MaxDuration != time.Hour {
		t.Fatalf("New York window: %+v", d)
	}
	if d := NewIndex(p).Check(Request{UID: "AA", Number: "123", Now: nyWed2100.Add(90 * time.Minute)}); !errors.Is(d.Err, ErrOutsideSchedule) {
		t.Fatalf("after New York's window: %v", d.Err)
	}
}

func TestParseWindow(t *testing.T) {
	for _, w := range []wire.Window{
		{Start: "8:00", End: "10:00"}, {Start: "08:00", End: "10:60"}, {Start: "24:00", End: "01:00"},
		{Start: "08:00", End: "24:01"}, {Start: "08:00", End: "08:00"}, {Days: []int{-1}, Start: "08:00", End: "09:00"},
		{Start: "08h00", End: "09:00"}, {Start: "", End: "09:00"},
	} {
		if _, err := parseWindow(w); err == nil {
			t.Errorf("%+v accepted", w)
		}
	}
	w, err := parseWindow(wire.Window{Days: []int{0, 6}, Start: "00:00", End: "24:00"})
	if err != nil || w.days != 1|1<<6 || w.start != 0 || w.end != 1440 {
		t.Errorf("weekend all day: %+v %v", w, err)
	}
}

func TestAccount(t *testing.T) {
	p := rulesPolicy()
	account(p, "A").RecentCalls = stamps("c1")
	account(p, "A").CallsPerMonth = 10
	ix := NewIndex(p)
	s, ok := ix.Account("A", noon, own{debits: map[string]ledger.Money{"A": -250}, calls: map[string][]ledger.Call{"A": {{ID: "c2", At: noon}}}})
	if !ok || !s.Rated || s.Usable != 750 || s.Currency != ledger.EUR {
		t.Fatalf("account %+v %v", s, ok)
	}
	if d, w, m := s.CallsLeft(); d != 1 || w != -1 || m != 8 {
		t.Errorf("calls left %d %d %d", d, w, m)
	}
	if _, ok := ix.Account("nobody", noon, nil); ok {
		t.Error("unknown person has an account")
	}
	p.Money = nil
	if s, ok := NewIndex(p).Account("A", noon, nil); !ok || s.Rated {
		t.Errorf("unrated %+v", s)
	}
}

// BenchmarkCheck measures a full decision (windows, number list, quota
// with 60 recent calls, rate) over a block of 2,000 people.
func BenchmarkCheck(b *testing.B) {
	p := rulesPolicy()
	p.Money.Accounts = nil
	var dial []string
	for i := 0; i < 2000; i++ {
		id := fmt.Sprintf("x%d", i)
		person := wire.Person{ID: id, Status: wire.StatusActive, Cards: []string{uidFor(i)}}
		for j := 0; j < 10; j++ {
			person.Numbers = append(person.Numbers, wire.ApprovedNumber{Number: "+4420" + uidFor(i*10+j)})
		}
		dial = append(dial, person.Numbers[i%10].Number)
		p.People = append(p.People, person)
		var rc []wire.CallStamp
		for k := 0; k < 60; k++ {
			rc = append(rc, wire.CallStamp{CallID: fmt.Sprintf("%s-%d", id, k), At: noon.Add(-time.Duration(k+1) * 12 * time.Hour)})
		}
		p.Money.Accounts = append(p.Money.Accounts, wire.AccountMoney{Account: id, Balance: 5000, RecentCalls: rc})
	}
	ix := NewIndex(p)
	o := own{calls: map[string][]ledger.Call{"x0": {{ID: "own", At: noon}}}}
	for i := range dial {
		if d := ix.Check(Request{UID: uidFor(i), Number: dial[i], Now: noon, Own: o}); d.Err != nil || d.Usage.Month == 0 {
			b.Fatal(d.Err, d.Usage)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Check(Request{UID: uidFor(i % 2000), Number: dial[i%2000], Now: noon, Own: o})
	}
}

// FuzzParseWindow: windows come from central's policy; no input may panic,
// and an accepted window always has a valid span and days.
func FuzzParseWindow(f *testing.F) {
	f.Add("08:00", "22:00", 3)
	f.Add("22:00", "02:00", 0)
	f.Add("00:00", "24:00", 6)
	f.Add("24:00", "01:00", 1)
	f.Add("9:5", "x", -1)
	f.Fuzz(func(t *testing.T, start, end string, day int) {
		w, err := parseWindow(wire.Window{Days: []int{day}, Start: start, End: end})
		if err != nil {
			return
		}
		if w.start < 0 || w.start >= 1440 || w.end < 0 || w.end > 1440 || w.start == w.end || w.days == 0 || w.days > 0x7f {
			t.Fatalf("accepted %q-%q day %d as %+v", start, end, day, w)
		}
		if _, ok := w.contains(noon, time.UTC); ok != (w.days&(1<<3) != 0 && inSpan(w, 720)) && w.end > w.start {
			t.Fatalf("%+v at noon Wednesday: %v", w, ok)
		}
	})
}

func inSpan(w window, minute int) bool { return minute >= w.start && minute < w.end }

// TestPersonQuotaOverridesRule: a person's own calls per day, week or
// month replace their rule's for that period, looser or tighter, and the
// account's quota still tightens the result.
func TestPersonQuotaOverridesRule(t *testing.T) {
	today := map[string][]ledger.Call{"A": {{ID: "c1", At: at("08:00")}, {ID: "c2", At: at("09:00")}, {ID: "c3", At: at("10:00")}}}
	check := func(p *wire.Policy) Decision {
		return NewIndex(p).Check(Request{UID: "AA", Number: "+441110001", Now: noon, Own: own{calls: today}})
	}
	// The default rule allows 3 a day: a fourth call is refused.
	if d := check(rulesPolicy()); !errors.Is(d.Err, ErrQuotaExceeded) || d.Quota.PerDay != 3 {
		t.Fatalf("rule's quota: %v %+v", d.Err, d.Quota)
	}
	// Ann's own 5 a day replaces the rule's 3.
	p := rulesPolicy()
	p.People[0].CallsPerDay = 5
	if d := check(p); d.Err != nil || d.Quota.PerDay != 5 || d.Usage.Day != 3 {
		t.Fatalf("own looser quota: %v %+v %+v", d.Err, d.Quota, d.Usage)
	}
	s, _ := NewIndex(p).Account("A", noon, own{calls: today})
	if day, _, _ := s.CallsLeft(); day != 2 {
		t.Fatalf("calls left today with own quota: %d (%+v)", day, s)
	}
	// Her own weekly limit of 3 applies on top of the rule's daily 3.
	p = rulesPolicy()
	p.People[0].CallsPerDay, p.People[0].CallsPerWeek = 9, 3
	if d := check(p); !errors.Is(d.Err, ErrQuotaExceeded) || !strings.Contains(d.Err.Error(), "week") || d.Quota != (ledger.Quota{PerDay: 9, PerWeek: 3}) {
		t.Fatalf("own weekly quota: %v %+v", d.Err, d.Quota)
	}
	// The account's quota is tighter than her own: it wins.
	p = rulesPolicy()
	p.People[0].CallsPerDay = 5
	account(p, "A").CallsPerDay = 2
	if d := check(p); !errors.Is(d.Err, ErrQuotaExceeded) || d.Quota.PerDay != 2 {
		t.Fatalf("account tighter than own: %v %+v", d.Err, d.Quota)
	}
	// Another person of the same rule keeps the rule's.
	p = rulesPolicy()
	p.People[0].CallsPerDay = 5
	if q := NewIndex(p).quota(&p.People[1]); q.PerDay != 1 {
		t.Fatalf("strict person's quota %+v", q)
	}
}
