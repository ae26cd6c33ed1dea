package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// Errors of the ledger layer.
var (
	// ErrBadEntry: an entry that breaks the rules of its kind.
	ErrBadEntry = errors.New("ledger: bad entry")
)

// OriginCentral is the Origin of every entry central writes; appliances
// write with their own appliance id.
const OriginCentral = "central"

// Kind is what a ledger entry records.
type Kind string

// Entry kinds. Central writes the credits and adjustments; appliances write
// call debits.
const (
	Recharge   Kind = wire.LedgerRecharge   // money paid in: Amount > 0, Receipt set
	Refund     Kind = wire.LedgerRefund     // money given back: Amount > 0, Reason or Ref set
	Adjustment Kind = wire.LedgerAdjustment // a correction either way: Amount != 0, Reason set
	CallDebit  Kind = wire.LedgerCallDebit  // one call: Amount <= 0, Ref = call id
)

// Entry is one immutable line of an account's ledger. Balances are sums of
// entries, never stored counters; a mistake is corrected by a new
// Adjustment or Refund, never by editing an entry. ID is unique system-wide.
type Entry struct {
	ID      string
	Account string // person id
	Kind    Kind
	Amount  Money // signed: credits > 0, debits < 0
	Reason  string
	Receipt string
	Ref     string // call id
	// At is when the entry took effect; for a call debit, when the call
	// was answered.
	At     time.Time
	Origin string // OriginCentral or an appliance id
}

// Validate checks e against the rules of its kind.
func (e Entry) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s %q: %s", ErrBadEntry, e.Kind, e.ID, fmt.Sprintf(format, a...))
	}
	if e.ID == "" || e.Account == "" || e.Origin == "" {
		return bad("id, account and origin are required")
	}
	if e.At.IsZero() {
		return bad("no time")
	}
	switch e.Kind {
	case Recharge:
		if e.Amount <= 0 || e.Receipt == "" {
			return bad("a recharge needs a positive amount and a receipt")
		}
	case Refund:
		if e.Amount <= 0 || e.Reason == "" && e.Ref == "" {
			return bad("a refund needs a positive amount and a reason or call ref")
		}
	case Adjustment:
		if e.Amount == 0 || e.Reason == "" {
			return bad("an adjustment needs a non-zero amount and a reason")
		}
	case CallDebit:
		if e.Amount > 0 || e.Ref == "" {
			return bad("a call debit needs an amount <= 0 and the call id")
		}
		if e.Origin == OriginCentral {
			return bad("call debits are written by appliances")
		}
		return nil
	default:
		return fmt.Errorf("%w: %q: unknown kind %q", ErrBadEntry, e.ID, e.Kind)
	}
	if e.Origin != OriginCentral {
		return bad("credits and adjustments are written by central, not %q", e.Origin)
	}
	return nil
}

// IsCredit reports whether e adds money.
func (e Entry) IsCredit() bool { return e.Amount > 0 }

// Balance is the sum of the entries' amounts (saturating). Entries are
// unique by ID (stores upsert on it); Reconcile reports repeats.
func Balance(entries []Entry) Money {
	var b Money
	for i := range entries {
		b = addSat(b, entries[i].Amount)
	}
	return b
}

// Usable is the appliance's usable balance for one account: the balance in
// its newest policy, which already includes some of this appliance's
// debits, plus the appliance's own entries that policy does not include
// yet (included(id) false). A nil included means none are included.
func Usable(policyBalance Money, included func(id string) bool, own []Entry) Money {
	b := policyBalance
	for i := range own {
		if included == nil || !included(own[i].ID) {
			b = addSat(b, own[i].Amount)
		}
	}
	return b
}

// IncludedUpTo is the included func for Usable when the policy says it
// folds in every event of this appliance up to and including seq
// (wire.MoneyPolicy.IncludedSeq): seqOf gives the event sequence that
// carried an entry (false when unknown, which counts as not included).
func IncludedUpTo(seq uint64, seqOf func(id string) (uint64, bool)) func(id string) bool {
	return func(id string) bool {
		s, ok := seqOf(id)
		return ok && s <= seq
	}
}

// DebitForCall prices an answered call under r and returns its debit:
// Amount = -Cost(End - Answer), At = Answer, Ref = the call id, Account = the
// person. It reports false for a call that was not answered (no billing)
// or has no person.
func DebitForCall(id, origin string, rec wire.CallRecord, r Rate) (Entry, bool) {
	if rec.Answer == nil || rec.PersonID == "" || rec.CallID == "" {
		return Entry{}, false
	}
	d := rec.End.Sub(*rec.Answer)
	return Entry{
		ID: id, Account: rec.PersonID, Kind: CallDebit, Amount: -r.Cost(d),
		Ref: rec.CallID, At: *rec.Answer, Origin: origin,
	}, true
}

// EntryFromWire converts and validates a wire entry in currency cur; an
// entry in any other currency is refused with ErrCurrency.
func EntryFromWire(w wire.LedgerEntry, cur Currency) (Entry, error) {
	if w.Currency != cur.Code {
		return Entry{}, fmt.Errorf("%w: entry %q in %q, account in %q", ErrCurrency, w.ID, w.Currency, cur.Code)
	}
	e := Entry{ID: w.ID, Account: w.Account, Kind: Kind(w.Kind), Amount: Money(w.Amount),
		Reason: w.Reason, Receipt: w.Receipt, Ref: w.Ref, At: w.At, Origin: w.Origin}
	return e, e.Validate()
}

// Wire returns e in its wire form, in currency cur.
func (e Entry) Wire(cur Currency) wire.LedgerEntry {
	return wire.LedgerEntry{ID: e.ID, Account: e.Account, Kind: string(e.Kind), Amount: int64(e.Amount),
		Currency: cur.Code, Reason: e.Reason, Receipt: e.Receipt, Ref: e.Ref, At: e.At, Origin: e.Origin}
}
