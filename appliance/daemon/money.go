package daemon

import (
	"sync"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// pricing is what the authorization of an allowed call said about its
// money and attributes, kept until the call ends and its record is written.
type pricing struct {
	// started is closed once the call's EventCallStarted is stored: its
	// record must follow it in the outbox.
	started                         chan struct{}
	rated, free, hidden, privileged bool
	rate                            ledger.Rate
	currency                        ledger.Currency
	maxDuration                     time.Duration
	limitedBy                       string
}

// pricings holds the pricing of each allowed call in progress, by call id.
type pricings struct {
	mu sync.Mutex
	m  map[string]pricing
}

func (p *pricings) put(callID string, pr pricing) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]pricing{}
	}
	p.m[callID] = pr
}

// take returns and forgets a call's pricing.
func (p *pricings) take(callID string) (pricing, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.m[callID]
	delete(p.m, callID)
	return pr, ok
}

func pricingOf(r authz.Result) pricing {
	return pricing{rated: r.Rated, free: r.Free, hidden: r.Hidden, privileged: r.Privileged,
		rate: r.Rate, currency: r.Currency, maxDuration: r.MaxDuration, limitedBy: r.LimitedBy}
}

// annotateMoney completes a call's record from its pricing and returns its
// debit, if one is due: only for a rated, answered call that is not free
// and cost more than nothing. The debit's id and origin are set by the
// store.
func annotateMoney(rec *wire.CallRecord, pr pricing, ok bool) (wire.LedgerEntry, bool) {
	if !ok {
		return wire.LedgerEntry{}, false // refused: nothing was priced
	}
	rec.Free = rec.Free || pr.free
	rec.Hidden = rec.Hidden || pr.hidden
	rec.Privileged = rec.Privileged || pr.privileged
	if rec.MaxDurationSeconds == 0 && pr.maxDuration > 0 {
		rec.MaxDurationSeconds = int((pr.maxDuration + time.Second - 1) / time.Second)
		rec.LimitedBy = pr.limitedBy
	}
	if !pr.rated {
		return wire.LedgerEntry{}, false
	}
	rec.Currency = pr.currency.Code
	rate := pr.rate
	rec.Rate = &wire.PricedRate{Prefix: rate.Prefix, DestinationType: string(rate.DestinationType), Name: rate.Name}
	rate.Free = rate.Free || rec.Free
	e, billable := ledger.DebitForCall("", "", *rec, rate)
	if !billable || e.Amount >= 0 {
		rec.Cost = 0
		return wire.LedgerEntry{}, false
	}
	rec.Cost = -int64(e.Amount)
	return e.Wire(pr.currency), true
}

// hotline adapts the authorizer to callctl.Hotline.
type hotline struct{ a *authz.Authorizer }

func (h hotline) Caller(terminal, callID string) (callctl.Caller, bool) {
	c, ok := h.a.Caller(terminal, callID)
	return callctl.Caller{PersonID: c.PersonID, Name: c.Name, Language: c.Language, NeedsPIN: c.NeedsPIN}, ok
}

func (h hotline) VerifyPIN(terminal, callID, pin string) error {
	return h.a.VerifyPIN(terminal, callID, pin)
}

func (h hotline) Account(personID string) (callctl.Account, error) {
	s, err := h.a.Account(personID)
	if err != nil {
		return callctl.Account{}, err
	}
	acc := callctl.Account{Rated: s.Rated, Balance: int64(s.Usable), Currency: s.Currency.Code, Digits: s.Currency.Digits}
	acc.CallsLeftDay, acc.CallsLeftWeek, acc.CallsLeftMonth = s.CallsLeft()
	return acc, nil
}

// ownSource reads the appliance's own calls and debits from the store.
func ownSource(st *store.Store) authz.OwnSource {
	return func(includedSeq uint64, currency string) (policy.Own, error) {
		o, err := st.Own(includedSeq, currency)
		if err != nil {
			return nil, err
		}
		return o, nil
	}
}
