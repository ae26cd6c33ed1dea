// Package ledger is Kinline's money and quota arithmetic, shared by central
// and the appliance: integer money, rate tables matched by longest number
// prefix, call pricing and the longest call a balance pays for, ledgers of
// immutable entries with balances derived from them, the appliance's usable
// balance, calls-per-period quotas and reconciliation reports.
//
// It is pure: no I/O, no clock (callers pass the times), no logging. Amounts
// are Money, an int64 count of the currency's minor unit; floats are never
// used. Arithmetic that could overflow saturates at the int64 limits
// instead of wrapping.
package ledger

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errors of the money layer.
var (
	// ErrSyntax: the text is not a decimal amount ("12.34", "-0.50", "7").
	ErrSyntax = errors.New("ledger: malformed amount")
	// ErrPrecision: the amount has more decimals than the currency's minor
	// unit ("12.345" in EUR). It is refused, never rounded.
	ErrPrecision = errors.New("ledger: more decimals than the currency has")
	// ErrRange: the amount does not fit in Money.
	ErrRange = errors.New("ledger: amount out of range")
	// ErrCurrency: an unknown or invalid currency, or amounts in two
	// currencies mixed.
	ErrCurrency = errors.New("ledger: bad currency")
)

// Money is an amount in the minor unit of its currency (cents for EUR).
// Which currency is carried beside it (a Table's, an account's); Money
// never holds a fraction of the minor unit.
type Money int64

// MaxMoney is the largest Money; saturating arithmetic stops there.
const MaxMoney = Money(math.MaxInt64)

// String formats m with two decimals ("12.34", "-0.05"), the usual minor
// unit; use Currency.Format for a currency with other digits.
func (m Money) String() string { return format(m, 2) }

// ParseMoney parses an amount with at most two decimals ("12.34", "12.3",
// "12", "-0.05") into minor units. See Currency.Parse for the rules.
func ParseMoney(s string) (Money, error) { return parse(s, 2) }

// Currency is an ISO 4217 code and the number of digits of its minor unit.
type Currency struct {
	Code   string
	Digits int // 0..4
}

// Common currencies.
var (
	EUR = Currency{Code: "EUR", Digits: 2}
	USD = Currency{Code: "USD", Digits: 2}
	GBP = Currency{Code: "GBP", Digits: 2}
	CNY = Currency{Code: "CNY", Digits: 2}
	JPY = Currency{Code: "JPY", Digits: 0}
	KWD = Currency{Code: "KWD", Digits: 3}
)

// NewCurrency checks and returns a currency: code of three upper-case
// letters, digits 0 to 4.
func NewCurrency(code string, digits int) (Currency, error) {
	c := Currency{Code: code, Digits: digits}
	return c, c.Validate()
}

// Validate reports whether c is usable.
func (c Currency) Validate() error {
	if len(c.Code) != 3 {
		return fmt.Errorf("%w: code %q is not three letters", ErrCurrency, c.Code)
	}
	for i := 0; i < 3; i++ {
		if c.Code[i] < 'A' || c.Code[i] > 'Z' {
			return fmt.Errorf("%w: code %q is not three upper-case letters", ErrCurrency, c.Code)
		}
	}
	if c.Digits < 0 || c.Digits > 4 {
		return fmt.Errorf("%w: %s with %d minor digits", ErrCurrency, c.Code, c.Digits)
	}
	return nil
}

// Format writes m in c's major unit with exactly c.Digits decimals:
// EUR 1234 -> "12.34", JPY 1234 -> "1234", KWD -5 -> "-0.005".
func (c Currency) Format(m Money) string { return format(m, c.Digits) }

// Parse reads an amount in c's major unit. Accepted: an optional '-' or
// '+', one or more ASCII digits, then optionally '.' and one to c.Digits
// digits. Refused with ErrSyntax: empty text, spaces, thousands
// separators, exponents, a lone or trailing '.', a '.' in a currency
// without minor digits; with ErrPrecision: more decimals than c.Digits
// (never rounded); with ErrRange: amounts beyond Money.
func (c Currency) Parse(s string) (Money, error) { return parse(s, c.Digits) }

var pow10 = [...]int64{1, 10, 100, 1000, 10000}

func format(m Money, digits int) string {
	if digits <= 0 || digits >= len(pow10) {
		return strconv.FormatInt(int64(m), 10)
	}
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u // two's complement: correct for math.MinInt64 too
	}
	p := uint64(pow10[digits])
	frac := strconv.FormatUint(u%p, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(strconv.FormatUint(u/p, 10))
	b.WriteByte('.')
	b.WriteString(strings.Repeat("0", digits-len(frac)))
	b.WriteString(frac)
	return b.String()
}

func parse(s string, digits int) (Money, error) {
	if digits < 0 || digits >= len(pow10) {
		return 0, fmt.Errorf("%w: %d minor digits", ErrCurrency, digits)
	}
	in := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) {
		return 0, fmt.Errorf("%w: %q: expected digits before any '.'", ErrSyntax, in)
	}
	if hasDot {
		if digits == 0 {
			return 0, fmt.Errorf("%w: %q: this currency has no decimals", ErrSyntax, in)
		}
		if frac == "" || !allDigits(frac) {
			return 0, fmt.Errorf("%w: %q: expected digits after '.'", ErrSyntax, in)
		}
		if len(frac) > digits {
			return 0, fmt.Errorf("%w: %q has %d decimals, at most %d", ErrPrecision, in, len(frac), digits)
		}
	}
	// Accumulate as a negative number so math.MinInt64 parses too.
	var v int64
	for _, d := range whole + frac + strings.Repeat("0", digits-len(frac)) {
		n := int64(d - '0')
		if v < (math.MinInt64+n)/10 {
			return 0, fmt.Errorf("%w: %q", ErrRange, in)
		}
		v = v*10 - n
	}
	if !neg {
		if v == math.MinInt64 {
			return 0, fmt.Errorf("%w: %q", ErrRange, in)
		}
		v = -v
	}
	return Money(v), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// addSat returns a+b, saturating at the int64 limits.
func addSat(a, b Money) Money {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		if b > 0 {
			return MaxMoney
		}
		return Money(math.MinInt64)
	}
	return s
}
