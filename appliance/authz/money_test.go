package authz

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// wed1200 is Wednesday 18 November 2026, 12:00 UTC.
var wed1200 = time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)

// moneyPolicy: 2 calls a day, 08:00-22:00, rate 10 a minute in 60 s units
// plus 5 per call; Ann (card AA) has 100.
func moneyPolicy() *wire.Policy {
	return &wire.Policy{V: 1, Version: 1, ApplianceID: "blk-a",
		Rules: []wire.CallRule{{CallsPerDay: 2, MaxDurationSeconds: 3600, Windows: []wire.Window{{Start: "08:00", End: "22:00"}}}},
		People: []wire.Person{{ID: "A", Name: "Ann", Language: "fr", Status: wire.StatusActive, Cards: []string{"AA"},
			Numbers: []wire.ApprovedNumber{{Number: "+441110001"}, {Number: "+441110002", Free: true}}}},
		Money: &wire.MoneyPolicy{Currency: "EUR", Digits: 2,
			Rates:    []wire.Rate{{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 10, BillingUnitSeconds: 60, ConnectionFee: 5}},
			Accounts: []wire.AccountMoney{{Account: "A", Balance: 100}}},
	}
}

// harness is an authorizer on a fake clock with a real store as its own
// ledger.
type harness struct {
	clk *clock.Fake
	st  *store.Store
	a   *Authorizer
	n   int
}

func newHarness(t *testing.T, p *wire.Policy) *harness {
	t.Helper()
	clk := clock.NewFake(wed1200)
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{ApplianceID: "blk-a", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := New(clk, time.Minute)
	a.SetPolicy(p)
	a.SetOwn(func(seq uint64, cur string) (policy.Own, error) { return st.Own(seq, cur) })
	return &harness{clk: clk, st: st, a: a}
}

// call taps, authorizes and, when allowed, records an answered call of d
// with its debit as the daemon does.
func (h *harness) call(t *testing.T, number string, d time.Duration) Result {
	t.Helper()
	h.a.Tap("t1", "AA")
	r := h.a.Authorize("t1", number)
	if !r.Allowed {
		return r
	}
	h.n++
	id := "call-" + string(rune('a'+h.n))
	ans := h.clk.Now()
	h.clk.Advance(d)
	rec := wire.CallRecord{CallID: id, PersonID: r.PersonID, Answer: &ans, End: h.clk.Now(), Disposition: wire.DispCompleted}
	err := h.st.Update(func(tx *store.Tx) error {
		if _, err := tx.AppendCall(rec); err != nil {
			return err
		}
		if deb, ok := ledger.DebitForCall("", "blk-a", rec, r.Rate); ok && deb.Amount < 0 {
			_, _, err := tx.AppendDebit(deb.Wire(r.Currency))
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQuotaReachedAfterAnsweredCalls(t *testing.T) {
	p := moneyPolicy()
	p.Money.Accounts[0].Balance = 10000
	h := newHarness(t, p)
	for i := 0; i < 2; i++ {
		if r := h.call(t, "+441110002", time.Minute); !r.Allowed { // free calls count too
			t.Fatalf("call %d refused: %v", i, r.Err)
		}
	}
	r := h.call(t, "+441110001", time.Minute)
	if !errors.Is(r.Err, policy.ErrQuotaExceeded) || !errors.Is(r.Err, ledger.ErrQuotaDay) || r.PersonID != "A" {
		t.Fatalf("third call: %+v", r)
	}
	acc, err := h.a.Account("A")
	if d, w, m := acc.CallsLeft(); err != nil || d != 0 || w != -1 || m != -1 || acc.Usable != 10000 {
		t.Fatalf("account %+v %v", acc, err)
	}
	// Tomorrow the quota is back.
	h.clk.Advance(24 * time.Hour)
	if r := h.call(t, "+441110001", time.Minute); !r.Allowed {
		t.Fatalf("next day: %+v", r)
	}
}

func TestBalanceRunsOut(t *testing.T) {
	p := moneyPolicy()
	p.Rules[0].CallsPerDay = 0
	h := newHarness(t, p)
	// 100: 5 fee + 9 minutes.
	r := h.call(t, "+441110001", 3*time.Minute+time.Second) // bills 4 minutes: 45
	if !r.Allowed || r.MaxDuration != 9*time.Minute || r.LimitedBy != wire.LimitBalance || !r.Rated || r.Currency != ledger.EUR {
		t.Fatalf("first call %+v", r)
	}
	// 55 left: 5 fee + 5 minutes.
	r = h.call(t, "+441110001", 5*time.Minute) // 55
	if !r.Allowed || r.MaxDuration != 5*time.Minute {
		t.Fatalf("second call %+v", r)
	}
	r = h.call(t, "+441110001", time.Minute)
	if !errors.Is(r.Err, policy.ErrInsufficientBalance) {
		t.Fatalf("with 0 left: %+v", r)
	}
	if acc, _ := h.a.Account("A"); acc.Usable != 0 {
		t.Fatalf("usable %d", acc.Usable)
	}
	// Free numbers still work.
	if r := h.call(t, "+441110002", time.Minute); !r.Allowed || !r.Free || r.LimitedBy != wire.LimitRule {
		t.Fatalf("free call %+v", r)
	}
	// Central's newer policy includes both debits and adds a recharge of
	// 200: the usable balance is 200, not 200 - 100.
	ds, _ := h.st.OwnDebits(0)
	if len(ds) != 2 {
		t.Fatalf("own debits %+v", ds)
	}
	np := moneyPolicy()
	np.Version = 2
	np.Rules[0].CallsPerDay = 0
	np.Money.IncludedSeq = ds[1].Seq
	np.Money.Accounts[0].Balance = 200
	h.a.SetPolicy(np)
	if acc, _ := h.a.Account("A"); acc.Usable != 200 {
		t.Fatalf("usable after the newer policy: %d", acc.Usable)
	}
}

func TestWindowClosesLimitsCall(t *testing.T) {
	h := newHarness(t, moneyPolicy())
	h.clk.Set(time.Date(2026, 11, 18, 21, 57, 0, 0, time.UTC))
	h.a.Tap("t1", "AA")
	r := h.a.Authorize("t1", "+441110002")
	if !r.Allowed || r.MaxDuration != 3*time.Minute || r.LimitedBy != wire.LimitWindow {
		t.Fatalf("near the end of the window: %+v", r)
	}
	h.clk.Advance(5 * time.Minute)
	h.a.Tap("t1", "AA")
	if r := h.a.Authorize("t1", "+441110002"); !errors.Is(r.Err, policy.ErrOutsideSchedule) {
		t.Fatalf("after the window: %+v", r)
	}
}

func TestPINAndLockout(t *testing.T) {
	hash, err := pin.Hash("4321")
	if err != nil {
		t.Fatal(err)
	}
	p := moneyPolicy()
	p.People[0].PINHash = hash
	p.People = append(p.People, wire.Person{ID: "B", Status: wire.StatusActive, Cards: []string{"BB"},
		Numbers: []wire.ApprovedNumber{{Number: "+441110002", Free: true}}})
	h := newHarness(t, p)
	a := h.a

	if err := a.VerifyPIN("t1", "c1", "4321"); !errors.Is(err, policy.ErrNoTap) {
		t.Fatalf("without tap: %v", err)
	}
	if _, ok := a.Caller("t1", "c1"); ok {
		t.Fatal("caller without tap")
	}
	// place decides call id on t1 as call control does after the IVR.
	place := func(id string) Result {
		return a.Check(context.Background(), Request{CallID: id, Terminal: "t1", Number: "+441110002"}, nil)
	}
	// Dialled straight (no PIN entered for this tap): refused.
	a.Tap("t1", "AA")
	if r := a.Authorize("t1", "+441110002"); !errors.Is(r.Err, policy.ErrBadPIN) {
		t.Fatalf("person with a PIN dialling directly: %+v", r)
	}
	a.Tap("t1", "AA")
	c, ok := a.Caller("t1", "c1")
	if !ok || c.PersonID != "A" || c.Name != "Ann" || c.Language != "fr" || !c.NeedsPIN {
		t.Fatalf("caller %+v %v", c, ok)
	}
	// Two wrong PINs, then the right one, in one call: verified, and the
	// count resets.
	for i := 0; i < 2; i++ {
		if err := a.VerifyPIN("t1", "c1", "0000"); !errors.Is(err, policy.ErrBadPIN) {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if err := a.VerifyPIN("t1", "c1", "4321"); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	if c, _ := a.Caller("t1", "c1"); c.NeedsPIN {
		t.Fatal("PIN still needed after verification")
	}
	if r := place("c1"); !r.Allowed {
		t.Fatalf("after the PIN: %+v", r)
	}
	// The allowed call used the tap; a new tap needs the PIN again.
	a.Tap("t1", "AA")
	if r := a.Authorize("t1", "+441110002"); !errors.Is(r.Err, policy.ErrBadPIN) {
		t.Fatalf("new tap without PIN: %+v", r)
	}
	// Three wrong PINs in a row lock the card for five minutes.
	a.Tap("t1", "AA")
	for i := 0; i < 2; i++ {
		if err := a.VerifyPIN("t1", "c2", "1111"); !errors.Is(err, policy.ErrBadPIN) {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if err := a.VerifyPIN("t1", "c2", "1111"); !errors.Is(err, policy.ErrPINLocked) {
		t.Fatalf("third wrong PIN: %v", err)
	}
	if err := a.VerifyPIN("t1", "c2", "4321"); !errors.Is(err, policy.ErrPINLocked) {
		t.Fatalf("right PIN while locked: %v", err)
	}
	a.Tap("t1", "AA")
	if r := a.Authorize("t1", "+441110002"); !errors.Is(r.Err, policy.ErrPINLocked) {
		t.Fatalf("locked card dialling: %+v", r)
	}
	// Another card is not affected: a person without a PIN needs none.
	a.Tap("t2", "BB")
	if err := a.VerifyPIN("t2", "c3", ""); err != nil {
		t.Fatalf("person without PIN: %v", err)
	}
	if c, _ := a.Caller("t2", "c3"); c.NeedsPIN {
		t.Fatal("person without PIN needs one")
	}
	a.Tap("t2", "BB")
	if r := a.Authorize("t2", "+441110002"); !r.Allowed {
		t.Fatalf("direct dial without PIN: %+v", r)
	}
	h.clk.Advance(PINLockout - time.Second)
	a.Tap("t1", "AA")
	if err := a.VerifyPIN("t1", "c4", "4321"); !errors.Is(err, policy.ErrPINLocked) {
		t.Fatalf("just before the lock-out ends: %v", err)
	}
	h.clk.Advance(time.Second)
	if err := a.VerifyPIN("t1", "c4", "4321"); err != nil {
		t.Fatalf("after the lock-out: %v", err)
	}
	if r := place("c4"); !r.Allowed {
		t.Fatalf("after the lock-out: %+v", r)
	}
	// A malformed hash in the policy refuses without locking.
	p2 := moneyPolicy()
	p2.People[0].PINHash = "$argon2id$garbage"
	a.SetPolicy(p2)
	a.Tap("t1", "AA")
	for i := 0; i < 4; i++ {
		if err := a.VerifyPIN("t1", "c5", "4321"); !errors.Is(err, policy.ErrBadPIN) || errors.Is(err, policy.ErrPINLocked) {
			t.Fatalf("malformed hash %d: %v", i, err)
		}
	}
}

func TestOwnSourceFailureRefuses(t *testing.T) {
	a := New(clock.NewFake(wed1200), time.Minute)
	a.SetPolicy(moneyPolicy())
	a.SetOwn(func(uint64, string) (policy.Own, error) { return nil, errors.New("disk on fire") })
	a.Tap("t1", "AA")
	if r := a.Authorize("t1", "+441110001"); !errors.Is(r.Err, ErrLocalState) || r.Allowed {
		t.Fatalf("%+v", r)
	}
	if _, err := a.Account("A"); !errors.Is(err, ErrLocalState) {
		t.Fatal(err)
	}
}

// BenchmarkTapToDecisionRated is BenchmarkTapToDecision with everything a
// decision can need: windows, a daily quota over 60 recent calls per
// person, a rate table, and the appliance's own ledger read from a real
// bbolt store holding 200 calls and debits not yet in the policy. It
// reports the p99 latency (target: far under 1 ms).
func BenchmarkTapToDecisionRated(b *testing.B) {
	p := moneyPolicy()
	p.People, p.Money.Accounts = nil, nil
	p.Rules[0].CallsPerDay = 1000
	for i := 0; i < 2000; i++ {
		id := fmt.Sprint("p", i)
		person := wire.Person{ID: id, Status: wire.StatusActive, Cards: []string{fmt.Sprintf("%08X", i)}}
		for j := 0; j < 10; j++ {
			person.Numbers = append(person.Numbers, wire.ApprovedNumber{Number: fmt.Sprintf("+44207%07d", i*10+j)})
		}
		p.People = append(p.People, person)
		acc := wire.AccountMoney{Account: id, Balance: 100000}
		for k := 0; k < 60; k++ {
			acc.RecentCalls = append(acc.RecentCalls, wire.CallStamp{CallID: fmt.Sprint(id, "-", k), At: wed1200.Add(-time.Duration(k) * 11 * time.Hour)})
		}
		p.Money.Accounts = append(p.Money.Accounts, acc)
	}
	clk := clock.NewFake(wed1200)
	st, err := store.Open(filepath.Join(b.TempDir(), "s.db"), store.Options{ApplianceID: "blk-a", Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < 200; i++ {
		ans := wed1200.Add(-time.Hour)
		rec := wire.CallRecord{CallID: fmt.Sprint("own-", i), PersonID: fmt.Sprint("p", i*10), Answer: &ans, End: wed1200}
		err := st.Update(func(tx *store.Tx) error {
			if _, err := tx.AppendCall(rec); err != nil {
				return err
			}
			_, _, err := tx.AppendDebit(wire.LedgerEntry{Account: rec.PersonID, Kind: wire.LedgerCallDebit, Amount: -50, Currency: "EUR", Ref: rec.CallID, At: ans})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	a := New(clk, time.Minute)
	a.SetPolicy(p)
	a.SetOwn(func(seq uint64, cur string) (policy.Own, error) { return st.Own(seq, cur) })
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % 2000
		start := time.Now()
		a.Tap("t1", fmt.Sprintf("%08X", k))
		r := a.Authorize("t1", fmt.Sprintf("+44207%07d", k*10+3))
		lat = append(lat, time.Since(start))
		if !r.Allowed || r.LimitedBy == "" {
			b.Fatalf("refused: %+v", r)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// slowConfirmer confirms after advancing the fake clock by wait.
type slowConfirmer struct {
	clk  *clock.Fake
	wait time.Duration
}

func (c slowConfirmer) ConfirmCall(ctx context.Context, r ConfirmRequest) (Confirmation, error) {
	c.clk.Advance(c.wait)
	return Confirmation{Method: "button"}, nil
}

func TestOfficerWaitUsesTheWindow(t *testing.T) {
	p := moneyPolicy()
	p.Rules[0].Confirm = wire.ConfirmButton
	h := newHarness(t, p)
	h.clk.Set(time.Date(2026, 11, 18, 21, 50, 0, 0, time.UTC))
	h.a.Tap("t1", "AA")
	r := h.a.Check(context.Background(), Request{CallID: "c1", Terminal: "t1", Number: "+441110002"}, slowConfirmer{h.clk, 45 * time.Second})
	if !r.Allowed || r.MaxDuration != 10*time.Minute-45*time.Second || r.LimitedBy != wire.LimitWindow {
		t.Fatalf("after a 45 s wait: %+v", r)
	}
	h.clk.Set(time.Date(2026, 11, 18, 21, 59, 30, 0, time.UTC))
	h.a.Tap("t1", "AA")
	r = h.a.Check(context.Background(), Request{CallID: "c2", Terminal: "t1", Number: "+441110002"}, slowConfirmer{h.clk, 45 * time.Second})
	if r.Allowed || !errors.Is(r.Err, policy.ErrOutsideSchedule) {
		t.Fatalf("window closed during the wait: %+v", r)
	}
}
