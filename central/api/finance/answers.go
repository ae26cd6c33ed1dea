package finance

import (
	"github.com/kinline/kinline/central/api/openapi"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// The API's own answers for the money's rows (as package api's): the
// same fields and JSON as the money's types, under the OpenAPI component
// names the document has always used (componentName, OwnType).

// component is implemented by the answers: they are components of the
// OpenAPI document under the name componentName gives.
type component interface{ componentName() string }

// OwnType is the openapi.Owner of this package's types: inlined unless
// they name a component.
var OwnType = openapi.OwnerOf(component.componentName)

// ledgerEntryOut is one entry of an account's ledger.
type ledgerEntryOut struct {
	ID          string       `json:"id"`
	Account     string       `json:"account"`
	Kind        string       `json:"kind"`
	Amount      ledger.Money `json:"amount"`
	Currency    string       `json:"currency"`
	Reason      string       `json:"reason,omitempty"`
	Receipt     string       `json:"receipt,omitempty"`
	Ref         string       `json:"ref,omitempty"`
	At          time.Time    `json:"at"`
	Origin      string       `json:"origin"`
	ApplianceID string       `json:"appliance_id,omitempty"`
	Seq         uint64       `json:"seq,omitempty"`
	CreatedBy   string       `json:"created_by,omitempty"`
	Created     time.Time    `json:"created"`
}

func (ledgerEntryOut) componentName() string { return "store.LedgerEntry" }

func ledgerEntryBody(v *money.LedgerEntry) ledgerEntryOut {
	return ledgerEntryOut{ID: v.ID, Account: v.Account, Kind: v.Kind, Amount: v.Amount, Currency: v.Currency, Reason: v.Reason, Receipt: v.Receipt, Ref: v.Ref, At: v.At, Origin: v.Origin, ApplianceID: v.ApplianceID, Seq: v.Seq, CreatedBy: v.CreatedBy, Created: v.Created}
}

// statementLineOut is a ledger entry with the balance after it.
type statementLineOut struct {
	ledgerEntryOut
	Balance  ledger.Money `json:"balance"`
	Withheld bool         `json:"withheld,omitempty"`
}

func (statementLineOut) componentName() string { return "store.StatementLine" }

func statementLineBody(v *money.StatementLine) statementLineOut {
	return statementLineOut{ledgerEntryOut: ledgerEntryBody(&v.LedgerEntry), Balance: v.Balance, Withheld: v.Withheld}
}

// statementOut is an account's statement.
type statementOut struct {
	Account      string             `json:"account"`
	PrisonNumber string             `json:"prison_number"`
	Name         string             `json:"name"`
	Block        string             `json:"block"`
	Currency     string             `json:"currency"`
	Digits       int                `json:"digits"`
	From         *time.Time         `json:"from,omitempty"`
	To           *time.Time         `json:"to,omitempty"`
	Opening      ledger.Money       `json:"opening"`
	Closing      ledger.Money       `json:"closing"`
	Balance      ledger.Money       `json:"balance"`
	Lines        []statementLineOut `json:"lines"`
}

func (statementOut) componentName() string { return "store.Statement" }

func statementBody(v *money.Statement) statementOut {
	out := statementOut{Account: v.Account, PrisonNumber: v.PrisonNumber, Name: v.Name, Block: v.Block, Currency: v.Currency, Digits: v.Digits, From: v.From, To: v.To, Opening: v.Opening, Closing: v.Closing, Balance: v.Balance}
	if v.Lines != nil {
		out.Lines = make([]statementLineOut, len(v.Lines))
		for i := range v.Lines {
			out.Lines[i] = statementLineBody(&v.Lines[i])
		}
	}
	return out
}

// accountSummaryRowOut is an account in the accounts list.
type accountSummaryRowOut struct {
	Account      string       `json:"account"`
	PrisonNumber string       `json:"prison_number"`
	Name         string       `json:"name"`
	Block        string       `json:"block"`
	Status       string       `json:"status"`
	Balance      ledger.Money `json:"balance"`
	Entries      int64        `json:"entries"`
	LastEntry    *time.Time   `json:"last_entry,omitempty"`
}

func (accountSummaryRowOut) componentName() string { return "store.AccountSummary" }

func accountSummaryRowBody(v *money.AccountSummary) accountSummaryRowOut {
	return accountSummaryRowOut{Account: v.Account, PrisonNumber: v.PrisonNumber, Name: v.Name, Block: v.Block, Status: v.Status, Balance: v.Balance, Entries: v.Entries, LastEntry: v.LastEntry}
}

// overspendOut is a debit that took an account below zero.
type overspendOut struct {
	EntryID     string       `json:"entry_id"`
	ApplianceID string       `json:"appliance_id"`
	CallID      string       `json:"call_id"`
	At          time.Time    `json:"at"`
	Debit       ledger.Money `json:"debit"`
	Before      ledger.Money `json:"before"`
	After       ledger.Money `json:"after"`
	Amount      ledger.Money `json:"amount"`
	Received    time.Time    `json:"received"`
}

func (overspendOut) componentName() string { return "store.Overspend" }

func overspendBody(v *money.Overspend) overspendOut {
	return overspendOut{EntryID: v.EntryID, ApplianceID: v.ApplianceID, CallID: v.CallID, At: v.At, Debit: v.Debit, Before: v.Before, After: v.After, Amount: v.Amount, Received: v.Received}
}

// accountReportOut is one account in the reconciliation.
type accountReportOut struct {
	Account      string         `json:"account"`
	PrisonNumber string         `json:"prison_number"`
	Name         string         `json:"name"`
	Block        string         `json:"block"`
	Credits      ledger.Money   `json:"credits"`
	Debits       ledger.Money   `json:"debits"`
	Balance      ledger.Money   `json:"balance"`
	Stored       ledger.Money   `json:"stored"`
	Difference   ledger.Money   `json:"difference"`
	OK           bool           `json:"ok"`
	Overspends   []overspendOut `json:"overspends"`
}

func (accountReportOut) componentName() string { return "store.AccountReport" }

func accountReportBody(v *money.AccountReport) accountReportOut {
	out := accountReportOut{Account: v.Account, PrisonNumber: v.PrisonNumber, Name: v.Name, Block: v.Block, Credits: v.Credits, Debits: v.Debits, Balance: v.Balance, Stored: v.Stored, Difference: v.Difference, OK: v.OK}
	if v.Overspends != nil {
		out.Overspends = make([]overspendOut, len(v.Overspends))
		for i := range v.Overspends {
			out.Overspends[i] = overspendBody(&v.Overspends[i])
		}
	}
	return out
}

// reconciliationOut is the ledger checked against the stored balances.
type reconciliationOut struct {
	Currency   string             `json:"currency"`
	Digits     int                `json:"digits"`
	Generated  time.Time          `json:"generated"`
	Accounts   []accountReportOut `json:"accounts"`
	Credits    ledger.Money       `json:"credits"`
	Debits     ledger.Money       `json:"debits"`
	Balance    ledger.Money       `json:"balance"`
	OK         bool               `json:"ok"`
	Overspends int                `json:"overspends"`
}

func (reconciliationOut) componentName() string { return "store.Reconciliation" }

func reconciliationBody(v *money.Reconciliation) reconciliationOut {
	out := reconciliationOut{Currency: v.Currency, Digits: v.Digits, Generated: v.Generated, Credits: v.Credits, Debits: v.Debits, Balance: v.Balance, OK: v.OK, Overspends: v.Overspends}
	if v.Accounts != nil {
		out.Accounts = make([]accountReportOut, len(v.Accounts))
		for i := range v.Accounts {
			out.Accounts[i] = accountReportBody(&v.Accounts[i])
		}
	}
	return out
}

// rateRowOut is a call rate with who changed it last.
type rateRowOut struct {
	wire.Rate
	UpdatedBy string    `json:"updated_by"`
	Updated   time.Time `json:"updated"`
}

func (rateRowOut) componentName() string { return "store.RateRow" }

func rateRowBody(v *money.RateRow) rateRowOut {
	return rateRowOut{Rate: v.Rate, UpdatedBy: v.UpdatedBy, Updated: v.Updated}
}

func rateRowsBody(vs []money.RateRow) []rateRowOut {
	if vs == nil {
		return nil
	}
	out := make([]rateRowOut, len(vs))
	for i := range vs {
		out[i] = rateRowBody(&vs[i])
	}
	return out
}

// moneySettingsIO is the money settings: the currency (ISO 4217), the
// digits of its minor unit, the time zone of days and months, and whether
// calls are charged ("on" or "off"; left out of a PUT, it is kept).
type moneySettingsIO struct {
	Currency string `json:"currency"`
	Digits   int    `json:"digits"`
	TimeZone string `json:"time_zone"`
	Charging string `json:"charging,omitempty"`
}

func (moneySettingsIO) componentName() string { return "store.MoneySettings" }

func moneySettingsBody(v *store.MoneySettings) moneySettingsIO {
	return moneySettingsIO{Currency: v.Currency, Digits: v.Digits, TimeZone: v.TimeZone, Charging: v.Charging}
}

func (in moneySettingsIO) settings() store.MoneySettings {
	return store.MoneySettings{Currency: in.Currency, Digits: in.Digits, TimeZone: in.TimeZone, Charging: in.Charging}
}
