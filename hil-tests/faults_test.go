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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/store"
	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/mqttproxy"
	"github.com/kinline/kinline/tools/readersim/sim"
	"github.com/kinline/kinline/tools/sipsim/phone"
	"github.com/kinline/kinline/tools/stack"
)

// The fault tests of issue 5: each runs the real binaries through a fault
// (a duplicating and reordering proxy between the appliance and the broker,
// kill -9 of the appliance during a burst of calls, kill -9 of central
// during ingest, a long outage across an appliance restart) and then checks
// the whole installation with faultEnv.finish: central holds exactly the
// appliance's calls (same count, same ids, none twice), central's
// acknowledged sequence is the appliance's last one, every recording
// arrived and matches its SHA-256, and the appliance's state.db passes
// bbolt's consistency check.

// Extra people (cards) so that consecutive calls need not wait out the
// reader driver's 2 s de-duplication window of one card.
var faultCards = []string{card, "04A1B2D4", "04A1B2D5"}

// faultEnv is an installation with bookkeeping of the calls the phones
// placed and of what the appliance's outbox held whenever it was stopped.
type faultEnv struct {
	*env
	t      *testing.T
	port   *phone.Port
	family *phone.Family
	next   int // round-robin index into faultCards
	// placed counts calls the port placed whose record the appliance
	// must have written (answered and hung up, or refused).
	placed int
	// snapshots are call ids found in the outbox while the appliance was
	// stopped: calls it had committed.
	snapshots map[string]bool
}

// newFaultEnv starts central and an appliance; beforeAppliance, if set,
// runs after the configs are written and central is up, before the
// appliance starts (to point the appliance somewhere else).
func newFaultEnv(t *testing.T, beforeAppliance func(st *stack.Stack)) *faultEnv {
	t.Helper()
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { family.Close() })
	dir := t.TempDir()
	reader, err := sim.New(sim.Options{Driver: sim.DriverPN532, Link: filepath.Join(dir, "reader-t1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	st, err := stack.Prepare(stack.Options{Dir: dir, BinDir: binDir, TrunkAddr: family.Addr().String(), ReaderDevice: reader.Path(), Quiet: true, LogLevel: "info"})
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
	if beforeAppliance != nil {
		beforeAppliance(st)
	}
	if err := st.StartAppliance(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{Stack: st, Reader: reader, ctx: ctx, lastRead: map[string]time.Time{}}
	fe := &faultEnv{env: e, t: t, family: family, snapshots: map[string]bool{}}
	for i, c := range faultCards[1:] {
		if _, err := e.Seed(ctx, stack.Person{PrisonNumber: fmt.Sprintf("B%04dCD", i), Name: fmt.Sprintf("Extra %d", i), Card: c, Numbers: []string{approved}}); err != nil {
			t.Fatal(err)
		}
	}
	seed(t, e) // the first card, and waits until the appliance applies the policy
	fe.port = newPort(t, e)
	return fe
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
}

// inspect opens the stopped appliance's state.db, runs bbolt's check and
// reads the outbox; the call ids in it join fe.snapshots.
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
	}
	if len(ob.pending) > 0 && ob.pending[len(ob.pending)-1].Seq != ob.lastSeq {
		t.Fatalf("outbox ends at seq %d, last seq is %d", ob.pending[len(ob.pending)-1].Seq, ob.lastSeq)
	}
	return ob
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

var callRecorded = regexp.MustCompile(`msg="call recorded".*? call=("[^"]*"|\S+)`)

// loggedCalls are the call ids the appliance logged as committed (it logs
// "call recorded" after the transaction that wrote the record).
func (fe *faultEnv) loggedCalls() map[string]bool {
	b, err := os.ReadFile(filepath.Join(fe.Opts.Dir, "kinline-appliance.log"))
	if err != nil {
		fe.t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range callRecorded.FindAllSubmatch(b, -1) {
		ids[strings.Trim(string(m[1]), `"`)] = true
	}
	return ids
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
// and none is still waiting at the appliance. It returns central's calls.
func (fe *faultEnv) finish(minCalls int) []centralstore.Call {
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
	if acked != ob.lastSeq {
		t.Fatalf("central acknowledged seq %d, the appliance's last seq is %d: events lost", acked, ob.lastSeq)
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
	return calls
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
	fe := newFaultEnv(t, func(st *stack.Stack) {
		proxy = throughProxy(t, st, mqttproxy.Config{Seed: 5, Up: f, Down: f, HoldMax: time.Second})
	})
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
// arrives at central once; the call cut by the kill was never recorded, so
// it is nowhere.
func TestFaultKillAppliance(t *testing.T) {
	var proxy *mqttproxy.Proxy
	fe := newFaultEnv(t, func(st *stack.Stack) {
		proxy = throughProxy(t, st, mqttproxy.Config{Seed: 9})
	})
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
	time.Sleep(500 * time.Millisecond) // media flows and is being recorded
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
	fe.burst(4)

	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls; the port completed %d (the call cut by the kill was never recorded)", len(calls), fe.placed)
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
	wantDispositions(t, calls, 8, 8)
	if st := proxy.Stats(); st.Up.Cuts == 0 {
		t.Errorf("the proxy never cut the appliance off: %+v", st)
	}
}

// TestFaultKillCentral: central is down while calls are made; when it comes
// back it is killed with -9 as soon as the backlog starts arriving, then
// started again. Every call arrives once.
func TestFaultKillCentral(t *testing.T) {
	fe := newFaultEnv(t, nil)
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
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backlog never started arriving")
		}
		if a, err := fe.Appliance(fe.ctx); err == nil && a.AckedSeq > before.AckedSeq {
			seen = a.AckedSeq
			break
		}
	}
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
// calls and a restart of the appliance; the outbox keeps every record in
// order; when central is back, all arrive once.
func TestFaultLongOutage(t *testing.T) {
	fe := newFaultEnv(t, nil)
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
