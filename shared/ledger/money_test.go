package ledger

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	cases := []struct {
		cur  Currency
		m    Money
		want string
	}{
		{EUR, 1234, "12.34"},
		{EUR, 5, "0.05"},
		{EUR, -5, "-0.05"},
		{EUR, 0, "0.00"},
		{EUR, -100, "-1.00"},
		{JPY, 1234, "1234"},
		{JPY, -7, "-7"},
		{KWD, -5, "-0.005"},
		{KWD, 12345, "12.345"},
		{EUR, Money(math.MinInt64), "-92233720368547758.08"},
		{EUR, MaxMoney, "92233720368547758.07"},
	}
	for _, c := range cases {
		if got := c.cur.Format(c.m); got != c.want {
			t.Errorf("%s.Format(%d) = %q, want %q", c.cur.Code, c.m, got, c.want)
		}
	}
	if got := Money(-1234).String(); got != "-12.34" {
		t.Errorf("String = %q", got)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		cur  Currency
		in   string
		want Money
		err  error
	}{
		{EUR, "12.34", 1234, nil},
		{EUR, "12.3", 1230, nil},
		{EUR, "12", 1200, nil},
		{EUR, "0.05", 5, nil},
		{EUR, "-0.05", -5, nil},
		{EUR, "+7.00", 700, nil},
		{EUR, "007.10", 710, nil},
		{EUR, "-0", 0, nil},
		{JPY, "1234", 1234, nil},
		{KWD, "1.005", 1005, nil},
		{EUR, "92233720368547758.07", MaxMoney, nil},
		{EUR, "-92233720368547758.08", Money(math.MinInt64), nil},
		{EUR, "92233720368547758.08", 0, ErrRange},
		{EUR, "-92233720368547758.09", 0, ErrRange},
		{EUR, "99999999999999999999", 0, ErrRange},
		{EUR, "12.345", 0, ErrPrecision},
		{EUR, "0.001", 0, ErrPrecision},
		{JPY, "12.0", 0, ErrSyntax},
		{EUR, "", 0, ErrSyntax},
		{EUR, "-", 0, ErrSyntax},
		{EUR, ".5", 0, ErrSyntax},
		{EUR, "5.", 0, ErrSyntax},
		{EUR, "1,000.00", 0, ErrSyntax},
		{EUR, "1 000", 0, ErrSyntax},
		{EUR, " 12.34", 0, ErrSyntax},
		{EUR, "1e3", 0, ErrSyntax},
		{EUR, "12.3.4", 0, ErrSyntax},
		{EUR, "--1", 0, ErrSyntax},
		{EUR, "0x10", 0, ErrSyntax},
		{EUR, "12.-3", 0, ErrSyntax},
		{EUR, "١٢", 0, ErrSyntax}, // Arabic-Indic digits
	}
	for _, c := range cases {
		got, err := c.cur.Parse(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s.Parse(%q) = %d, %v; want error %v", c.cur.Code, c.in, got, err, c.err)
			} else if !strings.Contains(err.Error(), c.in) {
				t.Errorf("%s.Parse(%q): error %q does not quote the input", c.cur.Code, c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s.Parse(%q) = %d, %v; want %d", c.cur.Code, c.in, got, err, c.want)
		}
	}
	if m, err := ParseMoney("3.50"); err != nil || m != 350 {
		t.Errorf("ParseMoney = %d, %v", m, err)
	}
}

func TestCurrencyValidate(t *testing.T) {
	for _, c := range []Currency{{"EU", 2}, {"eur", 2}, {"EUR", 5}, {"EUR", -1}, {"E1R", 2}} {
		if err := c.Validate(); !errors.Is(err, ErrCurrency) {
			t.Errorf("%+v: %v, want ErrCurrency", c, err)
		}
	}
	if _, err := NewCurrency("CHF", 2); err != nil {
		t.Error(err)
	}
	if _, err := (Currency{"XXX", 7}).Parse("1"); !errors.Is(err, ErrCurrency) {
		t.Errorf("parse with 7 digits: %v", err)
	}
}

func TestAddSat(t *testing.T) {
	if addSat(MaxMoney, 1) != MaxMoney || addSat(Money(math.MinInt64), -1) != Money(math.MinInt64) || addSat(2, -3) != -1 {
		t.Error("addSat does not saturate")
	}
}

// FuzzParseMoney: whatever the input, Parse never panics; what it accepts
// is exactly the decimal value of the text (checked with math/big) and
// formats back to text that parses to the same amount.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"12.34", "-0.05", "7", "92233720368547758.07", "1e3", "", ".5", "12.345"} {
		f.Add(s, uint8(2))
	}
	f.Add("1234", uint8(0))
	f.Add("1.005", uint8(3))
	f.Fuzz(func(t *testing.T, s string, digits uint8) {
		cur := Currency{Code: "TST", Digits: int(digits % 5)}
		m, err := cur.Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrPrecision) && !errors.Is(err, ErrRange) {
				t.Fatalf("Parse(%q): unclassified error %v", s, err)
			}
			return
		}
		r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok {
			t.Fatalf("Parse accepted %q, which is not a number", s)
		}
		r.Mul(r, new(big.Rat).SetInt64(pow10[cur.Digits]))
		if !r.IsInt() || r.Num().Int64() != int64(m) || !r.Num().IsInt64() {
			t.Fatalf("Parse(%q) = %d, exact value %s", s, m, r.RatString())
		}
		back, err := cur.Parse(cur.Format(m))
		if err != nil || back != m {
			t.Fatalf("Format(%d) = %q parses to %d, %v", m, cur.Format(m), back, err)
		}
	})
}
