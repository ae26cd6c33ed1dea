package wire

import (
	"errors"
	"fmt"
	"time"
)

// Money on the wire (CapabilityVersion 3, additive, protocol version 1
// unchanged).
//
// Amounts are integers in the minor unit of the currency named beside them
// (cents for EUR with Digits 2, yen for JPY with Digits 0); there are no
// floats anywhere. shared/ledger turns these shapes into its typed values
// and validates them; nothing here is trusted before that.

// EventLedger is the event type whose payload is a LedgerEntry: a debit the
// appliance wrote for a call (or any entry relayed between the two sides).
const EventLedger EventType = "ledger"

// Ledger entry kinds (LedgerEntry.Kind).
const (
	LedgerRecharge   = "recharge"   // credit from central, with a receipt
	LedgerRefund     = "refund"     // credit from central, with a reason or call ref
	LedgerAdjustment = "adjustment" // signed correction from central, with a reason
	LedgerCallDebit  = "call_debit" // debit written by an appliance for one call
)

// LedgerEntry is one immutable line of an account's ledger. Balances are
// sums of entries; an entry is never edited or deleted, only corrected by a
// later one. ID is unique across the system (central and every appliance).
type LedgerEntry struct {
	ID       string `json:"id"`
	Account  string `json:"account"` // person id
	Kind     string `json:"kind"`
	Amount   int64  `json:"amount"`   // signed, minor units: credits > 0, debits < 0
	Currency string `json:"currency"` // ISO 4217 code
	Reason   string `json:"reason,omitempty"`
	Receipt  string `json:"receipt,omitempty"`
	Ref      string `json:"ref,omitempty"` // call id of a call debit or a refunded call
	// At is when the entry took effect; for a call debit, when the call was
	// answered (so quotas counted from debits and from call records agree).
	At     time.Time `json:"at"`
	Origin string    `json:"origin"` // "central" or the writing appliance's id
}

// Destination types of a Rate.
const (
	DestLocal         = "local"
	DestNational      = "national"
	DestMobile        = "mobile"
	DestInternational = "international"
	DestCustom        = "custom"
)

// Rate prices calls to numbers starting with Prefix (a normalized number
// prefix, see policy.NormalizeNumber; "" matches every number).
type Rate struct {
	Prefix          string `json:"prefix"`
	DestinationType string `json:"destination_type"`
	Name            string `json:"name,omitempty"` // label, e.g. of a custom destination
	PerMinute       int64  `json:"per_minute"`     // minor units per minute
	// BillingUnitSeconds is the billing increment (60, 30, 1, ...).
	BillingUnitSeconds int   `json:"billing_unit_seconds"`
	ConnectionFee      int64 `json:"connection_fee,omitempty"` // minor units, once per answered call
	// Rounding is how a started billing unit is charged: "" or "up" (a
	// started unit is billed in full).
	Rounding string `json:"rounding,omitempty"`
}

// AccountMoney is one person's money and quota state in a MoneyPolicy.
type AccountMoney struct {
	Account string `json:"account"` // person id
	// Balance is the sum of every ledger entry of the account central holds
	// (credits and every appliance's debits up to the watermarks it has).
	Balance int64 `json:"balance"`
	// Calls quotas; 0 means no limit.
	CallsPerDay   int `json:"calls_per_day,omitempty"`
	CallsPerWeek  int `json:"calls_per_week,omitempty"`
	CallsPerMonth int `json:"calls_per_month,omitempty"`
	// RecentCalls are the account's answered calls (from every appliance)
	// central knows of since the start of the previous month, so quotas
	// survive a move between blocks.
	RecentCalls []CallStamp `json:"recent_calls,omitempty"`
}

// CallStamp names one answered call for quota counting.
type CallStamp struct {
	CallID string    `json:"call_id"`
	At     time.Time `json:"at"` // answer time
}

// MoneyPolicy is the money part of a block's policy: rates, balances and
// quotas as of the snapshot.
type MoneyPolicy struct {
	Currency string `json:"currency"` // ISO 4217 code of every amount here
	Digits   int    `json:"digits"`   // digits of the minor unit (2 for cents)
	// TimeZone is the IANA zone whose days, ISO weeks and months quotas
	// count in (e.g. "Europe/London").
	TimeZone string         `json:"time_zone"`
	Rates    []Rate         `json:"rates"`
	Accounts []AccountMoney `json:"accounts"`
	// IncludedSeq: every event of the receiving appliance up to and
	// including this sequence number is folded into the balances and
	// RecentCalls above. The appliance adds its own later debits (see
	// ledger.Usable).
	IncludedSeq uint64 `json:"included_seq"`
	// Charging is ChargingOn when the prison's charging setting is on
	// (CapabilityVersion 19): every call that is not free must match a
	// rate, and one that matches none is refused (policy.ErrNoRate), even
	// when Rates is empty. "" is a central before 19, whose money part
	// meant the same: a money part always means calls are charged, and
	// central sends none while charging is off (so that appliances before
	// 19 stay free too). Any other value is malformed (Policy.Validate).
	// It is not covered by the policy signature (shared/sign): it changes
	// nothing an appliance decides, and signing it would make appliances
	// before 19 refuse every policy while charging is on.
	Charging string `json:"charging,omitempty"`
}

// ChargingOn is MoneyPolicy.Charging when the prison charges for calls.
const ChargingOn = "on"

// ErrBadCharging: a money part's Charging is neither "" nor ChargingOn.
var ErrBadCharging = errors.New("money charging is not \"on\"")

// Validate checks the money part's Charging ("" or ChargingOn). The rest
// is shared/ledger's to check when it builds the rate table (a part it
// cannot use refuses the calls it governs).
func (m *MoneyPolicy) Validate() error {
	if m.Charging != "" && m.Charging != ChargingOn {
		return fmt.Errorf("%w: %w: %q", ErrMalformed, ErrBadCharging, m.Charging)
	}
	return nil
}
