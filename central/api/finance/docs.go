package finance

import (
	"net/http"

	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/shared/wire"
)

// pPerson describes the {person} of an account's routes.
const pPerson = "The person's id (as answered when created, e.g. in Location)."

// creditFields are the fields of creditIn.
var creditFields = map[string]string{
	"amount":  `Exact decimal in the currency's major unit, as a string ("12.50"; a JSON number is accepted); never more decimals than the currency has.`,
	"receipt": "Recharges only: the payment receipt, unique across the ledger (1 to 128 characters).",
	"reason":  "Refunds and adjustments: why (required).",
	"call_id": "Refunds only, optional: the refunded call (the account's own), whose refunds never exceed its charge.",
}

// Docs document the finance routes (package openapi).
var Docs = map[string]openapi.Doc{
	"GET /api/v1/money/settings": {
		Summary:     "Get the money settings",
		Description: "The prison's currency (ISO 4217 code and minor-unit digits), the time zone quota and statement periods count in, and charging: \"on\" (calls are charged at the rates; a number that matches no rate is refused, and the caller is told so) or \"off\" (calls are free and not limited by money). A fresh installation starts with charging off; one upgraded from before the setting keeps charging if it had rates.",
		Out:         moneySettingsIO{},
	},
	"PUT /api/v1/money/settings": {
		Summary:     "Change the money settings",
		Description: "Replaces currency, time zone and charging (\"on\" or \"off\"; left out, it is kept), audited; every block's policy is republished. The currency cannot change once ledger entries exist in another.",
		Body:        moneySettingsIO{},
		Out:         moneySettingsIO{},
		Errors:      map[int]any{409: "Ledger entries exist in another currency."},
	},
	"GET /api/v1/rates": {
		Summary:     "Get the rates table",
		Description: "The rates by number prefix: destination type, price per minute and connection fee (minor units), billing unit and rounding.",
		Out:         openapi.Obj{"currency": "", "digits": 0, "rates": []wire.Rate{}},
	},
	"PUT /api/v1/rates": {
		Summary:     "Replace the rates table",
		Description: "Replaces the whole rates table (rates is required; an empty list removes every rate), validated as a set with no prefix twice, audited; every block's policy is republished.",
		Body:        ratesIn{},
		Out:         openapi.Obj{"currency": "", "digits": 0, "rates": []wire.Rate{}},
	},
	"GET /api/v1/accounts": {
		Summary:     "List accounts",
		Description: "People in prison with their balances (minor units, and formatted), by prison number; block officers get their blocks' only. Audited as a search; unknown parameters are refused.",
		Query: append([]openapi.Param{
			openapi.Str("q", "A prison number prefix or part of a name."),
			openapi.Str("block", "Block name (block officers: one of their blocks)."),
		}, openapi.Paging(50, 500)...),
		Out: openapi.Obj{"currency": "", "digits": 0, "accounts": []accountSummaryOut{}},
	},
	"GET /api/v1/accounts/{person}": {
		Summary: "Get an account's statement",
		Description: "The person's balance and ledger entries over a period with the running balance after each; audited. " +
			"For a caller who may not see hidden calls (all but investigators and system administrators), an entry naming a hidden call keeps its amount " +
			"but has no ref, the reason \"" + money.WithheldReason + "\" and withheld true.",
		Path: map[string]string{"person": pPerson},
		Query: []openapi.Param{
			openapi.Str("from", "Entries at or after: RFC 3339, or a date (YYYY-MM-DD, midnight in the money time zone)."),
			openapi.Str("to", "Entries before: RFC 3339, or a date (YYYY-MM-DD, midnight in the money time zone)."),
		},
		Out: accountOut{},
	},
	"POST /api/v1/accounts/{person}/recharges": {
		Summary:     "Recharge an account",
		Description: "Credits the account with a positive amount paid in against a receipt; the block's policy is republished so the appliance has the new balance at once.",
		Path:        map[string]string{"person": pPerson},
		Body:        creditIn{},
		Fields:      creditFields,
		Status:      http.StatusCreated, Out: creditOut{}, OutDesc: "The entry and the new balance.",
		Errors: map[int]any{409: "The receipt was entered before."},
	},
	"POST /api/v1/accounts/{person}/refunds": {
		Summary:     "Refund an account",
		Description: "Credits the account with a positive amount for a reason, optionally naming the refunded call; the block's policy is republished.",
		Path:        map[string]string{"person": pPerson},
		Body:        creditIn{},
		Fields:      creditFields,
		Status:      http.StatusCreated, Out: creditOut{}, OutDesc: "The entry and the new balance.",
	},
	"POST /api/v1/accounts/{person}/adjustments": {
		Summary:     "Adjust an account",
		Description: "Corrects the account by a signed, non-zero amount for a reason; the block's policy is republished.",
		Path:        map[string]string{"person": pPerson},
		Body:        creditIn{},
		Fields:      creditFields,
		Status:      http.StatusCreated, Out: creditOut{}, OutDesc: "The entry and the new balance.",
	},
	"GET /api/v1/reconciliation": {
		Summary:     "Reconcile the ledger",
		Description: "Per account, credits minus debits line by line against the database's own sum, and any overspends; block officers get their blocks' accounts only. Takes no parameters; audited.",
		Out:         reconciliationOut{},
	},
}
