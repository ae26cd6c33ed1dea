// Package finance is the console's money pages: the money settings
// (currency, time zone and whether calls are charged; every money page
// says so when they are not), the rates table (finance and system admins
// edit it), the accounts list with balances, an
// account's statement with its recharge, refund and adjustment forms, and
// the reconciliation report with offline overspends highlighted. Amounts
// are shown with the currency's digits and entered as decimals in the
// major unit ("12.50"). Every change republishes the policies it affects,
// as the JSON API does: a credit its person's block's, a rate every
// block's. Package web registers the pages (Routes) behind its session
// and access checks, and renders them with its templates (money_*.html).
package finance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/central/web/page"
	"github.com/kinline/kinline/central/web/signin"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Store is what the money pages need of the money (money.Store):
// settings, rates, accounts, statements, credits and the reconciliation.
type Store interface {
	MoneySettings(ctx context.Context) (store.MoneySettings, error)
	Rates(ctx context.Context) ([]money.RateRow, error)
	PutRate(ctx context.Context, actor string, r wire.Rate) error
	DeleteRate(ctx context.Context, actor, prefix string) error
	Accounts(ctx context.Context, f money.AccountFilter) ([]money.AccountSummary, error)
	Statement(ctx context.Context, account string, from, to time.Time, withHidden bool) (*money.Statement, error)
	Recharge(ctx context.Context, actor, account string, amount ledger.Money, receipt string) (*money.LedgerEntry, string, error)
	Refund(ctx context.Context, actor, account string, amount ledger.Money, reason, callRef string) (*money.LedgerEntry, string, error)
	Adjust(ctx context.Context, actor, account string, amount ledger.Money, reason string) (*money.LedgerEntry, string, error)
	Reconcile(ctx context.Context, blocks []string) (*money.Reconciliation, error)
	SetMoneySettings(ctx context.Context, actor string, in store.MoneySettings) error
}

// Deps are what the money pages need.
type Deps struct {
	// Store gives the audit log and the blocks.
	Store *store.Store
	Money Store
	// Render writes a console template with its view.
	Render func(w http.ResponseWriter, status int, name string, data any)
	// Notify republishes the named blocks' policies.
	Notify func(ctx context.Context, blocks ...string)
	Log    *slog.Logger
}

// Pages serve the money pages.
type Pages struct {
	st     *store.Store
	money  Store
	render func(w http.ResponseWriter, status int, name string, data any)
	notify func(ctx context.Context, blocks ...string)
	log    *slog.Logger
}

// New returns the money pages.
func New(d Deps) *Pages {
	return &Pages{st: d.Store, money: d.Money, render: d.Render, notify: d.Notify, log: d.Log}
}

// Routes are the console's pages for rates, accounts, recharges,
// statements, reconciliation and the money settings.
func (s *Pages) Routes() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /money/rates":                   s.ratesPage,
		"POST /money/rates":                  s.putRate,
		"POST /money/rates/delete":           s.deleteRate,
		"GET /money/accounts":                s.accountsPage,
		"GET /accounts/{person}":             s.accountPage,
		"POST /accounts/{person}/recharge":   s.rechargeForm,
		"POST /accounts/{person}/refund":     s.refundForm,
		"POST /accounts/{person}/adjustment": s.adjustmentForm,
		"GET /money/reconciliation":          s.reconciliationPage,
		"GET /money/settings":                s.settingsPage,
		"POST /money/settings":               s.putSettings,
	}
}

// moneyHead starts every money page's view: the layout, the money
// settings (currency, time zone, charging: the "charging is off" banner
// of template charging_banner) and whether the caller may change what the
// page shows.
type moneyHead struct {
	page.Layout
	CanWrite bool
	Settings store.MoneySettings
}

// ratesView is the data of money_rates.html.
type ratesView struct {
	moneyHead
	Rates     []rateRow
	DestTypes []string
	Form      rateForm
}

// accountsView is the data of money_accounts.html.
type accountsView struct {
	moneyHead
	AccountList []accountRow
	Q, Block    string
	Blocks      []string
	page.Pager
}

// accountView is the data of money_account.html: a statement and the
// credit forms.
type accountView struct {
	moneyHead
	Account  *money.Statement
	Lines    []lineRow
	Balance  string
	Opening  string
	From, To string
	Recharge rechargeFormData
	Refund   creditFormData
	Adjust   creditFormData
}

// reconView is the data of money_reconciliation.html.
type reconView struct {
	moneyHead
	Recon    *money.Reconciliation
	Accounts []reconRow
	Totals   [3]string // credits, debits, balance
}

type rateRow struct {
	money.RateRow
	PerMinute, Fee string
}

type rateForm struct {
	Prefix, DestinationType, Name, PerMinute, BillingUnit, Fee, Rounding string
}

type rechargeFormData struct{ Amount, Receipt string }

// creditFormData refills a refund or adjustment form.
type creditFormData struct{ Amount, Reason, CallID string }

type accountRow struct {
	money.AccountSummary
	BalanceText string
}

type lineRow struct {
	money.StatementLine
	AmountText, BalanceText string
	Credit                  bool
}

type reconRow struct {
	money.AccountReport
	Credits, Debits, Balance, Stored, Difference string
	Overspends                                   []overspendRow
}

type overspendRow struct {
	money.Overspend
	Debit, Before, After, Amount string
}

// newMoneyHead loads the settings; CanWrite says whether the caller may
// use writePattern. False: the answer is written.
func (s *Pages) newMoneyHead(w http.ResponseWriter, r *http.Request, se *users.Session, title, writePattern string) (moneyHead, bool) {
	set, err := s.money.MoneySettings(r.Context())
	if err != nil {
		s.log.Error("web: money settings", "err", err)
		http.Error(w, "could not load the money settings", http.StatusInternalServerError)
		return moneyHead{}, false
	}
	return moneyHead{Layout: page.For(se, title), Settings: set, CanWrite: page.Allowed(se, writePattern)}, true
}

// checkForm refuses a cross-site post or one without the session's CSRF
// token.
func checkForm(w http.ResponseWriter, r *http.Request, se *users.Session) bool {
	if !signin.SameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !signin.TokensEqual(r.PostFormValue("csrf"), se.CSRF) {
		http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
		return false
	}
	return true
}

// userError is the message shown for a store error: its text for invalid
// input, conflicts and unknown items, a generic one otherwise (logged).
func (s *Pages) userError(err error) (int, string) {
	switch {
	case errors.Is(err, store.ErrInvalid):
		return http.StatusUnprocessableEntity, strings.TrimPrefix(err.Error(), "store: ")
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, strings.TrimPrefix(err.Error(), "store: ")
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, strings.TrimPrefix(err.Error(), "store: ")
	}
	s.log.Error("web: money", "err", err)
	return http.StatusInternalServerError, "Something went wrong; nothing was changed."
}

func destTypes() []string {
	return []string{wire.DestLocal, wire.DestNational, wire.DestMobile, wire.DestInternational, wire.DestCustom}
}

func (s *Pages) ratesPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	h, ok := s.newMoneyHead(w, r, se, "Rates", "POST /money/rates")
	if !ok {
		return
	}
	s.showRates(w, r, http.StatusOK, &ratesView{moneyHead: h, Form: rateForm{BillingUnit: "60", Rounding: string(ledger.RoundUp)}})
}

func (s *Pages) showRates(w http.ResponseWriter, r *http.Request, status int, p *ratesView) {
	rates, err := s.money.Rates(r.Context())
	if err != nil {
		s.log.Error("web: rates", "err", err)
		p.Error = "Could not load the rates."
		status = http.StatusInternalServerError
	}
	cur := p.Settings.Cur()
	for _, rr := range rates {
		p.Rates = append(p.Rates, rateRow{RateRow: rr, PerMinute: cur.Format(ledger.Money(rr.PerMinute)), Fee: cur.Format(ledger.Money(rr.ConnectionFee))})
	}
	p.DestTypes = destTypes()
	s.render(w, status, "money_rates.html", p)
}

func (s *Pages) putRate(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !checkForm(w, r, se) {
		return
	}
	h, ok := s.newMoneyHead(w, r, se, "Rates", "POST /money/rates")
	if !ok {
		return
	}
	p := &ratesView{moneyHead: h}
	f := rateForm{Prefix: strings.TrimSpace(r.PostFormValue("prefix")), DestinationType: r.PostFormValue("destination_type"),
		Name: strings.TrimSpace(r.PostFormValue("name")), PerMinute: strings.TrimSpace(r.PostFormValue("per_minute")),
		BillingUnit: strings.TrimSpace(r.PostFormValue("billing_unit_seconds")), Fee: strings.TrimSpace(r.PostFormValue("connection_fee")),
		Rounding: r.PostFormValue("rounding")}
	p.Form = f
	cur := p.Settings.Cur()
	rate := wire.Rate{Prefix: f.Prefix, DestinationType: f.DestinationType, Name: f.Name, Rounding: f.Rounding}
	var errs []string
	if v, err := cur.Parse(f.PerMinute); err != nil {
		errs = append(errs, "price per minute: "+strings.TrimPrefix(err.Error(), "ledger: "))
	} else {
		rate.PerMinute = int64(v)
	}
	if f.Fee != "" {
		if v, err := cur.Parse(f.Fee); err != nil {
			errs = append(errs, "connection fee: "+strings.TrimPrefix(err.Error(), "ledger: "))
		} else {
			rate.ConnectionFee = int64(v)
		}
	}
	if n, err := strconv.Atoi(f.BillingUnit); err != nil {
		errs = append(errs, fmt.Sprintf("billing unit: %q is not a whole number of seconds", f.BillingUnit))
	} else {
		rate.BillingUnitSeconds = n
	}
	if len(errs) > 0 {
		p.Error = strings.Join(errs, "; ")
		s.showRates(w, r, http.StatusUnprocessableEntity, p)
		return
	}
	if err := s.money.PutRate(r.Context(), se.Actor, rate); err != nil {
		status, msg := s.userError(err)
		p.Error = msg
		s.showRates(w, r, status, p)
		return
	}
	s.notifyAllBlocks(r.Context())
	http.Redirect(w, r, "/money/rates", http.StatusSeeOther)
}

// notifyAllBlocks republishes every block's policy (rates are
// prison-wide).
func (s *Pages) notifyAllBlocks(ctx context.Context) {
	bs, err := s.st.Blocks(ctx)
	if err != nil {
		s.log.Error("web: list blocks to notify", "err", err)
		return
	}
	names := make([]string, 0, len(bs))
	for _, b := range bs {
		names = append(names, b.Name)
	}
	s.notify(ctx, names...)
}

func (s *Pages) deleteRate(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !checkForm(w, r, se) {
		return
	}
	if err := s.money.DeleteRate(r.Context(), se.Actor, r.PostFormValue("prefix")); err != nil {
		h, ok := s.newMoneyHead(w, r, se, "Rates", "POST /money/rates")
		if !ok {
			return
		}
		status, msg := s.userError(err)
		h.Error = msg
		s.showRates(w, r, status, &ratesView{moneyHead: h})
		return
	}
	s.notifyAllBlocks(r.Context())
	http.Redirect(w, r, "/money/rates", http.StatusSeeOther)
}

func (s *Pages) accountPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	h, ok := s.newMoneyHead(w, r, se, "Account", "POST /accounts/{person}/recharge")
	if !ok {
		return
	}
	p := &accountView{moneyHead: h}
	switch r.URL.Query().Get("posted") {
	case "recharge":
		p.Notice = "Recharge recorded."
	case "refund":
		p.Notice = "Refund recorded."
	case "adjustment":
		p.Notice = "Adjustment recorded."
	}
	s.showAccount(w, r, se, http.StatusOK, p)
}

// showAccount renders the statement of {person} for the from/to query
// dates (days in the prison's time zone, to inclusive).
func (s *Pages) showAccount(w http.ResponseWriter, r *http.Request, se *users.Session, status int, p *accountView) {
	q := r.URL.Query()
	loc := p.Settings.Location()
	p.From, p.To = q.Get("from"), q.Get("to")
	from, to, err := format.DayRange(p.From, p.To, loc)
	if err != nil {
		p.Error, status, p.From, p.To = err.Error(), http.StatusBadRequest, "", ""
	}
	st, err := s.money.Statement(r.Context(), r.PathValue("person"), from, to, authz.SessionCaller(se).SeesHidden())
	if err == nil {
		err = authz.SessionCaller(se).CheckBlock(st.Block)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "no such account", http.StatusNotFound)
		return
	case errors.Is(err, authz.ErrOutOfScope):
		s.render(w, http.StatusForbidden, "forbidden.html", page.Refused(r, se, err))
		return
	case err != nil:
		s.log.Error("web: statement", "err", err)
		http.Error(w, "could not load the account", http.StatusInternalServerError)
		return
	}
	if err := s.st.Audit(r.Context(), se.Actor, "account.view", "account:"+st.Account, "console "+q.Encode()); err != nil {
		s.log.Error("web: audit", "err", err)
		http.Error(w, "could not load the account", http.StatusInternalServerError)
		return
	}
	cur := ledger.Currency{Code: st.Currency, Digits: st.Digits}
	p.Title = "Account of " + st.Name
	p.Account, p.Balance, p.Opening = st, cur.Format(st.Balance), cur.Format(st.Opening)
	for _, l := range st.Lines {
		p.Lines = append(p.Lines, lineRow{StatementLine: l, AmountText: cur.Format(l.Amount), BalanceText: cur.Format(l.Balance), Credit: l.Amount > 0})
	}
	s.render(w, status, "money_account.html", p)
}

func (s *Pages) rechargeForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.creditForm(w, r, se, "recharge",
		func(p *accountView) {
			p.Recharge = rechargeFormData{Amount: strings.TrimSpace(r.PostFormValue("amount")), Receipt: strings.TrimSpace(r.PostFormValue("receipt"))}
		},
		func(p *accountView, person string, amt ledger.Money) (string, error) {
			_, block, err := s.money.Recharge(r.Context(), se.Actor, person, amt, p.Recharge.Receipt)
			return block, err
		})
}

func (s *Pages) refundForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.creditForm(w, r, se, "refund",
		func(p *accountView) {
			p.Refund = creditFormData{Amount: strings.TrimSpace(r.PostFormValue("amount")), Reason: strings.TrimSpace(r.PostFormValue("reason")),
				CallID: strings.TrimSpace(r.PostFormValue("call_id"))}
		},
		func(p *accountView, person string, amt ledger.Money) (string, error) {
			_, block, err := s.money.Refund(r.Context(), se.Actor, person, amt, p.Refund.Reason, p.Refund.CallID)
			return block, err
		})
}

func (s *Pages) adjustmentForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.creditForm(w, r, se, "adjustment",
		func(p *accountView) {
			p.Adjust = creditFormData{Amount: strings.TrimSpace(r.PostFormValue("amount")), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
		},
		func(p *accountView, person string, amt ledger.Money) (string, error) {
			_, block, err := s.money.Adjust(r.Context(), se.Actor, person, amt, p.Adjust.Reason)
			return block, err
		})
}

// creditForm handles a credit form (kind recharge, refund or adjustment):
// fill keeps the form's values (for a redisplay), the amount is parsed in
// the prison's currency, post writes the entry, and the person's block
// policy is republished before the statement is shown again. An error
// shows the statement with the message and the form filled in; nothing is
// written.
func (s *Pages) creditForm(w http.ResponseWriter, r *http.Request, se *users.Session, kind string,
	fill func(p *accountView), post func(p *accountView, person string, amt ledger.Money) (block string, err error)) {
	if !checkForm(w, r, se) {
		return
	}
	h, ok := s.newMoneyHead(w, r, se, "Account", "POST /accounts/{person}/"+kind)
	if !ok {
		return
	}
	p := &accountView{moneyHead: h}
	fill(p)
	person := r.PathValue("person")
	var block string
	amt, err := p.Settings.Cur().Parse(strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil {
		err = fmt.Errorf("%w: amount: %w", store.ErrInvalid, err)
	} else {
		block, err = post(p, person, amt)
	}
	if err != nil {
		status, msg := s.userError(err)
		if status == http.StatusNotFound {
			http.Error(w, "no such account", http.StatusNotFound)
			return
		}
		p.Error = msg
		r.URL.RawQuery = ""
		s.showAccount(w, r, se, status, p)
		return
	}
	s.notify(r.Context(), block)
	http.Redirect(w, r, "/accounts/"+url.PathEscape(person)+"?posted="+kind, http.StatusSeeOther)
}

const accountsPageSize = 50

// accountsPage lists the accounts with their balances (block officers:
// their blocks'), each linking to its statement; audited as a search.
func (s *Pages) accountsPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	h, ok := s.newMoneyHead(w, r, se, "Accounts", "POST /accounts/{person}/recharge")
	if !ok {
		return
	}
	p := &accountsView{moneyHead: h}
	q := r.URL.Query()
	c := authz.SessionCaller(se)
	p.Q, p.Block = strings.TrimSpace(q.Get("q")), q.Get("block")
	if p.Block != "" {
		if err := c.CheckBlock(p.Block); err != nil {
			s.render(w, http.StatusForbidden, "forbidden.html", page.Refused(r, se, err))
			return
		}
	}
	off, _ := strconv.Atoi(q.Get("offset"))
	off = max(off, 0)
	as, err := s.money.Accounts(r.Context(), money.AccountFilter{Query: p.Q, Block: p.Block, Blocks: c.ScopeBlocks(), Limit: accountsPageSize + 1, Offset: off})
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "accounts.search", "console", q.Encode())
	}
	var bs []store.Block
	if err == nil {
		bs, err = s.st.Blocks(r.Context())
	}
	if err != nil {
		s.log.Error("web: accounts", "err", err)
		http.Error(w, "could not load the accounts", http.StatusInternalServerError)
		return
	}
	for _, b := range bs {
		if c.InScope(b.Name) {
			p.Blocks = append(p.Blocks, b.Name)
		}
	}
	cur := p.Settings.Cur()
	for _, a := range as {
		p.AccountList = append(p.AccountList, accountRow{AccountSummary: a, BalanceText: cur.Format(a.Balance)})
	}
	p.AccountList, p.Pager = page.Paginate(p.AccountList, off, accountsPageSize, "/money/accounts", url.Values{"q": {p.Q}, "block": {p.Block}})
	s.render(w, http.StatusOK, "money_accounts.html", p)
}

func (s *Pages) reconciliationPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	h, ok := s.newMoneyHead(w, r, se, "Reconciliation", "POST /accounts/{person}/recharge")
	if !ok {
		return
	}
	p := &reconView{moneyHead: h}
	rep, err := s.money.Reconcile(r.Context(), authz.SessionCaller(se).ScopeBlocks())
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "reconciliation.view", "ledger", "console")
	}
	if err != nil {
		s.log.Error("web: reconciliation", "err", err)
		http.Error(w, "could not build the reconciliation report", http.StatusInternalServerError)
		return
	}
	cur := ledger.Currency{Code: rep.Currency, Digits: rep.Digits}
	p.Recon = rep
	p.Totals = [3]string{cur.Format(rep.Credits), cur.Format(rep.Debits), cur.Format(rep.Balance)}
	for _, a := range rep.Accounts {
		v := reconRow{AccountReport: a, Credits: cur.Format(a.Credits), Debits: cur.Format(a.Debits), Balance: cur.Format(a.Balance),
			Stored: cur.Format(a.Stored), Difference: cur.Format(a.Difference)}
		for _, o := range a.Overspends {
			v.Overspends = append(v.Overspends, overspendRow{Overspend: o, Debit: cur.Format(o.Debit), Before: cur.Format(o.Before),
				After: cur.Format(o.After), Amount: cur.Format(o.Amount)})
		}
		p.Accounts = append(p.Accounts, v)
	}
	s.render(w, http.StatusOK, "money_reconciliation.html", p)
}
