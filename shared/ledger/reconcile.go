package ledger

import (
	"cmp"
	"slices"
)

// Report is the reconciliation of one account: the ledger's credits and
// debits, the balance they give, how far a reported balance (the one in the
// account table or the newest policy) is from it, and the debits that took
// the balance below zero.
type Report struct {
	Account string
	Credits Money // sum of the positive amounts
	Debits  Money // sum of the negative amounts, as a positive number
	// Balance is Credits - Debits: what the ledger says.
	Balance Money
	// Reported is the balance being checked; Difference = Reported -
	// Balance, 0 when they agree.
	Reported   Money
	Difference Money
	// Overspend lists, in time order, the debits that left the running
	// balance below zero: calls an appliance allowed on a balance it did
	// not know was already spent (typically while offline).
	Overspend []Overspend
	// Duplicates are IDs that appear more than once with the same content;
	// each is counted once. Conflicts are IDs that appear with different
	// contents; the first (in time order) is counted.
	Duplicates []string
	Conflicts  []string
}

// Overspend is one debit that took the balance below zero.
type Overspend struct {
	Entry  Entry
	Before Money // running balance before the debit
	After  Money // and after it (< 0)
	// Amount is the part of the debit not covered: -After when the balance
	// was >= 0 before, the whole debit when it already was below zero.
	Amount Money
}

// OK reports whether the account reconciles: the reported balance equals
// the ledger's and no ID is used for two different entries.
func (r Report) OK() bool { return r.Difference == 0 && len(r.Conflicts) == 0 }

// Reconcile checks one account's entries against a reported balance.
// Entries are replayed in time order (ties: credits first, then by ID, so
// the report does not depend on the order given) to find overspend.
func Reconcile(entries []Entry, reported Money) Report {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b Entry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.IsCredit() != b.IsCredit() {
			if a.IsCredit() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var r Report
	if len(sorted) > 0 {
		r.Account = sorted[0].Account
	}
	seen := make(map[string]Entry, len(sorted))
	var running Money
	for _, e := range sorted {
		if prev, dup := seen[e.ID]; dup {
			if sameEntry(prev, e) {
				r.Duplicates = appendOnce(r.Duplicates, e.ID)
			} else {
				r.Conflicts = appendOnce(r.Conflicts, e.ID)
			}
			continue
		}
		seen[e.ID] = e
		if e.Amount > 0 {
			r.Credits = addSat(r.Credits, e.Amount)
		} else {
			r.Debits = addSat(r.Debits, -e.Amount)
		}
		before := running
		running = addSat(running, e.Amount)
		if e.Amount < 0 && running < 0 {
			o := Overspend{Entry: e, Before: before, After: running, Amount: -running}
			if before < 0 {
				o.Amount = -e.Amount
			}
			r.Overspend = append(r.Overspend, o)
		}
	}
	r.Balance = addSat(r.Credits, -r.Debits)
	r.Reported = reported
	r.Difference = addSat(reported, -r.Balance)
	return r
}

// ReconcileAll reconciles every account that has entries or a reported
// balance, sorted by account. An account with a reported balance but no
// entries reconciles against zero.
func ReconcileAll(entries []Entry, reported map[string]Money) []Report {
	by := map[string][]Entry{}
	for _, e := range entries {
		by[e.Account] = append(by[e.Account], e)
	}
	for a := range reported {
		if _, ok := by[a]; !ok {
			by[a] = nil
		}
	}
	out := make([]Report, 0, len(by))
	for a, es := range by {
		r := Reconcile(es, reported[a])
		r.Account = a
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y Report) int { return cmp.Compare(x.Account, y.Account) })
	return out
}

func sameEntry(a, b Entry) bool {
	return a.ID == b.ID && a.Account == b.Account && a.Kind == b.Kind && a.Amount == b.Amount &&
		a.Reason == b.Reason && a.Receipt == b.Receipt && a.Ref == b.Ref && a.At.Equal(b.At) && a.Origin == b.Origin
}

func appendOnce(s []string, id string) []string {
	if slices.Contains(s, id) {
		return s
	}
	return append(s, id)
}
