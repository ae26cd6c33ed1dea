// Package finance is the money side of the JSON API (issue #5): the
// prison's currency and time zone, the rates table, accounts (balance and
// statement), credits (recharges with a receipt, refunds and adjustments
// with a reason) and the reconciliation report. Package api registers its
// routes (Routes) and documents them (Docs).
//
//	GET, PUT /api/v1/money/settings     currency, digits, time zone, charging
//	GET, PUT /api/v1/rates              the whole rates table
//	GET  /api/v1/accounts               q, block, limit, offset
//	GET  /api/v1/accounts/{person}      the statement; from, to
//	POST /api/v1/accounts/{person}/recharges, refunds, adjustments
//	GET  /api/v1/reconciliation         the ledger against the balances
//
// Amounts in responses are integers in the currency's minor unit (cents
// for EUR: "digits" says how many), with a formatted "..._text" beside the
// headline figures. Amounts in requests are exact decimal strings in the
// major unit ("12.50"; a JSON number is accepted too), never more
// decimals than the currency has. A change republishes the policies it
// affects: a credit its person's block's, the rates and settings every
// block's.
package finance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Deps are what the finance routes need.
type Deps struct {
	// Store gives the audit log and the blocks (to republish every
	// block's policy).
	Store *store.Store
	Money Store
	// Notify republishes the named blocks' policies.
	Notify func(ctx context.Context, blocks ...string)
	Log    *slog.Logger
}

// Handlers serve the finance routes.
type Handlers struct {
	st     *store.Store
	money  Store
	notify func(ctx context.Context, blocks ...string)
	log    *slog.Logger
}

// New returns the finance routes' handlers.
func New(d Deps) *Handlers {
	return &Handlers{st: d.Store, money: d.Money, notify: d.Notify, log: d.Log}
}

// The JSON conventions of package httpjson.
var (
	writeJSON  = httpjson.Write
	decode     = httpjson.Decode
	callerFrom = httpjson.Caller
)

func (s *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpjson.Fail(s.log, w, r, err)
}

// Store is what the finance routes need of the money (money.Store):
// settings, rates, accounts, the ledger and the reconciliation.
type Store interface {
	MoneySettings(ctx context.Context) (store.MoneySettings, error)
	SetMoneySettings(ctx context.Context, actor string, in store.MoneySettings) error
	Rates(ctx context.Context) ([]money.RateRow, error)
	SetRates(ctx context.Context, actor string, rates []wire.Rate) error
	Accounts(ctx context.Context, f money.AccountFilter) ([]money.AccountSummary, error)
	Statement(ctx context.Context, account string, from, to time.Time, withHidden bool) (*money.Statement, error)
	Recharge(ctx context.Context, actor, account string, amount ledger.Money, receipt string) (*money.LedgerEntry, string, error)
	Refund(ctx context.Context, actor, account string, amount ledger.Money, reason, callRef string) (*money.LedgerEntry, string, error)
	Adjust(ctx context.Context, actor, account string, amount ledger.Money, reason string) (*money.LedgerEntry, string, error)
	Balance(ctx context.Context, account string) (ledger.Money, error)
	Reconcile(ctx context.Context, blocks []string) (*money.Reconciliation, error)
}

// Routes are the JSON API's money settings, rates, accounts, ledger and
// reconciliation routes.
func (s *Handlers) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/money/settings":                 s.getMoneySettings,
		"PUT /api/v1/money/settings":                 s.putMoneySettings,
		"GET /api/v1/rates":                          s.getRates,
		"PUT /api/v1/rates":                          s.putRates,
		"GET /api/v1/accounts":                       s.listAccounts,
		"GET /api/v1/accounts/{person}":              s.getAccount,
		"POST /api/v1/accounts/{person}/recharges":   s.postRecharge,
		"POST /api/v1/accounts/{person}/refunds":     s.postRefund,
		"POST /api/v1/accounts/{person}/adjustments": s.postAdjustment,
		"GET /api/v1/reconciliation":                 s.getReconciliation,
	}
}

func (s *Handlers) getMoneySettings(w http.ResponseWriter, r *http.Request) {
	m, err := s.money.MoneySettings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, moneySettingsBody(&m))
}

func (s *Handlers) putMoneySettings(w http.ResponseWriter, r *http.Request) {
	var in moneySettingsIO
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.money.SetMoneySettings(r.Context(), callerFrom(r.Context()).Actor, in.settings()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.notifyAll(r)
	s.getMoneySettings(w, r)
}

// notifyAll republishes every block's policy (rates and money settings
// are prison-wide).
func (s *Handlers) notifyAll(r *http.Request) {
	bs, err := s.st.Blocks(r.Context())
	if err != nil {
		s.log.Error("api: list blocks to notify", "err", err)
		return
	}
	names := make([]string, 0, len(bs))
	for _, b := range bs {
		names = append(names, b.Name)
	}
	s.notify(r.Context(), names...)
}

func (s *Handlers) getRates(w http.ResponseWriter, r *http.Request) {
	m, err := s.money.MoneySettings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rates, err := s.money.Rates(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"currency": m.Currency, "digits": m.Digits, "rates": rateRowsBody(rates)})
}

// ratesIn is the body of PUT /api/v1/rates: the whole rates table,
// replacing the previous one.
type ratesIn struct {
	Rates []wire.Rate `json:"rates"`
}

func (s *Handlers) putRates(w http.ResponseWriter, r *http.Request) {
	var in ratesIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Rates == nil {
		s.fail(w, r, fmt.Errorf("%w: \"rates\" is required (an empty list removes every rate)", httpjson.ErrBadRequest))
		return
	}
	if err := s.money.SetRates(r.Context(), callerFrom(r.Context()).Actor, in.Rates); err != nil {
		s.fail(w, r, err)
		return
	}
	s.notifyAll(r)
	s.getRates(w, r)
}

// accountSummaryOut is an account of the accounts list.
type accountSummaryOut struct {
	accountSummaryRowOut
	BalanceText string `json:"balance_text"`
}

// componentName keeps accountSummaryOut inline in the OpenAPI document
// (not under its embedded row's component name).
func (accountSummaryOut) componentName() string { return "" }

// listAccounts serves GET /api/v1/accounts?q=&block=&limit=&offset=: the
// accounts (people in prison) with their balances, by prison number; block
// officers get their blocks only. Audited as a search.
func (s *Handlers) listAccounts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "q", "block", "limit", "offset":
		default:
			s.fail(w, r, fmt.Errorf("%w: unknown parameter %q", httpjson.ErrBadRequest, k))
			return
		}
	}
	limit, offset, err := callquery.Paging(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(ctx)
	if b := q.Get("block"); b != "" {
		if err := c.CheckBlock(b); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	m, err := s.money.MoneySettings(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	as, err := s.money.Accounts(ctx, money.AccountFilter{Query: q.Get("q"), Block: q.Get("block"), Blocks: c.ScopeBlocks(), Limit: limit, Offset: offset})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(ctx, c.Actor, "accounts.search", "accounts", r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]accountSummaryOut, 0, len(as))
	for _, a := range as {
		out = append(out, accountSummaryOut{accountSummaryRowOut: accountSummaryRowBody(&a), BalanceText: m.Cur().Format(a.Balance) + " " + m.Currency})
	}
	writeJSON(w, http.StatusOK, map[string]any{"currency": m.Currency, "digits": m.Digits, "accounts": out})
}

// accountOut is an account's balance and statement.
type accountOut struct {
	statementOut
	BalanceText string `json:"balance_text"`
}

// componentName keeps accountOut inline in the OpenAPI document (not under
// its embedded statement's component name).
func (accountOut) componentName() string { return "" }

func (s *Handlers) getAccount(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	for k := range q {
		if k != "from" && k != "to" {
			s.fail(w, r, fmt.Errorf("%w: unknown parameter %q", httpjson.ErrBadRequest, k))
			return
		}
	}
	m, err := s.money.MoneySettings(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, err := httpjson.QueryTime(q, "from", m.Location())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to, err := httpjson.QueryTime(q, "to", m.Location())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.money.Statement(ctx, r.PathValue("person"), from, to, callerFrom(ctx).SeesHidden())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(ctx)
	if err := c.CheckBlock(st.Block); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(ctx, c.Actor, "account.view", "account:"+st.Account, r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	cur := ledger.Currency{Code: st.Currency, Digits: st.Digits}
	writeJSON(w, http.StatusOK, accountOut{statementOut: statementBody(st), BalanceText: cur.Format(st.Balance) + " " + st.Currency})
}

// creditIn is the body of the credit routes; which fields are required
// depends on the route (receipt for recharges, reason for refunds and
// adjustments; call_id optionally names a refunded call).
type creditIn struct {
	Amount  json.Number `json:"amount"`
	Receipt string      `json:"receipt"`
	Reason  string      `json:"reason"`
	CallID  string      `json:"call_id"`
}

// creditOut is a posted entry with the account's new balance.
type creditOut struct {
	Entry       *ledgerEntryOut `json:"entry"`
	Balance     ledger.Money    `json:"balance"`
	BalanceText string          `json:"balance_text"`
}

func (s *Handlers) postRecharge(w http.ResponseWriter, r *http.Request) {
	s.postCredit(w, r, func(in creditIn, actor, account string, amt ledger.Money) (*money.LedgerEntry, string, error) {
		if in.Reason != "" || in.CallID != "" {
			return nil, "", fmt.Errorf("%w: a recharge takes amount and receipt only", httpjson.ErrBadRequest)
		}
		return s.money.Recharge(r.Context(), actor, account, amt, in.Receipt)
	})
}

func (s *Handlers) postRefund(w http.ResponseWriter, r *http.Request) {
	s.postCredit(w, r, func(in creditIn, actor, account string, amt ledger.Money) (*money.LedgerEntry, string, error) {
		if in.Receipt != "" {
			return nil, "", fmt.Errorf("%w: a refund takes amount, reason and call_id", httpjson.ErrBadRequest)
		}
		return s.money.Refund(r.Context(), actor, account, amt, in.Reason, in.CallID)
	})
}

func (s *Handlers) postAdjustment(w http.ResponseWriter, r *http.Request) {
	s.postCredit(w, r, func(in creditIn, actor, account string, amt ledger.Money) (*money.LedgerEntry, string, error) {
		if in.Receipt != "" || in.CallID != "" {
			return nil, "", fmt.Errorf("%w: an adjustment takes a signed amount and a reason", httpjson.ErrBadRequest)
		}
		return s.money.Adjust(r.Context(), actor, account, amt, in.Reason)
	})
}

// postCredit decodes a credit, parses its amount in the prison's
// currency, posts it and republishes the person's block policy.
func (s *Handlers) postCredit(w http.ResponseWriter, r *http.Request, post func(in creditIn, actor, account string, amt ledger.Money) (*money.LedgerEntry, string, error)) {
	ctx := r.Context()
	var in creditIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.money.MoneySettings(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Amount == "" {
		s.fail(w, r, fmt.Errorf("%w: amount is required (a decimal string such as \"12.50\")", store.ErrInvalid))
		return
	}
	amt, err := m.Cur().Parse(string(in.Amount))
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: amount: %w", store.ErrInvalid, err))
		return
	}
	account := r.PathValue("person")
	e, block, err := post(in, callerFrom(ctx).Actor, account, amt)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(ctx, block)
	bal, err := s.money.Balance(ctx, account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry := ledgerEntryBody(e)
	writeJSON(w, http.StatusCreated, creditOut{Entry: &entry, Balance: bal, BalanceText: m.Cur().Format(bal) + " " + m.Currency})
}

func (s *Handlers) getReconciliation(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, fmt.Errorf("%w: reconciliation takes no parameters", httpjson.ErrBadRequest))
		return
	}
	c := callerFrom(ctx)
	rep, err := s.money.Reconcile(ctx, c.ScopeBlocks())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(ctx, c.Actor, "reconciliation.view", "ledger", ""); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, reconciliationBody(rep))
}
