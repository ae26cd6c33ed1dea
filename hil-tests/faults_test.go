package hiltests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/store"
	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/mqttproxy"
	"github.com/kinline/kinline/tools/stack"
)

// The fault tests of issue 5: each runs the real binaries through a fault
// (a duplicating and reordering proxy between the appliance and the broker,
// kill -9 of the appliance during a burst of calls, kill -9 of central
// during ingest, a long outage across an appliance restart; and, in
// faults_trust_test.go, a tampered event, a replayed old policy and forged
// and expired commands) and then checks the whole installation with
// faultEnv.finish: central holds exactly the appliance's calls (same count,
// same ids, none twice), central's acknowledged sequence is the appliance's
// last one, every recording arrived and matches its SHA-256, the
// appliance's state.db passes bbolt's consistency check, no event of the
// stream was refused as invalid, conflicting or unchained, and the money
// adds up (checkMoney): calls are rated (a rate and a recharge per person
// are set through central's API before the first call), central's call
// debits are exactly the appliance's, each priced by the rate, and central's
// reconciliation shows, for every account, credits minus debits equal to
// the balance with no difference, equal to the appliance's own usable
// balance.

// Extra people (cards) so that consecutive calls need not wait out the
// reader driver's 2 s de-duplication window of one card.
var faultCards = []string{card, "04A1B2D4", "04A1B2D5"}

// faultRate prices every call of the fault tests (the approved number is
// +44...): 0.60 a minute billed by the second, and 0.05 to connect, so
// every answered call is debited and its price depends on its length.
var faultRate = wire.Rate{Prefix: "+44", DestinationType: wire.DestNational, PerMinute: 60, BillingUnitSeconds: 1, ConnectionFee: 5}

// Each person of the fault tests is credited faultRecharge (in euros,
// faultRechargeCents in cents) before the first call.
const (
	faultRecharge      = "20.00"
	faultRechargeCents = 2000
)

// faultOptions adjust newFaultEnv.
type faultOptions struct {
	// beforeAppliance, if set, runs after the configs are written and
	// central is up, before the appliance starts (to point the appliance
	// somewhere else).
	beforeAppliance func(st *stack.Stack)
	// pki runs the installation with a PKI made by kinline-provision, as
	// in production: TLS with the appliance's certificate, batches signed
	// with its event key, policies and commands signed with central's
	// policy key.
	pki bool
}

// ratePeriod is a rate central's policy carried from a moment on.
type ratePeriod struct {
	rate wire.Rate
	from time.Time // the appliance applied it (calls starting later use it)
}

// faultEnv is an installation with bookkeeping of the calls the phones
// placed, of the money central was told to credit, and of what the
// appliance's outbox held whenever it was stopped.
type faultEnv struct {
	*env
	t      *testing.T
	port   *phone.Port
	family *phone.Family
	pki    string // the kinline-provision directory, with faultOptions.pki
	next   int    // round-robin index into faultCards
	// placed counts calls the port placed whose record the appliance
	// must have written (answered and hung up, or refused).
	placed int
	// snapshots are call ids found in the outbox while the appliance was
	// stopped: calls it had committed.
	snapshots map[string]bool
	// snapDebits are the call debits (call id -> amount debited, > 0)
	// found in the outbox while the appliance was stopped.
	snapDebits map[string]int64
	// people are the persons' ids, in the order of faultCards.
	people []string
	// credits is what the test credited each account through the API.
	credits map[string]int64
	// rates are the rates set through the API, oldest first.
	rates []ratePeriod
	// last is the outbox read by the last inspect.
	last outbox
}

// newFaultEnv starts central and an appliance, enrols a person per card of
// faultCards, sets faultRate and credits each person faultRecharge, and
// waits until the appliance applies that policy.
func newFaultEnv(t *testing.T, o faultOptions) *faultEnv {
	t.Helper()
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	dir := t.TempDir()
	reader, err := readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "reader-t1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	so := stack.Options{Dir: dir, BinDir: binDir, TrunkAddr: family.Addr().String(), ReaderDevice: reader.Path(), Quiet: true, LogLevel: "info"}
	var pki string
	if o.pki {
		pki = filepath.Join(dir, "pki")
		provision(t, "init", "-dir", pki, "-host", "127.0.0.1,localhost")
		provision(t, "appliance", "-dir", pki, "-id", stack.ApplianceID)
		so.PKIDir = pki
	}
	st, err := stack.Prepare(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if t.Failed() {
			for _, f := range []string{"kinline-central.log", "kinline-appliance.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				if len(b) > 12000 {
					b = b[len(b)-12000:]
				}
				t.Logf("---- %s (tail) ----\n%s", f, b)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	if err := st.StartCentral(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{Stack: st, Reader: reader, ctx: ctx, lastRead: map[string]time.Time{}}
	fe := &faultEnv{env: e, t: t, family: family, pki: pki, snapshots: map[string]bool{}, snapDebits: map[string]int64{}, credits: map[string]int64{}}
	// People and money first, so that the appliance starts from one
	// policy snapshot rather than a run of deltas.
	for i, c := range faultCards {
		id, err := e.Seed(ctx, stack.Person{PrisonNumber: fmt.Sprintf("B%04dCD", i), Name: fmt.Sprintf("Person %d", i), Card: c, Numbers: []string{approved}})
		if err != nil {
			t.Fatal(err)
		}
		fe.people = append(fe.people, id)
	}
	fe.setRate(faultRate)
	for i, id := range fe.people {
		fe.recharge(id, faultRecharge, faultRechargeCents, fmt.Sprintf("R-%d", i+1))
	}
	if o.beforeAppliance != nil {
		o.beforeAppliance(st)
	}
	if err := st.StartAppliance(ctx); err != nil {
		t.Fatal(err)
	}
	fe.waitPolicy()
	fe.port = newPort(t, e)
	return fe
}

// setRate replaces central's rates table with r; the next waitPolicy
// starts its period.
func (fe *faultEnv) setRate(r wire.Rate) {
	fe.t.Helper()
	if err := fe.Do(fe.ctx, "PUT", "/api/v1/rates", map[string]any{"rates": []wire.Rate{r}}, nil); err != nil {
		fe.t.Fatalf("set rate: %v", err)
	}
	if len(fe.rates) == 0 {
		if _, err := setCharging(fe.ctx, fe.Stack, "on"); err != nil {
			fe.t.Fatalf("charging on: %v", err)
		}
	}
	fe.rates = append(fe.rates, ratePeriod{rate: r})
}

// recharge credits account through central's API (amount in euros, cents
// the same in cents, for the bookkeeping).
func (fe *faultEnv) recharge(account, amount string, cents int64, receipt string) {
	fe.t.Helper()
	var out struct {
		Balance int64 `json:"balance"`
	}
	if err := fe.Do(fe.ctx, "POST", "/api/v1/accounts/"+account+"/recharges", map[string]any{"amount": amount, "receipt": receipt}, &out); err != nil {
		fe.t.Fatalf("recharge %s: %v", account, err)
	}
	fe.credits[account] += cents
}

// waitPolicy waits until the appliance applies central's newest policy and
// starts the period of a rate set since the last wait.
func (fe *faultEnv) waitPolicy() {
	fe.t.Helper()
	// An appliance that missed a delta asks central for a snapshot again
	// after 30 s (syncclient.DefaultPolicyRequestInterval).
	if err := fe.WaitPolicyApplied(fe.ctx, 75*time.Second); err != nil {
		fe.t.Fatal(err)
	}
	if n := len(fe.rates); n > 0 && fe.rates[n-1].from.IsZero() {
		fe.rates[n-1].from = time.Now()
	}
}

// completed taps the next card and places an approved call that is
// answered, talks briefly and hangs up.
func (fe *faultEnv) completed() {
	t := fe.t
	t.Helper()
	fe.tap(t, faultCards[fe.next%len(faultCards)])
	fe.next++
	res := call(t, fe.env, fe.port, approved, 300*time.Millisecond)
	if !res.Answered {
		t.Fatalf("call %d not answered: %+v", fe.placed+1, res)
	}
	fe.placed++
}

// refused places a call without a tap: refused, and recorded as such.
func (fe *faultEnv) refused() {
	t := fe.t
	t.Helper()
	wantRefused(t, call(t, fe.env, fe.port, approved, time.Second), "no card tapped")
	fe.placed++
}

// burst places n calls, every third one answered.
func (fe *faultEnv) burst(n int) {
	fe.t.Helper()
	for i := range n {
		if i%3 == 0 {
			fe.completed()
		} else {
			fe.refused()
		}
	}
}

func (fe *faultEnv) stateDB() string { return filepath.Join(fe.Opts.Dir, "appliance", "state.db") }

// outbox is what the appliance's store says while the appliance is stopped.
type outbox struct {
	lastSeq, acked uint64
	pending        []wire.Event
	calls          []string // call ids among pending
	recordings     []store.Recording
	policy         *wire.Policy // the stored policy (nil if none)
	lockdown       bool
	// usable is each account's usable balance at the appliance: its
	// policy's balance plus its own debits that policy does not include.
	usable map[string]int64
}

// inspect opens the stopped appliance's state.db, runs bbolt's check and
// reads the outbox, the stored policy, the lockdown flag and the usable
// balances; the call ids and debits in the outbox join fe.snapshots and
// fe.snapDebits.
func (fe *faultEnv) inspect() outbox {
	t := fe.t
	t.Helper()
	st, err := store.Open(fe.stateDB(), store.Options{ApplianceID: stack.ApplianceID, LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open the appliance's state.db: %v", err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("bbolt check of state.db: %v", err)
	}
	var ob outbox
	if ob.lastSeq, err = st.LastSeq(); err != nil {
		t.Fatal(err)
	}
	if ob.acked, err = st.Acked(); err != nil {
		t.Fatal(err)
	}
	if ob.pending, err = st.Pending(ob.acked, 1<<20); err != nil {
		t.Fatal(err)
	}
	if ob.recordings, err = st.PendingRecordings(); err != nil {
		t.Fatal(err)
	}
	if ob.policy, err = st.Policy(); err != nil {
		t.Fatal(err)
	}
	if ob.lockdown, err = st.Lockdown(); err != nil {
		t.Fatal(err)
	}
	if m := ob.policyMoney(); m != nil {
		own, err := st.Own(m.IncludedSeq, m.Currency)
		if err != nil {
			t.Fatal(err)
		}
		ob.usable = map[string]int64{}
		for _, a := range m.Accounts {
			ob.usable[a.Account] = a.Balance + int64(own.Debits(a.Account))
		}
	}
	want := ob.acked + 1
	prev := ""
	for i, ev := range ob.pending {
		if ev.Seq != want {
			t.Fatalf("outbox: event %d has seq %d, want %d", i, ev.Seq, want)
		}
		if err := ev.Verify(); err != nil {
			t.Fatalf("outbox: %v", err)
		}
		if i > 0 && ev.PrevHash != prev {
			t.Fatalf("outbox: seq %d does not chain to %d", ev.Seq, ev.Seq-1)
		}
		prev = ev.Hash
		want++
		if ev.Type == wire.EventCall {
			var rec wire.CallRecord
			if err := json.Unmarshal(ev.Payload, &rec); err != nil {
				t.Fatalf("outbox seq %d: %v", ev.Seq, err)
			}
			ob.calls = append(ob.calls, rec.CallID)
			fe.snapshots[rec.CallID] = true
		}
		if ev.Type == wire.EventLedger {
			var le wire.LedgerEntry
			if err := json.Unmarshal(ev.Payload, &le); err != nil {
				t.Fatalf("outbox seq %d: %v", ev.Seq, err)
			}
			if le.Kind == wire.LedgerCallDebit {
				fe.snapDebits[le.Ref] = -le.Amount
			}
		}
	}
	if len(ob.pending) > 0 && ob.pending[len(ob.pending)-1].Seq != ob.lastSeq {
		t.Fatalf("outbox ends at seq %d, last seq is %d", ob.pending[len(ob.pending)-1].Seq, ob.lastSeq)
	}
	fe.last = ob
	return ob
}

// policyMoney is the money part of the stored policy (nil without one).
func (ob outbox) policyMoney() *wire.MoneyPolicy {
	if ob.policy == nil {
		return nil
	}
	return ob.policy.Money
}

// restartAppliance starts the appliance again and waits until it serves:
// its card reader driver polls and the port's REGISTER is answered.
func (fe *faultEnv) restartAppliance() {
	t := fe.t
	t.Helper()
	const inListPassiveTarget = 0x4A
	polls := fe.Reader.Stats().Commands[inListPassiveTarget]
	if err := fe.StartAppliance(fe.ctx); err != nil {
		t.Fatal(err)
	}
	err := stack.WaitFor(fe.ctx, 30*time.Second, "the restarted appliance to poll its reader", func() error {
		if fe.Reader.Stats().Commands[inListPassiveTarget] == polls {
			return errors.New("no poll yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = stack.WaitFor(fe.ctx, 30*time.Second, "REGISTER with the restarted appliance", func() error {
		ctx, cancel := context.WithTimeout(fe.ctx, 5*time.Second)
		defer cancel()
		return fe.port.Register(ctx, time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// allCalls lists every call central holds (the API's default page is 50).
func (fe *faultEnv) allCalls() []centralstore.Call {
	fe.t.Helper()
	calls, err := fe.Calls(fe.ctx, url.Values{"limit": {"500"}})
	if err != nil {
		fe.t.Fatal(err)
	}
	return calls
}

var callRecorded = regexp.MustCompile(`msg="call recorded".*? call=("[^"]*"|\S+).*? cost=(-?\d+)`)

// loggedCalls are the call ids the appliance logged as committed (it logs
// "call recorded" after the transaction that wrote the record).
func (fe *faultEnv) loggedCalls() map[string]bool {
	ids := map[string]bool{}
	for id := range fe.loggedCosts() {
		ids[id] = true
	}
	return ids
}

// loggedCosts are the calls the appliance logged as committed with the
// cost it debited for each (0: not debited). The log line is written after
// the transaction that wrote the record and its debit.
func (fe *faultEnv) loggedCosts() map[string]int64 {
	costs := map[string]int64{}
	for _, m := range callRecorded.FindAllSubmatch(fe.readLog("kinline-appliance.log"), -1) {
		cost, err := strconv.ParseInt(string(m[2]), 10, 64)
		if err != nil {
			fe.t.Fatalf("call recorded with cost %q: %v", m[2], err)
		}
		costs[strings.Trim(string(m[1]), `"`)] = cost
	}
	return costs
}

// readLog reads a daemon's log (kinline-appliance.log, kinline-central.log).
func (fe *faultEnv) readLog(name string) []byte {
	fe.t.Helper()
	b, err := os.ReadFile(filepath.Join(fe.Opts.Dir, name))
	if err != nil {
		fe.t.Fatal(err)
	}
	return b
}

// waitLogged waits until the appliance has logged n calls as recorded.
func (fe *faultEnv) waitLogged(n int) {
	fe.t.Helper()
	err := stack.WaitFor(fe.ctx, 20*time.Second, fmt.Sprintf("%d calls recorded at the appliance", n), func() error {
		if got := len(fe.loggedCalls()); got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
	if err != nil {
		fe.t.Fatal(err)
	}
}

// finish waits until central has at least minCalls calls and every
// recording, stops the appliance, and checks the installation: state.db
// passes bbolt's check; central has acknowledged the appliance's last event
// (so nothing the appliance committed is missing); central's calls carry no
// id twice and are exactly the appliance's calls (those it logged as
// recorded and those seen in its outbox); every recording's SHA-256 matches
// and none is still waiting at the appliance; central raised no alarm about
// the appliance's event stream (checkStream) and the money reconciles
// (checkMoney). It returns central's calls.
func (fe *faultEnv) finish(minCalls int) []centralstore.Call {
	fe.t.Helper()
	return fe.finishCalls(minCalls, true)
}

// finishCalls is finish; streamAlarms false leaves out its check of the
// event stream's alarms (checkStream), for a test whose events central
// refuses by design.
func (fe *faultEnv) finishCalls(minCalls int, streamAlarms bool) []centralstore.Call {
	t := fe.t
	t.Helper()
	var calls []centralstore.Call
	err := stack.WaitFor(fe.ctx, 90*time.Second, fmt.Sprintf("%d calls at central", minCalls), func() error {
		calls = fe.allCalls()
		if len(calls) < minCalls {
			return fmt.Errorf("%d so far", len(calls))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fe.verifyRecordings(calls)

	// Stop the appliance once central's acknowledged sequence has stopped
	// moving; if events appended at the end had not reached central yet,
	// start it again until they have.
	var ob outbox
	var acked uint64
	for attempt := 0; ; attempt++ {
		acked = fe.waitAckedStable()
		fe.KillAppliance(syscall.SIGTERM)
		ob = fe.inspect()
		if acked >= ob.lastSeq || attempt == 3 {
			break
		}
		t.Logf("central acknowledged %d of %d events when the appliance stopped; running it again", acked, ob.lastSeq)
		fe.restartAppliance()
	}
	if acked != ob.lastSeq || len(ob.pending) != 0 {
		t.Fatalf("central acknowledged seq %d, the appliance's last seq is %d with %d events pending: events lost", acked, ob.lastSeq, len(ob.pending))
	}
	if len(ob.recordings) > 0 {
		t.Errorf("%d recordings still wait for verification at the appliance: %+v", len(ob.recordings), ob.recordings)
	}

	calls = fe.allCalls()
	seen := map[string]bool{}
	for _, c := range calls {
		if seen[c.ID] {
			t.Errorf("call %s twice at central", c.ID)
		}
		seen[c.ID] = true
		if c.ApplianceID != stack.ApplianceID {
			t.Errorf("call %s from appliance %q", c.ID, c.ApplianceID)
		}
	}
	mine := fe.loggedCalls()
	for id := range fe.snapshots {
		mine[id] = true
	}
	var missing, extra []string
	for id := range mine {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	for id := range seen {
		if !mine[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("central and the appliance disagree: %d calls at central, %d at the appliance; missing at central %v, unknown to the appliance %v",
			len(calls), len(mine), missing, extra)
	}
	fe.verifyRecordings(calls)
	if streamAlarms {
		fe.checkStream()
	}
	fe.checkMoney(calls)
	return calls
}

// checkStream fails on any alarm central raised about the appliance's event
// stream being invalid, conflicting, unchained, foreign or unprojectable,
// and on a gap still open: the genuine appliance never sends such events,
// so each would mean a forged or tampered one was taken, or one was lost.
func (fe *faultEnv) checkStream() {
	t := fe.t
	t.Helper()
	var out struct {
		Alarms []centralstore.Alarm `json:"alarms"`
	}
	if err := fe.Do(fe.ctx, "GET", "/api/v1/alarms?appliance="+stack.ApplianceID, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, a := range out.Alarms {
		switch a.Code {
		case centralstore.AlarmEventInvalid, centralstore.AlarmEventConflict, centralstore.AlarmChainBroken,
			centralstore.AlarmForeign, centralstore.AlarmPayload:
			t.Errorf("central alarm about the event stream: %s seq %d: %s", a.Code, a.Seq, a.Message)
		case centralstore.AlarmEventGap:
			if a.Cleared == nil {
				t.Errorf("gap in the event stream still open at central: seq %d: %s", a.Seq, a.Message)
			}
		}
	}
}

// statement is the part of GET /api/v1/accounts/{person} checkMoney reads.
type statement struct {
	Balance int64                 `json:"balance"`
	Lines   []money.StatementLine `json:"lines"`
}

// checkMoney checks the money after finish has stopped the appliance:
//   - the appliance's debits (the cost of each call it logged as recorded,
//     and the debits seen in its outbox while it was stopped) are exactly
//     central's call debits, one per answered call, none for a refused one,
//     each the price of the call's length under the rate in force;
//   - central's credits are exactly what the test recharged;
//   - central's reconciliation is OK: for every account credits minus
//     debits equal the balance, the database's own sum agrees (difference
//     0), and there is no overspend;
//   - central's balance of each account equals the appliance's usable
//     balance (its policy's balance plus its own debits not yet in it).
func (fe *faultEnv) checkMoney(calls []centralstore.Call) {
	t := fe.t
	t.Helper()
	appDebits := map[string]int64{} // call id -> amount, > 0
	for id, cost := range fe.loggedCosts() {
		if d, ok := fe.snapDebits[id]; ok && d != cost {
			t.Errorf("call %s: the appliance logged cost %d, its outbox debits %d", id, cost, d)
		}
		if cost != 0 {
			appDebits[id] = cost
		}
	}
	for id, d := range fe.snapDebits {
		appDebits[id] = d
	}
	var appTotal int64
	perAccount := map[string]int64{}
	for _, c := range calls {
		d, debited := appDebits[c.ID]
		if c.Answer == nil {
			if debited {
				t.Errorf("call %s was not answered but the appliance debited %d", c.ID, d)
			}
			continue
		}
		if !debited {
			t.Errorf("answered call %s (%s) was not debited at the appliance", c.ID, c.Disposition)
			continue
		}
		if r, ok := fe.rateAt(c.Start); ok {
			lr, err := ledger.RateFromWire(r)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(lr.Cost(c.End.Sub(*c.Answer))); d != want {
				t.Errorf("call %s of %v debited %d, the rate %+v prices it %d", c.ID, c.End.Sub(*c.Answer), d, r, want)
			}
		}
		appTotal += d
		perAccount[c.PersonID] += d
	}
	for id := range appDebits {
		if !slices.ContainsFunc(calls, func(c centralstore.Call) bool { return c.ID == id }) {
			t.Errorf("the appliance debited call %s, which central does not hold", id)
		}
	}

	// Central's ledger, account by account.
	centralDebits := map[string]int64{}
	for _, id := range fe.people {
		var st statement
		if err := fe.Do(fe.ctx, "GET", "/api/v1/accounts/"+id, nil, &st); err != nil {
			t.Fatal(err)
		}
		var credits int64
		for _, l := range st.Lines {
			switch l.Kind {
			case wire.LedgerCallDebit:
				if _, dup := centralDebits[l.Ref]; dup {
					t.Errorf("call %s debited twice at central", l.Ref)
				}
				centralDebits[l.Ref] = -int64(l.Amount)
				if l.Origin != stack.ApplianceID {
					t.Errorf("debit %s of call %s from %q", l.ID, l.Ref, l.Origin)
				}
			case wire.LedgerRecharge:
				credits += int64(l.Amount)
			default:
				t.Errorf("account %s: unexpected %s entry %+v", id, l.Kind, l.LedgerEntry)
			}
		}
		if credits != fe.credits[id] {
			t.Errorf("account %s: central holds credits of %d, the test recharged %d", id, credits, fe.credits[id])
		}
		if want := fe.credits[id] - perAccount[id]; st.Balance != want {
			t.Errorf("account %s: central's balance %d, credited %d minus the appliance's debits %d = %d", id, st.Balance, fe.credits[id], perAccount[id], want)
		}
		if u, ok := fe.last.usable[id]; !ok || u != st.Balance {
			t.Errorf("account %s: the appliance's usable balance is %d (known: %v), central's balance %d", id, u, ok, st.Balance)
		}
	}
	for id, d := range appDebits {
		if c, ok := centralDebits[id]; !ok || c != d {
			t.Errorf("call %s: the appliance debited %d, central holds %d (present: %v)", id, d, c, ok)
		}
	}
	for id, c := range centralDebits {
		if _, ok := appDebits[id]; !ok {
			t.Errorf("central holds a debit of %d for call %s, which the appliance never debited", c, id)
		}
	}

	// Central's reconciliation report.
	var rep money.Reconciliation
	if err := fe.Do(fe.ctx, "GET", "/api/v1/reconciliation", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Accounts) != len(fe.people) || rep.Overspends != 0 {
		t.Errorf("reconciliation: ok %v, %d accounts (want %d), %d overspends", rep.OK, len(rep.Accounts), len(fe.people), rep.Overspends)
	}
	var credited int64
	for _, c := range fe.credits {
		credited += c
	}
	if int64(rep.Debits) != appTotal || int64(rep.Credits) != credited || rep.Balance != rep.Credits-rep.Debits {
		t.Errorf("reconciliation totals: credits %d (credited %d), debits %d (the appliance's %d), balance %d",
			rep.Credits, credited, rep.Debits, appTotal, rep.Balance)
	}
	for _, a := range rep.Accounts {
		if !a.OK || a.Difference != 0 || a.Stored != a.Balance || a.Credits-a.Debits != a.Balance || len(a.Overspends) != 0 {
			t.Errorf("account %s does not reconcile: %+v", a.Account, a)
		}
		if int64(a.Debits) != perAccount[a.Account] || int64(a.Credits) != fe.credits[a.Account] {
			t.Errorf("account %s: reconciliation has credits %d debits %d; credited %d, the appliance debited %d",
				a.Account, a.Credits, a.Debits, fe.credits[a.Account], perAccount[a.Account])
		}
	}
	t.Logf("money: %d calls debited %d in all, credits %d, balance %d; reconciliation ok", len(appDebits), appTotal, rep.Credits, rep.Balance)
}

// rateAt is the rate that priced a call started at start: the last one the
// appliance had applied by then.
func (fe *faultEnv) rateAt(start time.Time) (wire.Rate, bool) {
	for i := len(fe.rates) - 1; i >= 0; i-- {
		if p := fe.rates[i]; !p.from.IsZero() && !start.Before(p.from) {
			return p.rate, true
		}
	}
	return wire.Rate{}, false
}

// waitAckedStable waits until central's acknowledged sequence for the
// appliance has not changed for 1.5 s and returns it.
func (fe *faultEnv) waitAckedStable() uint64 {
	t := fe.t
	t.Helper()
	var last uint64
	since := time.Now()
	err := stack.WaitFor(fe.ctx, 60*time.Second, "central's acknowledged sequence to settle", func() error {
		a, err := fe.Appliance(fe.ctx)
		if err != nil {
			return err
		}
		if a.AckedSeq != last {
			last, since = a.AckedSeq, time.Now()
		}
		if time.Since(since) < 1500*time.Millisecond {
			return errors.New("still moving")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// verifyRecordings checks that every answered call has a recording at
// central whose bytes match the SHA-256 in its record.
func (fe *faultEnv) verifyRecordings(calls []centralstore.Call) {
	t := fe.t
	t.Helper()
	for _, c := range calls {
		if c.Disposition != wire.DispCompleted {
			continue
		}
		if c.Recording == nil {
			t.Fatalf("answered call %s has no recording", c.ID)
		}
		data, err := fe.WaitRecording(fe.ctx, c.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != c.Recording.SHA256 {
			t.Fatalf("recording of %s: SHA-256 %s, record says %s", c.ID, got, c.Recording.SHA256)
		}
	}
}

// throughProxy starts a fault-injecting proxy in front of central's broker
// and points the appliance's config at it. stack has no option for the
// appliance's broker address, so the generated appliance.yaml is rewritten
// before the appliance starts.
func throughProxy(t *testing.T, st *stack.Stack, cfg mqttproxy.Config) *mqttproxy.Proxy {
	t.Helper()
	cfg.Upstream = st.MQTTAddr
	proxy, err := mqttproxy.New(cfg, mqttproxy.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	cfgPath := filepath.Join(st.Opts.Dir, "appliance.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	from, to := "broker: tcp://"+st.MQTTAddr+"\n", "broker: tcp://"+proxy.Addr()+"\n"
	if strings.Count(string(b), from) != 1 {
		t.Fatalf("appliance.yaml has no single %q line", from)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return proxy
}

// wantDispositions checks how many calls central has of each disposition
// and lists them all when that is wrong.
func wantDispositions(t *testing.T, calls []centralstore.Call, completed, refused int) {
	t.Helper()
	m := map[string]int{}
	for _, c := range calls {
		m[c.Disposition]++
	}
	if m[wire.DispCompleted] == completed && m[wire.DispRefused] == refused && len(calls) == completed+refused {
		return
	}
	var b strings.Builder
	for _, c := range slices.Backward(calls) { // oldest first
		fmt.Fprintf(&b, "\n  %s %s start %s %s %q", c.ID, c.CardUID, c.Start.Format("15:04:05.000"), c.Disposition, c.Reason)
	}
	t.Errorf("dispositions %v, want %d completed and %d refused; calls:%s", m, completed, refused, b.String())
}

// TestFaultProxyDuplicatesReorders: the appliance reaches the broker through
// a proxy that duplicates and reorders PUBLISH packets both ways (policy,
// events, acks, recordings, recording acks) and cuts the connection once in
// the middle of a burst of calls. Every record arrives exactly once.
func TestFaultProxyDuplicatesReorders(t *testing.T) {
	var proxy *mqttproxy.Proxy
	f := mqttproxy.Faults{Duplicate: 0.3, Reorder: 0.3}
	fe := newFaultEnv(t, faultOptions{beforeAppliance: func(st *stack.Stack) {
		proxy = throughProxy(t, st, mqttproxy.Config{Seed: 5, Up: f, Down: f, HoldMax: time.Second})
	}})
	fe.burst(7)
	if n := proxy.Cut(); n != 1 {
		t.Errorf("cut %d connections, want the appliance's 1", n)
	}
	fe.burst(7)
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the port placed %d", len(calls), fe.placed)
	}
	wantDispositions(t, calls, 6, 8)
	st := proxy.Stats()
	t.Logf("proxy: %d connections, up %+v, down %+v", st.Connections, st.Up, st.Down)
	if st.Up.Duplicated == 0 || st.Down.Duplicated == 0 || st.Up.Reordered == 0 || st.Connections < 2 {
		t.Errorf("the proxy did not exercise every fault: %+v", st)
	}
}

// TestFaultKillAppliance: kill -9 of the appliance between calls, with the
// last records committed but not yet delivered (the proxy in front of the
// broker cuts every connection the appliance opens), and again in the
// middle of an answered call. What the appliance committed before each kill
// arrives at central once; the call cut by the kill is closed when the
// appliance starts again (disposition appliance_restarted, debited up to
// its last checkpoint: checkMoney prices it like any other).
func TestFaultKillAppliance(t *testing.T) {
	var proxy *mqttproxy.Proxy
	fe := newFaultEnv(t, faultOptions{beforeAppliance: func(st *stack.Stack) {
		proxy = throughProxy(t, st, mqttproxy.Config{Seed: 9})
	}})
	fe.burst(5)
	// Central stops hearing from the appliance: every packet after
	// CONNECT cuts the connection.
	if err := proxy.SetFaults(mqttproxy.Faults{Drop: 1}, mqttproxy.Faults{}); err != nil {
		t.Fatal(err)
	}
	fe.completed()
	fe.refused()
	fe.completed()
	fe.waitLogged(fe.placed)
	fe.KillAppliance(syscall.SIGKILL) // between calls
	ob := fe.inspect()
	t.Logf("after the first kill: last seq %d, acked %d, calls in the outbox %v", ob.lastSeq, ob.acked, ob.calls)
	if len(ob.calls) < 3 {
		t.Fatalf("the outbox holds %d calls, want at least the 3 made while central could not be reached", len(ob.calls))
	}
	if err := proxy.SetFaults(mqttproxy.Faults{}, mqttproxy.Faults{}); err != nil {
		t.Fatal(err)
	}
	fe.restartAppliance()
	fe.burst(4)

	// kill -9 while a call is answered and talking.
	fe.tap(t, faultCards[fe.next%len(faultCards)])
	fe.next++
	c, err := fe.port.Dial(fe.ctx, approved, nil)
	if err != nil {
		t.Fatalf("call to be cut: %v", err)
	}
	fe.waitLogged(fe.placed)
	// Media flows (and is being recorded): the family's audio reaches the port.
	testkit.Eventually(t, 30*time.Second, "media on the call to be cut", func() bool { return c.Stats().Received > 25 })
	fe.KillAppliance(syscall.SIGKILL)
	hctx, cancel := context.WithTimeout(fe.ctx, 3*time.Second)
	c.Hangup(hctx) // the appliance is gone: the BYE goes unanswered
	cancel()
	ob = fe.inspect()
	t.Logf("after the second kill: last seq %d, acked %d, calls in the outbox %v", ob.lastSeq, ob.acked, ob.calls)
	before := fe.loggedCalls()
	if len(before) != fe.placed {
		t.Fatalf("the appliance logged %d calls recorded before the kill, the port completed %d", len(before), fe.placed)
	}
	fe.restartAppliance()
	fe.placed++ // the call cut by the kill, closed at the restart
	fe.burst(4)

	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls; the port placed %d (the call cut by the kill included)", len(calls), fe.placed)
	}
	ids := map[string]bool{}
	for _, c := range calls {
		ids[c.ID] = true
	}
	for id := range before {
		if !ids[id] {
			t.Errorf("call %s, committed before the kill, is not at central", id)
		}
	}
	var cut, others []centralstore.Call
	for _, c := range calls {
		if c.Disposition == wire.DispRestarted {
			cut = append(cut, c)
		} else {
			others = append(others, c)
		}
	}
	if len(cut) != 1 || before[cut[0].ID] {
		t.Errorf("calls closed at the restart: %+v, want the one cut by the kill", cut)
	}
	wantDispositions(t, others, 8, 8)
	if st := proxy.Stats(); st.Up.Cuts == 0 {
		t.Errorf("the proxy never cut the appliance off: %+v", st)
	}
}

// TestFaultKillCentral: central is down while calls are made; when it comes
// back it is killed with -9 as soon as the backlog starts arriving, then
// started again. Every call arrives once.
func TestFaultKillCentral(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{})
	fe.completed()
	if _, err := fe.WaitCalls(fe.ctx, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	fe.KillCentral(syscall.SIGKILL)
	fe.burst(9)
	// The appliance stays up; stop it a moment to read its outbox: the
	// backlog is exactly the calls made while central was down.
	fe.KillAppliance(syscall.SIGTERM)
	ob := fe.inspect()
	if len(ob.calls) != 9 {
		t.Fatalf("the outbox holds %d calls, want the 9 made while central was down", len(ob.calls))
	}
	fe.restartAppliance()

	if err := fe.StartCentral(fe.ctx); err != nil {
		t.Fatal(err)
	}
	// Kill it as soon as the backlog starts arriving: central's
	// acknowledged sequence moves past what it had before the outage.
	before, err := fe.Appliance(fe.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen uint64
	testkit.Eventually(t, 90*time.Second, "the backlog to start arriving", func() bool {
		a, err := fe.Appliance(fe.ctx)
		seen = a.AckedSeq
		return err == nil && a.AckedSeq > before.AckedSeq
	})
	fe.KillCentral(syscall.SIGKILL)
	unverified, _ := filepath.Glob(filepath.Join(fe.Opts.Dir, "appliance", "recordings", "*.wav"))
	t.Logf("central killed after acknowledging seq %d (%d before the outage), with %d recordings not yet verified",
		seen, before.AckedSeq, len(unverified))
	if err := fe.StartCentral(fe.ctx); err != nil {
		t.Fatal(err)
	}
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the port placed %d", len(calls), fe.placed)
	}
	wantDispositions(t, calls, 4, 6)
	for _, id := range ob.calls {
		if !slices.ContainsFunc(calls, func(c centralstore.Call) bool { return c.ID == id }) {
			t.Errorf("backlog call %s missing at central", id)
		}
	}
}

// TestFaultLongOutage: central (with its broker) stays down across 20
// calls and a restart of the appliance; the outbox keeps every record (and
// its debit) in order; when central is back, all arrive once and the money
// reconciles. The outage is in real time (seconds of wall clock, as long
// as the 20 calls and the restart take): days of outage in simulated time,
// with commands expiring while the appliance is offline, are
// TestOutageOfDaysOnTheFakeClock in appliance/syncclient.
func TestFaultLongOutage(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{})
	fe.KillCentral(syscall.SIGTERM)
	fe.burst(10)
	fe.KillAppliance(syscall.SIGTERM)
	first := fe.inspect()
	if len(first.calls) != 10 {
		t.Fatalf("the outbox holds %d calls after 10 with central down", len(first.calls))
	}
	fe.restartAppliance()
	fe.burst(10)
	if err := fe.StartCentral(fe.ctx); err != nil {
		t.Fatal(err)
	}
	calls := fe.finish(fe.placed)
	if len(calls) != 20 || fe.placed != 20 {
		t.Fatalf("central has %d calls, the port placed %d, want 20", len(calls), fe.placed)
	}
	ids := map[string]bool{}
	for _, c := range calls {
		ids[c.ID] = true
	}
	for _, id := range first.calls {
		if !ids[id] {
			t.Errorf("call %s, in the outbox before the restart, missing at central", id)
		}
	}
	wantDispositions(t, calls, 8, 12)
}
