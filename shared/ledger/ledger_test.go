package ledger

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func recharge(id string, amt Money, at time.Time) Entry {
	return Entry{ID: id, Account: "p1", Kind: Recharge, Amount: amt, Receipt: "R-" + id, At: at, Origin: OriginCentral}
}

func debit(id, origin string, amt Money, at time.Time) Entry {
	return Entry{ID: id, Account: "p1", Kind: CallDebit, Amount: -amt, Ref: "call-" + id, At: at, Origin: origin}
}

func TestEntryValidate(t *testing.T) {
	good := []Entry{
		recharge("r1", 500, t0),
		{ID: "f1", Account: "p1", Kind: Refund, Amount: 30, Ref: "call-9", At: t0, Origin: OriginCentral},
		{ID: "f2", Account: "p1", Kind: Refund, Amount: 30, Reason: "dropped call", At: t0, Origin: OriginCentral},
		{ID: "a1", Account: "p1", Kind: Adjustment, Amount: -20, Reason: "duplicate recharge", At: t0, Origin: OriginCentral},
		debit("d1", "app-a", 40, t0),
		debit("d0", "app-a", 0, t0), // a free call still leaves its debit line
	}
	for _, e := range good {
		if err := e.Validate(); err != nil {
			t.Errorf("%+v: %v", e, err)
		}
	}
	bad := map[string]Entry{
		"recharge without receipt":  {ID: "x", Account: "p1", Kind: Recharge, Amount: 5, At: t0, Origin: OriginCentral},
		"negative recharge":         {ID: "x", Account: "p1", Kind: Recharge, Amount: -5, Receipt: "r", At: t0, Origin: OriginCentral},
		"recharge by an appliance":  {ID: "x", Account: "p1", Kind: Recharge, Amount: 5, Receipt: "r", At: t0, Origin: "app-a"},
		"refund without reason":     {ID: "x", Account: "p1", Kind: Refund, Amount: 5, At: t0, Origin: OriginCentral},
		"negative refund":           {ID: "x", Account: "p1", Kind: Refund, Amount: -5, Reason: "r", At: t0, Origin: OriginCentral},
		"adjustment without reason": {ID: "x", Account: "p1", Kind: Adjustment, Amount: 5, At: t0, Origin: OriginCentral},
		"zero adjustment":           {ID: "x", Account: "p1", Kind: Adjustment, Reason: "r", At: t0, Origin: OriginCentral},
		"positive call debit":       {ID: "x", Account: "p1", Kind: CallDebit, Amount: 5, Ref: "c", At: t0, Origin: "app-a"},
		"call debit without call":   {ID: "x", Account: "p1", Kind: CallDebit, Amount: -5, At: t0, Origin: "app-a"},
		"call debit by central":     {ID: "x", Account: "p1", Kind: CallDebit, Amount: -5, Ref: "c", At: t0, Origin: OriginCentral},
		"no id":                     {Account: "p1", Kind: Adjustment, Amount: 5, Reason: "r", At: t0, Origin: OriginCentral},
		"no account":                {ID: "x", Kind: Adjustment, Amount: 5, Reason: "r", At: t0, Origin: OriginCentral},
		"no time":                   {ID: "x", Account: "p1", Kind: Adjustment, Amount: 5, Reason: "r", Origin: OriginCentral},
		"unknown kind":              {ID: "x", Account: "p1", Kind: "gift", Amount: 5, At: t0, Origin: OriginCentral},
	}
	for name, e := range bad {
		if err := e.Validate(); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: %v, want ErrBadEntry", name, err)
		}
	}
}

func TestBalance(t *testing.T) {
	es := []Entry{recharge("r1", 1000, t0), debit("d1", "app-a", 35, t0), debit("d2", "app-a", 120, t0),
		{ID: "a1", Account: "p1", Kind: Adjustment, Amount: -45, Reason: "x", At: t0, Origin: OriginCentral}}
	if b := Balance(es); b != 800 {
		t.Errorf("Balance = %d, want 800", b)
	}
	if b := Balance(nil); b != 0 {
		t.Errorf("empty Balance = %d", b)
	}
	if b := Balance([]Entry{{Amount: MaxMoney}, {Amount: 1}}); b != MaxMoney {
		t.Errorf("Balance overflowed: %d", b)
	}
	if b := Balance([]Entry{{Amount: math.MinInt64}, {Amount: -1}}); b != math.MinInt64 {
		t.Errorf("Balance underflowed: %d", b)
	}
}

// TestUsable: the policy's balance already includes the appliance's debits
// d1 and d2; d3 and d4 came later. Counting d1 twice, or forgetting d3,
// would both be wrong.
func TestUsable(t *testing.T) {
	own := []Entry{debit("d1", "app-a", 30, t0), debit("d2", "app-a", 20, t0), debit("d3", "app-a", 50, t0), debit("d4", "app-a", 5, t0)}
	central := []Entry{recharge("r1", 1000, t0), own[0], own[1]} // what central had at snapshot time
	policyBalance := Balance(central)                            // 950
	inc := map[string]bool{"d1": true, "d2": true}
	got := Usable(policyBalance, func(id string) bool { return inc[id] }, own)
	if got != 895 {
		t.Errorf("Usable = %d, want 1000-30-20-50-5 = 895", got)
	}
	if want := Balance(append(central, own[2], own[3])); got != want {
		t.Errorf("Usable %d differs from the balance of the union %d", got, want)
	}
	if got := Usable(1000, nil, own); got != 895 {
		t.Errorf("nil included: %d, want 895", got)
	}
	seq := map[string]uint64{"d1": 10, "d2": 11, "d3": 14, "d4": 15}
	included := IncludedUpTo(12, func(id string) (uint64, bool) { s, ok := seq[id]; return s, ok })
	if got := Usable(policyBalance, included, own); got != 895 {
		t.Errorf("IncludedUpTo(12): %d, want 895", got)
	}
	if included("unknown") {
		t.Error("an entry of unknown sequence counted as included")
	}
}

func TestDebitForCall(t *testing.T) {
	r := Rate{Prefix: "+44", DestinationType: International, PerMinute: 30, BillingUnit: 60, ConnectionFee: 5}
	ans := t0.Add(20 * time.Second)
	rec := wire.CallRecord{CallID: "c1", PersonID: "p1", Start: t0, Answer: &ans, End: ans.Add(61 * time.Second)}
	e, ok := DebitForCall("d-c1", "app-a", rec, r)
	if !ok || e.Amount != -65 || e.At != ans || e.Ref != "c1" || e.Account != "p1" || e.Kind != CallDebit || e.Origin != "app-a" {
		t.Fatalf("%+v %v", e, ok)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
	rec.Answer = nil
	if _, ok := DebitForCall("d-c1", "app-a", rec, r); ok {
		t.Error("an unanswered call was billed")
	}
}

func TestEntryWire(t *testing.T) {
	e := Entry{ID: "r1", Account: "p1", Kind: Recharge, Amount: 2500, Receipt: "RC-77", At: t0, Origin: OriginCentral}
	data, err := json.Marshal(e.Wire(EUR))
	if err != nil {
		t.Fatal(err)
	}
	var w wire.LedgerEntry
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	back, err := EntryFromWire(w, EUR)
	if err != nil || !sameEntry(back, e) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := EntryFromWire(w, GBP); !errors.Is(err, ErrCurrency) {
		t.Errorf("currency mismatch: %v", err)
	}
	w.Receipt = ""
	if _, err := EntryFromWire(w, EUR); !errors.Is(err, ErrBadEntry) {
		t.Errorf("invalid wire entry: %v", err)
	}
}

// FuzzEntryFromWire: untrusted JSON from an event payload either fails
// cleanly or gives a valid entry that round-trips through Wire.
func FuzzEntryFromWire(f *testing.F) {
	f.Add([]byte(`{"id":"d1","account":"p1","kind":"call_debit","amount":-35,"currency":"EUR","ref":"c1","at":"2026-03-02T09:00:00Z","origin":"app-a"}`))
	f.Add([]byte(`{"id":"r1","account":"p1","kind":"recharge","amount":500,"currency":"EUR","receipt":"R1","at":"2026-03-02T09:00:00Z","origin":"central"}`))
	f.Add([]byte(`{"kind":"gift","amount":1e400}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var w wire.LedgerEntry
		if json.Unmarshal(data, &w) != nil {
			return
		}
		e, err := EntryFromWire(w, EUR)
		if err != nil {
			if !errors.Is(err, ErrBadEntry) && !errors.Is(err, ErrCurrency) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if e.Validate() != nil {
			t.Fatal("accepted an invalid entry")
		}
		back, err := EntryFromWire(e.Wire(EUR), EUR)
		if err != nil || !sameEntry(back, e) {
			t.Fatalf("round trip: %+v %v", back, err)
		}
	})
}
