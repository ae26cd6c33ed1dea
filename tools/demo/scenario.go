package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/tools/stack"
)

// placedCall is one call the demo places and what it should do.
type placedCall struct {
	who    *demoPerson
	number string // dialled straight, or keyed at the hotline
	what   string
	// refusal is the reason expected ("" when the call is answered).
	refusal string
	// hotline: through the hotline IVR (with the person's PIN); confirm:
	// it waits for the officer's card and confirm button.
	hotline, confirm bool
	// first: the call whose recording the demo points to (talks cfg.talk).
	first bool
	// privileged: never recorded, no player.
	privileged bool

	// call is central's record of it, once there.
	call store.Call
}

func (c *placedCall) answered() bool { return c.refusal == "" }

// script is the calls, in order: each person's first tap is at least
// sameCardGap after their previous one (hardware.tap waits if not).
func script() []*placedCall {
	return []*placedCall{
		{who: alex, number: alex.Contacts[0].Number, what: "approved contact (his mother), answered, recorded", first: true},
		{who: alex, number: alex.Contacts[1].Number, what: "his brother, a contact still waiting for approval", refusal: policy.ErrNotApproved.Error()},
		{who: jordan, number: jordan.Contacts[0].Number, what: "supervision level high: waits for the officer's card and confirm button", confirm: true},
		{who: sam, number: legalLine, what: "the privileged legal line: answered, never recorded", privileged: true},
		{who: sam, number: blockedNumber, what: "a number blocked prison-wide", refusal: policy.ErrNumberBlocked.Error()},
		{who: maria, number: "00" + strings.TrimPrefix(maria.Contacts[0].Number, "+"), what: "hotline in Spanish: PIN, 1, then her mother's number in Spain (international rate)", hotline: true},
		{who: chris, number: helpline, what: "the free helpline: answered at no charge", refusal: ""},
		{who: chris, number: chris.Contacts[0].Number, what: "his partner's mobile, with a balance of 0.00", refusal: policy.ErrInsufficientBalance.Error()},
		{who: dana, number: dana.Contacts[0].Number, what: "suspended: her card is no longer in the block's policy", refusal: policy.ErrUnknownCard.Error()},
	}
}

// placeCalls places the script's calls through the simulated hardware.
func (d *demo) placeCalls(ctx context.Context) error {
	d.calls = script()
	for i, c := range d.calls {
		talk := d.cfg.shortTalk
		if c.first {
			talk = d.cfg.talk
		}
		what := fmt.Sprintf("call %d/%d: %s (card %s) calls %s: %s", i+1, len(d.calls), c.who.Name, c.who.Card, c.number, c.what)
		step("%s", what)
		fail := func(err error) error {
			return &stepError{step: what, err: err, hint: "The call went through the simulated reader, IAD port and family phone: kinline-appliance.log says what the appliance decided."}
		}
		switch {
		case c.confirm:
			if _, err := d.dualAuthorization(ctx, c.number, talk); err != nil {
				return fail(err)
			}
		case c.hotline:
			res, err := d.hw.hotline(ctx, c.who.Card, c.who.PIN, c.number, talk)
			if err != nil {
				return fail(err)
			}
			step("    the hotline spoke to her in Spanish, took PIN, 1 and the number; the family phone answered and pressed %q; RTP to the port %d packets",
				res.Family.Pressed, res.RTP.Received)
		default:
			res, err := d.hw.call(ctx, c.who.Card, c.number, talk)
			if err != nil {
				return fail(err)
			}
			switch {
			case c.answered() && !res.Answered:
				return fail(fmt.Errorf("it was not answered: %d %s", res.Code, res.Reason))
			case !c.answered() && res.Answered:
				return fail(errors.New("it was answered, but should have been refused: " + c.refusal))
			case c.answered():
				step("    answered, talked %s (RTP sent %d, received %d), hung up", talk, res.RTP.Sent, res.RTP.Received)
			default:
				step("    refused: %d %s (the reason was spoken first: %d RTP packets of early media)", res.Code, res.Reason, res.RTP.Received)
				if !strings.Contains(res.Reason, c.refusal) {
					step("    WARNING: expected the reason %q", c.refusal)
				}
			}
		}
	}
	return nil
}

// afterCalls waits until central has every call, their recordings and
// debits; has the finance user refund one call; checks the privileged
// call has no recording; plays the first recording as the investigator;
// and adds the review note and bookmark when central has them.
func (d *demo) afterCalls(ctx context.Context) error {
	st := d.st
	var calls []store.Call
	if err := d.do(fmt.Sprintf("waiting for central to have all %d calls", len(d.calls)), func() error {
		var err error
		if calls, err = st.WaitCalls(ctx, len(d.calls), 60*time.Second); err != nil {
			return err
		}
		if len(calls) != len(d.calls) {
			return fmt.Errorf("central has %d calls, the demo placed %d", len(calls), len(d.calls))
		}
		slices.Reverse(calls) // oldest first, as placed
		for i, c := range d.calls {
			c.call = calls[i]
			if got := calls[i]; got.PersonID != c.who.ID && got.CardUID != policy.NormalizeUID(c.who.Card) {
				return fmt.Errorf("central's call %d (%s, %s) is not %s's", i+1, got.ID, got.PersonName, c.who.Name)
			}
			if c.first {
				d.recorded = c.call.ID
			}
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.do("recordings of the answered calls uploaded and verified; the privileged call has none", func() error {
		for _, c := range d.calls {
			if !c.answered() {
				continue
			}
			if c.privileged {
				got, err := d.callByID(ctx, c.call.ID, 10*time.Second, func(sc store.Call) bool { return sc.Privileged })
				if err != nil {
					return fmt.Errorf("the privileged call: %w", err)
				}
				if got.Recording != nil {
					return fmt.Errorf("the privileged call %s has a recording at central", got.ID)
				}
				if _, err := d.investigatorRecording(ctx, got.ID); err == nil {
					return fmt.Errorf("central served a recording of the privileged call %s", got.ID)
				}
				continue
			}
			if _, err := st.WaitRecording(ctx, c.call.ID, 60*time.Second); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}

	// The reconciliation's debits are the calls' costs and the negative
	// adjustments.
	var adjusted ledger.Money
	cur := ledger.Currency{Code: currency, Digits: 2}
	for _, p := range people {
		if p.Adjust != "" {
			a, err := cur.Parse(p.Adjust)
			if err != nil {
				return fmt.Errorf("demo data: %s's adjustment: %w", p.Name, err)
			}
			adjusted += min(a, 0)
		}
	}
	var wantDebits ledger.Money
	if err := d.do("call debits at central (the reconciliation agrees with the calls' costs)", func() error {
		return stack.WaitFor(ctx, 30*time.Second, "the calls' debits", func() error {
			wantDebits = -adjusted
			for _, c := range d.calls {
				sc, err := d.callByID(ctx, c.call.ID, 0, nil)
				if err != nil {
					return err
				}
				c.call = sc
				wantDebits += ledger.Money(sc.Cost)
			}
			var rep money.Reconciliation
			if err := st.Do(ctx, "GET", "/api/v1/reconciliation", nil, &rep); err != nil {
				return err
			}
			if wantDebits == -adjusted || rep.Debits != wantDebits {
				return fmt.Errorf("debits %d, want %d (the calls' costs and the negative adjustments)", rep.Debits, wantDebits)
			}
			if !rep.OK {
				return errors.New("the reconciliation is not OK")
			}
			return nil
		})
	}); err != nil {
		return err
	}

	intl := d.calls[slices.IndexFunc(d.calls, func(c *placedCall) bool { return c.hotline })]
	if err := d.do(fmt.Sprintf("finance refunds the connection fee of %s's international call %s", intl.who.Name, intl.call.ID), func() error {
		return d.finance.Do(ctx, "POST", "/api/v1/accounts/"+intl.who.ID+"/refunds", map[string]string{
			"amount": "0.10", "reason": "the line to Spain dropped twice; connection fee refunded", "call_id": intl.call.ID,
		}, nil)
	}); err != nil {
		return err
	}

	if err := d.do("the investigator plays the first recording (an audited playback)", func() error {
		wav, err := d.investigatorRecording(ctx, d.recorded)
		if err != nil {
			return err
		}
		step("    %s: %d bytes of WAV, decrypted by the appliance for upload, SHA-256 verified by central", d.recorded, len(wav))
		return nil
	}); err != nil {
		return err
	}
	return d.reviewFirstCall(ctx)
}

// callByID reads one call from central, waiting up to d for cond (nil:
// none).
func (d *demo) callByID(ctx context.Context, id string, wait time.Duration, cond func(store.Call) bool) (store.Call, error) {
	var c store.Call
	err := stack.WaitFor(ctx, wait, "call "+id, func() error {
		if err := d.st.Do(ctx, "GET", "/api/v1/calls/"+id, nil, &c); err != nil {
			return err
		}
		if cond != nil && !cond(c) {
			return errors.New("not yet as expected")
		}
		return nil
	})
	return c, err
}

func (d *demo) investigatorRecording(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := d.investigator.Do(ctx, "GET", "/api/v1/calls/"+id+"/recording", nil, &b)
	return b, err
}

// printSummary prints who can sign in, the people and their balances, the
// calls and what to open, and writes the sign-ins to DIR/logins.txt.
func (d *demo) printSummary(ctx context.Context) error {
	st, dir := d.st, d.cfg.dir
	var accounts struct {
		Accounts []struct {
			money.AccountSummary
			BalanceText string `json:"balance_text"`
		} `json:"accounts"`
	}
	if err := st.Do(ctx, "GET", "/api/v1/accounts?limit=100", nil, &accounts); err != nil {
		return &stepError{step: "list the accounts", err: err}
	}
	balance := map[string]string{}
	for _, a := range accounts.Accounts {
		balance[a.Account] = a.BalanceText
	}

	var logins strings.Builder
	tw := tabwriter.NewWriter(&logins, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  username\tpassword\trole\tTOTP secret (second factor)")
	for _, u := range users {
		role := u.Role
		if len(u.Blocks) > 0 {
			role += " (block " + strings.Join(u.Blocks, ", ") + ")"
		}
		secret := "none (not needed)"
		if u.Secret != "" {
			secret = u.Secret
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", u.Username, u.Password, role, secret)
	}
	tw.Flush()
	me := filepath.Join(d.cfg.bin, "kinline-demo")
	if _, err := os.Stat(me); err != nil {
		if me, err = os.Executable(); err != nil {
			me = "kinline-demo"
		}
	}
	codeHint := fmt.Sprintf("  One-time code: %s totp SECRET   (or: oathtool --totp -b SECRET); a code signs in once,\n  so if one is refused wait for the next (the demo itself signed in officer.a and investigator).\n", me)
	if err := os.WriteFile(filepath.Join(dir, "logins.txt"), []byte("Console http://"+st.HTTPAddr+"\n"+logins.String()+codeHint), 0o600); err != nil {
		return err
	}

	var roster strings.Builder
	tw = tabwriter.NewWriter(&roster, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  prison no.\tname\tblock\tcard\tPIN\tlanguage\tstatus\tbalance")
	for _, p := range people {
		pin := "-"
		if p.PIN != "" {
			pin = p.PIN
		}
		status := "active"
		if p.Suspended {
			status = "suspended"
		}
		if p.Level != "" {
			status += ", level " + p.Level
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PrisonNumber, p.Name, p.Block, p.Card, pin, p.Language, status, balance[p.ID])
	}
	tw.Flush()

	var calls strings.Builder
	tw = tabwriter.NewWriter(&calls, 0, 0, 2, ' ', 0)
	cur := ledger.Currency{Code: currency, Digits: 2}
	for _, c := range d.calls {
		sc := c.call
		detail := sc.Reason
		switch {
		case sc.Privileged:
			detail = "privileged: not recorded, no player"
		case sc.Free:
			detail = "free"
		case sc.Recording != nil:
			detail = "recorded"
		}
		if sc.OfficerName != "" {
			detail += ", confirmed by " + sc.OfficerName
		}
		cost := ""
		if sc.Cost > 0 {
			cost = cur.Format(ledger.Money(sc.Cost)) + " " + currency
		}
		talked := "-"
		if sc.Answer != nil {
			talked = fmt.Sprintf("%.0fs", sc.DurationSeconds)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", sc.Disposition, c.who.Name, sc.Number, talked, cost, detail)
	}
	tw.Flush()

	token := filepath.Join(dir, "admin-token")
	reports := ""
	if _, ok := authz.Routes["GET /api/v1/stats/{by}"]; ok {
		reports += fmt.Sprintf("  Stats:     curl -H \"Authorization: Bearer $(cat %s)\" http://%s/api/v1/stats/refusals   (or blocks, hours, days, people, contacts, terminals)\n", token, st.HTTPAddr)
	}
	if _, ok := authz.Routes["GET /api/v1/reports/billing"]; ok {
		reports += fmt.Sprintf("  Billing:   curl -H \"Authorization: Bearer $(cat %s)\" http://%s/api/v1/reports/billing\n", token, st.HTTPAddr)
	}
	fmt.Printf(`
Kinline demo is running: %[11]s, block %[12]s (appliance %[13]s) and block %[14]s.

Console: http://%[1]s   sign in as one of these (also in %[15]s), or with the admin token in %[2]s
%[16]s%[17]s
People (cards can be tapped on the simulated reader; PINs are entered at hotline %[18]s):
%[19]s
Calls at central:
%[20]s
%[21]s
  API:       curl -H "Authorization: Bearer $(cat %[2]s)" http://%[1]s/api/v1/calls
  Accounts:  curl -H "Authorization: Bearer $(cat %[2]s)" http://%[1]s/api/v1/accounts
  Recording: curl -H "Authorization: Bearer $(cat %[2]s)" -o call.wav http://%[1]s/api/v1/calls/%[3]s/recording
%[27]s  Tap again: %[4]s tap -control %[5]s %[6]s
  Panel:     %[8]s -control %[9]s state   (press confirm | press cancel | tap %[10]s)
  Call:      %[22]s port -appliance %[23]s -user %[24]s -password %[25]s -number %[26]s -talk 5s   (after a tap)
  Logs:      %[7]s/kinline-central.log, %[7]s/kinline-appliance.log

`, st.HTTPAddr, token, d.recorded, filepath.Join(d.cfg.bin, "kinline-readersim"), filepath.Join(dir, "reader-t1.sock"), alex.Card, dir,
		filepath.Join(d.cfg.bin, "kinline-panelsim"), st.PanelSocket, officerCard,
		prisonName, stack.Block, stack.ApplianceID, blockB, filepath.Join(dir, "logins.txt"),
		logins.String(), codeHint, hotlineNumber, roster.String(), calls.String(), d.review,
		filepath.Join(d.cfg.bin, "kinline-sipsim"), st.SIPAddr, stack.PortUser, stack.PortPass, alex.Contacts[0].Number, reports)
	return nil
}
