package browsertests

import (
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/money"
)

// TestRecharge: a finance user finds the person's account in the list,
// opens it, records a recharge with its receipt and sees the new balance
// and the statement line; a malformed amount is refused with a message and
// changes nothing; a second recharge adds up. Central's API agrees.
func TestRecharge(t *testing.T) {
	b := newTab(t)
	b.loginOK("fred")
	if st := b.submit("open Accounts from the menu", `nav a[href="/money/accounts"]`); st != 200 {
		b.failf("Accounts: HTTP %d", st)
	}
	b.fill("search the person", "#ac-q", prisonMoney)
	b.submit("search", `form[role=search] button[type=submit]`)
	rows := b.rows()
	if len(rows) != 1 || !strings.Contains(rows[0], nameMoney) || !strings.Contains(rows[0], "0.00") {
		b.failf("accounts matching %s: %q", prisonMoney, rows)
	}
	if st := b.submit("open the account", `tbody a[href="/accounts/`+b.in.PersonMoney+`"]`); st != 200 {
		b.failf("account page: HTTP %d", st)
	}
	b.wantText("Account of "+nameMoney, "Balance: 0.00 EUR")

	b.fill("type the recharge", "#c-amount", "12.50", "#c-receipt", "R-1001")
	if st := b.submit("record the recharge", `form[action$="/recharge"] button[type=submit]`); st != 200 {
		b.failf("recharge: HTTP %d", st)
	}
	b.wantText("Recharge recorded.", "Balance: 12.50 EUR")
	if row := b.text(`tbody tr:has(td)`); !strings.Contains(row, "+12.50") || !strings.Contains(row, "R-1001") || !strings.Contains(row, "user:fred") {
		b.failf("statement line: %q", row)
	}

	b.fill("type a malformed amount", "#c-amount", "12.505", "#c-receipt", "R-1002")
	if st := b.submit("record the malformed recharge", `form[action$="/recharge"] button[type=submit]`); st != 422 {
		b.failf("malformed amount: HTTP %d, want 422", st)
	}
	if msg := b.text(".error"); !strings.Contains(msg, "amount") {
		b.failf("the refusal says %q", msg)
	}
	b.wantText("Balance: 12.50 EUR")

	b.fill("type the second recharge", "#c-amount", "0.75", "#c-receipt", "R-1002")
	if st := b.submit("record the second recharge", `form[action$="/recharge"] button[type=submit]`); st != 200 {
		b.failf("second recharge: HTTP %d", st)
	}
	b.wantText("Balance: 13.25 EUR", "R-1002")

	var acct money.Statement
	if err := b.in.Do(b.in.ctx, "GET", "/api/v1/accounts/"+b.in.PersonMoney, nil, &acct); err != nil {
		t.Fatal(err)
	}
	if acct.Balance != 1325 || len(acct.Lines) != 2 || acct.Lines[0].Receipt != "R-1001" || acct.Lines[1].Receipt != "R-1002" {
		t.Errorf("central's account: balance %d, lines %+v", acct.Balance, acct.Lines)
	}
}
