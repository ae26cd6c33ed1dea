package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// moneyFixture: block A with appliances appA and appB, person ann in A,
// person bob in B, and one rate so policies carry money.
func moneyFixture(t *testing.T) (*Store, string, string) {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		if err := s.UpsertAppliance(ctx, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	ann, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	if err != nil {
		t.Fatal(err)
	}
	setTestRate(t, s)
	return s, ann.ID, bob.ID
}

// setTestRate writes one rate (+44, national, 10 a minute) straight into
// the rates table and turns charging on, so policies carry money; the
// rates' and settings' validation and auditing are central/store/money's
// (SetRates, SetMoneySettings).
func setTestRate(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.w.ExecContext(context.Background(), `INSERT INTO rates (prefix, destination_type, name, per_minute, billing_unit_s, connection_fee, rounding, updated_by, updated_ns)
		VALUES ('+44', $1, '', 10, 60, 0, '', 'test', $2)`, wire.DestNational, ns(t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(context.Background(), `UPDATE settings SET value = 'on' WHERE name = $1`, SettingCharging); err != nil {
		t.Fatal(err)
	}
}

// credit writes a central credit of amount to account straight into the
// ledger, as central/store/money's Recharge would (without its checks,
// audit entry and policy bump, which are the money package's to test).
func credit(t *testing.T, s *Store, account string, amount int64, receipt string) {
	t.Helper()
	if _, err := s.w.ExecContext(context.Background(), `INSERT INTO ledger_entries (id, account, kind, amount, currency, reason, receipt, ref, at_ns, origin, created_by, created_ns)
		VALUES ($1, $2, $3, $4, 'EUR', '', $5, '', $6, $7, 'user:fin', $6)`,
		newID("led_"), account, wire.LedgerRecharge, amount, receipt, ns(s.clk.Now()), ledger.OriginCentral); err != nil {
		t.Fatal(err)
	}
}

// debit is an appliance's call debit as its EventLedger payload.
func debit(id, app, account string, amount int64, call string, at time.Time) wire.LedgerEntry {
	return wire.LedgerEntry{ID: id, Account: account, Kind: wire.LedgerCallDebit, Amount: amount, Currency: "EUR",
		Ref: call, At: at, Origin: app}
}

// ledgerEvents seals payloads as app's events from seq `from` on, chained
// to prev.
func ledgerEvents(app string, from uint64, prev string, payloads ...any) []wire.Event {
	return chain(app, from, from+uint64(len(payloads))-1, prev, func(seq uint64) (wire.EventType, any) {
		p := payloads[seq-from]
		switch p.(type) {
		case wire.LedgerEntry:
			return wire.EventLedger, p
		case wire.NumberBlocked:
			return wire.EventNumberBlocked, p
		case wire.CallStarted:
			return wire.EventCallStarted, p
		case wire.CallsCleared:
			return wire.EventCallsCleared, p
		}
		return wire.EventCall, p
	})
}

func mustStore(t *testing.T, s *Store, app string, evs []wire.Event) uint64 {
	t.Helper()
	ack, err := s.StoreEvents(context.Background(), app, evs)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitAllProjected(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ack
}

func balance(t *testing.T, s *Store, account string) ledger.Money {
	t.Helper()
	var b int64
	if err := s.r.QueryRowContext(context.Background(), `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = $1`, account).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return ledger.Money(b)
}

func ledgerAlarms(t *testing.T, s *Store, app, code string) []Alarm {
	t.Helper()
	al, err := s.Alarms(context.Background(), app, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []Alarm
	for _, a := range al {
		if a.Code == code {
			out = append(out, a)
		}
	}
	return out
}

func TestDoubleDeliveredDebitCountedOnce(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	credit(t, s, ann, 1000, "R-1")
	d := debit("appA:1", "appA", ann, -300, "c1", t0.Add(time.Minute))
	evs := ledgerEvents("appA", 1, "", d, d) // the same entry under seq 1 and seq 2
	mustStore(t, s, "appA", evs[:1])
	mustStore(t, s, "appA", evs[:1]) // redelivered event
	mustStore(t, s, "appA", evs)     // and the entry again under another seq
	if b := balance(t, s, ann); b != 700 {
		t.Fatalf("balance %d, want 700 (debit counted once)", b)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM ledger_entries WHERE id = 'appA:1'`); n != 1 {
		t.Fatalf("%d rows for the debit", n)
	}
	if al := ledgerAlarms(t, s, "appA", AlarmLedgerConflict); len(al) != 0 {
		t.Fatalf("identical redelivery raised %+v", al)
	}
}

func TestConflictingDebitRaisesAlarm(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	credit(t, s, ann, 1000, "R-1")
	evs := ledgerEvents("appA", 1, "",
		debit("appA:1", "appA", ann, -300, "c1", t0.Add(time.Minute)),
		debit("appA:1", "appA", ann, -500, "c2", t0.Add(2*time.Minute)))
	mustStore(t, s, "appA", evs)
	if b := balance(t, s, ann); b != 700 {
		t.Fatalf("balance %d, want 700 (conflicting entry not counted)", b)
	}
	al := ledgerAlarms(t, s, "appA", AlarmLedgerConflict)
	if len(al) != 1 || al[0].Seq != 2 || !strings.Contains(al[0].Message, "appA:1") {
		t.Fatalf("conflict alarms %+v", al)
	}
	// Delivered again: still one alarm, still one entry.
	mustStore(t, s, "appA", evs)
	if al := ledgerAlarms(t, s, "appA", AlarmLedgerConflict); len(al) != 1 {
		t.Fatalf("alarms after redelivery %+v", al)
	}
}

func TestInvalidApplianceEntriesRefused(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	credit := debit("appA:1", "appA", ann, 5000, "", t0)
	credit.Kind, credit.Receipt = wire.LedgerRecharge, "forged"
	wrongCur := debit("appA:2", "appA", ann, -10, "c2", t0)
	wrongCur.Currency = "USD"
	evs := ledgerEvents("appA", 1, "",
		credit,   // appliances may not credit
		wrongCur, // not the prison's currency
		debit("appA:3", "appB", ann, -10, "c3", t0),      // origin is another appliance
		debit("appA:4", "appA", "nobody", -10, "c4", t0), // unknown account
		debit("appA:5", "appA", ann, 0, "c5", t0),        // not a debit
	)
	mustStore(t, s, "appA", evs)
	if n := count(t, s, `SELECT COUNT(*) FROM ledger_entries`); n != 0 {
		t.Fatalf("%d invalid entries stored", n)
	}
	al := ledgerAlarms(t, s, "appA", AlarmLedgerInvalid)
	if len(al) != 5 {
		t.Fatalf("invalid alarms %+v", al)
	}
}

func TestIncludedSeqStopsAtUnprojected(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	evs := ledgerEvents("appA", 1, "",
		debit("appA:1", "appA", ann, -10, "c1", t0), debit("appA:2", "appA", ann, -20, "c2", t0), debit("appA:3", "appA", ann, -30, "c3", t0))
	mustStore(t, s, "appA", evs[:1])
	// Projection fails (as if central crashed mid-way): seq 2-3 are stored
	// and acknowledged but not in the ledger yet.
	fail := func() error { return errors.New("injected") }
	s.ev.SetHook(&fail)
	if ack, err := s.StoreEvents(ctx, "appA", evs[1:]); err != nil || ack != 3 {
		t.Fatalf("store: ack %d %v", ack, err)
	}
	p, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.IncludedSeq != 1 || p.Money.Accounts[0].Balance != -10 {
		t.Fatalf("with seq 2-3 unprojected: included %d balance %d", p.Money.IncludedSeq, p.Money.Accounts[0].Balance)
	}
	s.ev.SetHook(nil)
	// The projector waits for its retry on the fake clock; project here.
	if err := s.ev.ProjectThrough(ctx, s.ev.Stored()); err != nil {
		t.Fatal(err)
	}
	p, err = s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.IncludedSeq != 3 || p.Money.Accounts[0].Balance != -60 {
		t.Fatalf("after projection: included %d balance %d", p.Money.IncludedSeq, p.Money.Accounts[0].Balance)
	}
}

func TestNumberBlockedProjected(t *testing.T) {
	s, ann, _ := moneyFixture(t)
	ctx := context.Background()
	if _, err := addContact(ctx, s, "test", ann, newContact{Number: "+44 7700 900123", Name: "Sis", Relationship: "sister"}); err != nil {
		t.Fatal(err)
	}
	p0, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	nb := wire.NumberBlocked{CallID: "c1", PersonID: ann, Terminal: "t1", Number: "+447700900123", At: t0}
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "", nb))
	if n := count(t, s, `SELECT COUNT(*) FROM contacts WHERE person_id = $1 AND self_blocked = 1`, ann); n != 1 {
		t.Fatalf("%d self-blocked contacts", n)
	}
	p1, err := s.testPolicy(ctx, "appA")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Version <= p0.Version {
		t.Fatalf("policy not bumped: %d -> %d", p0.Version, p1.Version)
	}
	if l, err := s.AuditLog(ctx, AuditFilter{Action: "contact.self_blocked"}); err != nil || len(l) != 1 || l[0].Actor != "appliance:appA" {
		t.Fatalf("audit %+v %v", l, err)
	}
	// A malformed payload is an alarm, not a failure.
	bad, _ := json.Marshal(map[string]any{"person_id": ann})
	ev := wire.Event{ApplianceID: "appA", Seq: 2, Time: t0, Type: wire.EventNumberBlocked, Payload: bad}
	if prev := ledgerEvents("appA", 1, "", nb); len(prev) == 1 {
		ev.PrevHash = prev[0].Hash
	}
	ev.Seal()
	mustStore(t, s, "appA", []wire.Event{ev})
	if al := ledgerAlarms(t, s, "appA", AlarmPayload); len(al) != 1 {
		t.Fatalf("payload alarms %+v", al)
	}
}
