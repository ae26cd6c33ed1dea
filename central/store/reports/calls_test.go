package reports

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/wire"
)

// searchFixture holds people, contacts, an officer and calls covering
// every search filter.
type searchFixture struct {
	s               *testStores
	ann, bob, cat   *people.Person
	off             *people.Person
	annMum, bobAunt *people.Contact
	all             []store.Call // every call, hidden ones too, newest first
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	fx := &searchFixture{s: s}
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		mustT(t, s.UpsertAppliance(ctx, a[0], a[1]))
	}
	mk := func(pn, name, block string, officer bool) *people.Person {
		p, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: pn, Name: name, Block: block, Officer: officer})
		mustT(t, err)
		return p
	}
	fx.ann, fx.bob, fx.cat = mk("A1", "Ann Smith", "A", false), mk("B1", "Bob SMITH", "B", false), mk("A2", "Cat 100% Jones", "A", false)
	fx.off = mk("S1", "Officer Olsen", "A", true)
	contact := func(p *people.Person, num, name string, priv bool) *people.Contact {
		c, _, err := s.AddContact(ctx, "test", p.ID, people.NewContact{Number: num, Name: name, Relationship: "family", Privileged: priv})
		mustT(t, err)
		return c
	}
	fx.annMum = contact(fx.ann, "+4411", "Mum Smith", false)
	contact(fx.ann, "+4412", "Lawyer", true)
	fx.bobAunt = contact(fx.bob, "+4411", "Aunt May", false)
	ans := func(tm time.Time) *time.Time { a := tm.Add(5 * time.Second); return &a }
	type rec struct {
		app string
		c   wire.CallRecord
	}
	n := 0
	call := func(app, id, person, pn, num, disp string, edit func(*wire.CallRecord)) rec {
		n++
		start := t0.Add(time.Duration(n) * time.Minute)
		c := wire.CallRecord{CallID: id, PersonID: person, PrisonNumber: pn, Terminal: "t1", Number: num, Start: start, End: start.Add(time.Minute), Disposition: disp}
		if disp == wire.DispCompleted {
			c.Answer = ans(start)
		}
		if edit != nil {
			edit(&c)
		}
		return rec{app, c}
	}
	recs := []rec{
		call("appA", "ann-mum", fx.ann.ID, "A1", "+4411", wire.DispCompleted, func(c *wire.CallRecord) { c.OfficerID = fx.off.ID }),
		call("appA", "ann-lawyer", fx.ann.ID, "A1", "+4412", wire.DispCompleted, nil),
		call("appB", "bob-aunt", fx.bob.ID, "B1", "+4411", wire.DispCompleted, nil),
		call("appA", "cat-refused", fx.cat.ID, "A2", "+4499", wire.DispRefused, func(c *wire.CallRecord) { c.Reason = "number not approved" }),
		call("appA", "ann-by-pn", "", "A1", "+4411", wire.DispNoAnswer, nil),
		call("appA", "unknown", "p-unknown", "X9", "+4433", wire.DispCompleted, nil),
		call("appA", "ann-ended", fx.ann.ID, "A1", "+4411", wire.DispEnded, func(c *wire.CallRecord) { c.EndedBy = fx.off.ID; c.Answer = ans(c.Start) }),
		call("appA", "ann-hidden", fx.ann.ID, "A1", "+4455", wire.DispCompleted, func(c *wire.CallRecord) { c.Hidden = true }),
		// The same prison number, another person id: the person id wins.
		call("appA", "other-id", "p-other", "A1", "+4477", wire.DispCompleted, nil),
	}
	seq := map[string]uint64{}
	prev := map[string]string{}
	for _, r := range recs {
		seq[r.app]++
		evs := ledgerEvents(r.app, seq[r.app], prev[r.app], r.c)
		prev[r.app] = evs[len(evs)-1].Hash
		mustStore(t, s, r.app, evs)
	}
	all, err := s.Calls(ctx, CallFilter{ShowHidden: true, Limit: 500})
	mustT(t, err)
	if len(all) != len(recs) {
		t.Fatalf("%d calls stored, want %d", len(all), len(recs))
	}
	fx.all = all
	return fx
}

// ids are the ids of the calls of fx.all that pred keeps, newest first.
func (fx *searchFixture) ids(pred func(store.Call) bool) []string {
	var out []string
	for _, c := range fx.all {
		if pred(c) {
			out = append(out, c.ID)
		}
	}
	return out
}

func callIDs(cs []store.Call) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestCallSearchFilters(t *testing.T) {
	fx := newSearchFixture(t)
	ctx := context.Background()
	notHidden := func(c store.Call) bool { return !c.Hidden }
	ann := func(c store.Call) bool { return c.PersonID == fx.ann.ID || c.PersonID == "" && c.PrisonNumber == "A1" }
	and := func(ps ...func(store.Call) bool) func(store.Call) bool {
		return func(c store.Call) bool {
			for _, p := range ps {
				if !p(c) {
					return false
				}
			}
			return true
		}
	}
	cases := []struct {
		name string
		f    CallFilter
		want []string
	}{
		{"name, any case", CallFilter{Name: "smith"}, fx.ids(and(notHidden, func(c store.Call) bool { return ann(c) || c.PersonID == fx.bob.ID }))},
		{"name SMITH", CallFilter{Name: " SMITH "}, fx.ids(and(notHidden, func(c store.Call) bool { return ann(c) || c.PersonID == fx.bob.ID }))},
		{"name wildcard is literal", CallFilter{Name: "100%"}, []string{"cat-refused"}},
		{"name _ is literal", CallFilter{Name: "_"}, nil},
		{"name nobody", CallFilter{Name: "nobody"}, nil},
		{"officer is not a person's name", CallFilter{Name: "Olsen"}, nil},
		{"person id", CallFilter{Person: fx.ann.ID}, fx.ids(and(notHidden, ann))},
		{"prison number", CallFilter{Person: "A1"}, fx.ids(and(notHidden, ann))},
		{"prison number with hidden", CallFilter{Person: "A1", ShowHidden: true}, fx.ids(ann)},
		{"unknown person by prison number", CallFilter{Person: "X9"}, []string{"unknown"}},
		{"unknown person by id", CallFilter{Person: "p-unknown"}, []string{"unknown"}},
		{"contact by name: that person's calls only", CallFilter{Contact: "mum"}, []string{"ann-ended", "ann-by-pn", "ann-mum"}},
		{"contact by id", CallFilter{Contact: fx.bobAunt.ID}, []string{"bob-aunt"}},
		{"contact nobody", CallFilter{Contact: "nobody"}, nil},
		{"officer by id", CallFilter{Officer: fx.off.ID}, []string{"ann-ended", "ann-mum"}},
		{"officer by staff number", CallFilter{Officer: "S1"}, []string{"ann-ended", "ann-mum"}},
		{"number and name", CallFilter{Number: "+4411", Name: "bob"}, []string{"bob-aunt"}},
		{"number", CallFilter{Number: "+4411"}, []string{"ann-ended", "ann-by-pn", "bob-aunt", "ann-mum"}},
		{"disposition", CallFilter{Disposition: wire.DispRefused}, []string{"cat-refused"}},
		{"block", CallFilter{Block: "B"}, []string{"bob-aunt"}},
		{"scope and name", CallFilter{Blocks: []string{"B"}, Name: "smith"}, []string{"bob-aunt"}},
		{"scope of no block", CallFilter{Blocks: []string{}}, nil},
		{"scope of no block and a person", CallFilter{Blocks: []string{}, Person: "A1"}, nil},
		{"other block's person in scope", CallFilter{Blocks: []string{"B"}, Person: "A1"}, nil},
		{"time range", CallFilter{From: t0.Add(3 * time.Minute), To: t0.Add(5 * time.Minute), ShowHidden: true}, []string{"cat-refused", "bob-aunt"}},
		{"name and time range", CallFilter{Name: "smith", From: t0.Add(3 * time.Minute)}, []string{"ann-ended", "ann-by-pn", "bob-aunt"}},
	}
	for _, tc := range cases {
		if tc.want == nil {
			tc.want = []string{}
		}
		cs, err := fx.s.Calls(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := callIDs(cs); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		// Every page is the matching slice of the whole answer.
		for _, pg := range [][2]int{{1, 0}, {2, 1}, {3, 2}} {
			f := tc.f
			f.Limit, f.Offset = pg[0], pg[1]
			cs, err := fx.s.Calls(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := min(pg[1], len(tc.want)), min(pg[1]+pg[0], len(tc.want))
			if got := callIDs(cs); !slices.Equal(got, tc.want[lo:hi]) {
				t.Errorf("%s, limit %d offset %d: %v, want %v", tc.name, pg[0], pg[1], got, tc.want[lo:hi])
			}
		}
	}
	// Names, the officer and privileged calls as the console shows them.
	c, err := fx.s.Call(ctx, "ann-by-pn")
	if err != nil || c.PersonName != "Ann Smith" {
		t.Fatalf("call by prison number names %+v %v", c, err)
	}
	if c, _ := fx.s.Call(ctx, "ann-mum"); c.OfficerName != "Officer Olsen" || c.Privileged {
		t.Fatalf("ann-mum %+v", c)
	}
	if c, _ := fx.s.Call(ctx, "ann-lawyer"); !c.Privileged {
		t.Fatalf("call to a privileged contact not privileged: %+v", c)
	}
}

// TestCallSearchManyKeys: a name matching more people than cutoffKeys goes
// through the cut-off pass, and still agrees with the plain answer when the
// other filters leave it short, for every page.
func TestCallSearchManyKeys(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	var evs []wire.Event
	var persons []*people.Person
	for i := 0; i < 7; i++ {
		p, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: fmt.Sprintf("L%d", i), Name: fmt.Sprintf("Lee %d", i), Block: "A"})
		mustT(t, err)
		persons = append(persons, p)
	}
	n := 0
	evs = callChain("appA", 1, 7*6, "", func(seq uint64) (wire.EventType, any) {
		n++
		p := persons[(n*5)%7]
		start := t0.Add(time.Duration(n) * time.Minute)
		disp := wire.DispCompleted
		if n < 10 || n%9 == 0 { // the oldest calls, and a few others, refused
			disp = wire.DispRefused
		}
		c := wire.CallRecord{CallID: fmt.Sprintf("c%02d", n), PersonID: p.ID, PrisonNumber: p.PrisonNumber, Terminal: "t1",
			Number: "+4420", Start: start, End: start.Add(time.Second), Disposition: disp}
		if n%4 == 0 { // records that name only the prison number
			c.PersonID = ""
		}
		return wire.EventCall, c
	})
	mustStore(t, s, "appA", evs)
	all, err := s.Calls(ctx, CallFilter{Limit: 500})
	mustT(t, err)
	for _, f := range []CallFilter{
		{Name: "lee"},
		{Name: "lee", Disposition: wire.DispRefused},
		{Name: "lee", To: t0.Add(20 * time.Minute)},
	} {
		var want []string
		for _, c := range all {
			if (f.Disposition == "" || c.Disposition == f.Disposition) && (f.To.IsZero() || c.Start.Before(f.To)) {
				want = append(want, c.ID)
			}
		}
		for _, pg := range [][2]int{{50, 0}, {5, 0}, {5, 5}, {3, 7}, {4, 30}} {
			f.Limit, f.Offset = pg[0], pg[1]
			cs, err := s.Calls(ctx, f)
			mustT(t, err)
			lo, hi := min(pg[1], len(want)), min(pg[1]+pg[0], len(want))
			if got := callIDs(cs); !slices.Equal(got, want[lo:hi]) {
				t.Errorf("%+v: %v, want %v", f, got, want[lo:hi])
			}
		}
	}
}

func TestCallSearchTooBroad(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.EnsureBlock(ctx, "test", "A"))
	// A name must not match more than maxResolved people (written as the
	// batch import writes them, in one transaction).
	mustT(t, s.InTx(ctx, func(tx *sql.Tx) error {
		now := store.NS(s.Clock().Now())
		for i := 0; i <= maxResolved; i++ {
			id := store.NewID("p_")
			if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, prison_number, name, block, status, language, pin_hash, created_ns, updated_ns,
					supervision_level, status_reason, calls_per_day, calls_per_week, calls_per_month) VALUES ($1, $2, $3, 'A', 'active', '', '', $4, $4, '', '', 0, 0, 0)`,
				id, fmt.Sprintf("P%04d", i), fmt.Sprintf("Pat %d", i), now); err != nil {
				return err
			}
			if err := store.RecordPersonBlock(ctx, tx, id, "A", now); err != nil {
				return err
			}
		}
		return nil
	}))
	if _, err := s.Calls(ctx, CallFilter{Name: "pat"}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "more specific") {
		t.Fatalf("too broad a name: %v", err)
	}
	if cs, err := s.Calls(ctx, CallFilter{Name: "pat 17"}); err != nil || len(cs) != 0 {
		t.Fatalf("narrower name: %v %v", cs, err)
	}
}

func TestCallFilters(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	s.UpsertAppliance(ctx, "appA", "A")
	s.UpsertAppliance(ctx, "appB", "B")
	mk := func(person, number, disp string) func(uint64) (wire.EventType, any) {
		return func(seq uint64) (wire.EventType, any) {
			typ, p := callEvent(seq)
			c := p.(wire.CallRecord)
			c.CallID = fmt.Sprintf("%s-%s-%d", person, disp, seq)
			c.PersonID, c.PrisonNumber, c.Number, c.Disposition = person, "N"+person, number, disp
			return typ, c
		}
	}
	s.StoreEvents(ctx, "appA", callChain("appA", 1, 3, "", mk("p1", "+111", wire.DispCompleted)))
	s.StoreEvents(ctx, "appB", callChain("appB", 1, 2, "", mk("p2", "+222", wire.DispRefused)))
	check := func(f CallFilter, want int) []store.Call {
		t.Helper()
		cs, err := s.Calls(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != want {
			t.Fatalf("filter %+v: %d calls, want %d", f, len(cs), want)
		}
		for i := 1; i < len(cs); i++ {
			if cs[i].Start.After(cs[i-1].Start) {
				t.Fatal("not newest first")
			}
		}
		return cs
	}
	check(CallFilter{}, 5)
	check(CallFilter{Block: "A"}, 3)
	check(CallFilter{Person: "p2"}, 2)
	check(CallFilter{Person: "Np1"}, 3)
	check(CallFilter{Number: "+222"}, 2)
	check(CallFilter{Disposition: wire.DispRefused}, 2)
	// calls start at t0 + seq minutes
	check(CallFilter{From: t0.Add(2 * time.Minute)}, 3)
	check(CallFilter{From: t0.Add(2 * time.Minute), To: t0.Add(3 * time.Minute)}, 2)
	page := check(CallFilter{Limit: 2, Offset: 1}, 2)
	all := check(CallFilter{}, 5)
	if page[0].ID != all[1].ID || page[1].ID != all[2].ID {
		t.Fatal("offset paging wrong")
	}
}

// TestPrivilegedAndHiddenCallsFromGlobalNumbers: the prison-wide list's
// privileged and hidden numbers flag calls as they are projected and, for
// numbers put on the list later, as they are read (Call and the search).
func TestPrivilegedAndHiddenCallsFromGlobalNumbers(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	_, _, err := s.AddGlobalNumber(ctx, "admin", "+44 20 7946 0000", wire.NumberKindPrivileged, "legal aid line")
	mustT(t, err)
	_, _, err = s.AddGlobalNumber(ctx, "admin", "+33*", wire.NumberKindHidden, "investigation")
	mustT(t, err)
	numbers := map[uint64]string{1: "+44 20 7946 0000", 2: "+33 1 2345 6789", 3: "+44 161 000 0000", 4: "+44 161 999 9999"}
	_, err = s.StoreEvents(ctx, "appA", callChain("appA", 1, 4, "", func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		c := p.(wire.CallRecord)
		c.Number = numbers[seq]
		return typ, c
	}))
	mustT(t, err)
	// The projection stores the flags the list gave.
	var priv, hid int
	mustT(t, s.Reader().QueryRow(`SELECT privileged, hidden FROM calls WHERE call_id = 'call-1'`).Scan(&priv, &hid))
	if priv != 1 || hid != 0 {
		t.Fatalf("call-1 stored privileged=%d hidden=%d", priv, hid)
	}
	mustT(t, s.Reader().QueryRow(`SELECT privileged, hidden FROM calls WHERE call_id = 'call-2'`).Scan(&priv, &hid))
	if priv != 0 || hid != 1 {
		t.Fatalf("call-2 stored privileged=%d hidden=%d", priv, hid)
	}
	// A number put on the list later covers its earlier calls at read time.
	_, _, err = s.AddGlobalNumber(ctx, "admin", "+44 161 999*", wire.NumberKindHidden, "witness")
	mustT(t, err)
	ids := func(f CallFilter) []string {
		t.Helper()
		cs, err := s.Calls(ctx, f)
		mustT(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(CallFilter{}); !slices.Equal(got, []string{"call-3", "call-1"}) {
		t.Fatalf("ordinary search %v", got)
	}
	if got := ids(CallFilter{ShowHidden: true}); !slices.Equal(got, []string{"call-4", "call-3", "call-2", "call-1"}) {
		t.Fatalf("search with hidden %v", got)
	}
	c1, err := s.Call(ctx, "call-1")
	mustT(t, err)
	c4, err := s.Call(ctx, "call-4")
	mustT(t, err)
	c3, err := s.Call(ctx, "call-3")
	mustT(t, err)
	if !c1.Privileged || c1.Hidden || !c4.Hidden || c4.Privileged || c3.Hidden || c3.Privileged {
		t.Fatalf("flags: 1 %v/%v 4 %v/%v 3 %v/%v", c1.Privileged, c1.Hidden, c4.Privileged, c4.Hidden, c3.Privileged, c3.Hidden)
	}
	// Taking the privileged number off the list keeps the stored flag.
	_, err = s.RemoveGlobalNumber(ctx, "admin", "+44 20 7946 0000", wire.NumberKindPrivileged, "line closed")
	mustT(t, err)
	if c, _ := s.Call(ctx, "call-1"); !c.Privileged {
		t.Fatal("stored privileged flag lost")
	}
}

// TestCallSearchByOfficer: a call is found by the officer who confirmed it
// (a known officer's id) and by the one who ended it (an id central does not
// know as an officer), and not by anyone else (moved from the core's
// TestOfficerProjection).
func TestCallSearchByOfficer(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	off, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "S-1", Name: "Officer Reyes", Block: "A", Officer: true})
	mustT(t, err)
	start := t0.Add(time.Minute)
	ans := start.Add(20 * time.Second)
	mustStore(t, s, "appA", ledgerEvents("appA", 1, "",
		wire.CallRecord{CallID: "c1", PersonID: "p1", Terminal: "t1", Number: "5550100", Start: start, Answer: &ans,
			End: ans.Add(time.Minute), Disposition: wire.DispEnded, OfficerID: off.ID, ConfirmMethod: "card", EndedBy: "o-2"},
		wire.CallRecord{CallID: "c2", Terminal: "t1", Number: "5550100", Start: start, End: start, Disposition: wire.DispRefused, Reason: "officer did not confirm"}))
	for officer, want := range map[string]int{off.ID: 1, "o-2": 1, "nobody": 0} {
		got, err := s.Calls(ctx, CallFilter{Officer: officer})
		if err != nil || len(got) != want || (want == 1 && got[0].ID != "c1") {
			t.Errorf("calls of officer %s: %+v %v", officer, got, err)
		}
	}
}

// TestCallSearchTrunk: the search reads the trunk a call record names,
// whether the call is otherwise plain or carries money and a rate (the two
// insert statements), and "" for records without it (moved from the core's
// TestCallTrunk).
func TestCallSearchTrunk(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "app1", "A"))
	recs := map[uint64]func(wire.CallRecord) wire.CallRecord{
		1: func(c wire.CallRecord) wire.CallRecord { c.Trunk = "carrier-b"; return c },
		2: func(c wire.CallRecord) wire.CallRecord {
			c.Trunk, c.Cost, c.Currency = "pstn-gw", 12, "EUR"
			c.Rate = &wire.PricedRate{Prefix: "+44", DestinationType: wire.DestInternational}
			return c
		},
		3: func(c wire.CallRecord) wire.CallRecord { return c },
	}
	mustStore(t, s, "app1", callChain("app1", 1, 3, "", func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		return typ, recs[seq](p.(wire.CallRecord))
	}))
	calls, err := s.Calls(ctx, CallFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range calls {
		got[c.ID] = c.Trunk
	}
	if got["call-1"] != "carrier-b" || got["call-2"] != "pstn-gw" || got["call-3"] != "" {
		t.Errorf("search trunks = %v", got)
	}
}

func TestCompactArgs(t *testing.T) {
	q, args := compactArgs(`a = $3 AND b = $1 OR c = $3 LIMIT $10`, []any{"one", "two", "three", 4, 5, 6, 7, 8, 9, "ten"})
	if q != `a = $1 AND b = $2 OR c = $1 LIMIT $3` || !slices.Equal(args, []any{"three", "one", "ten"}) {
		t.Fatalf("%q %v", q, args)
	}
}

// callChain seals the payloads mk gives as app's events from to to, chained
// to prev, the event of seq n stamped t0 + n seconds.
func callChain(app string, from, to uint64, prev string, mk func(seq uint64) (wire.EventType, any)) []wire.Event {
	var out []wire.Event
	for seq := from; seq <= to; seq++ {
		typ, payload := mk(seq)
		b, _ := json.Marshal(payload)
		ev := wire.Event{ApplianceID: app, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Type: typ, Payload: b, PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		out = append(out, ev)
	}
	return out
}

// callEvent is the call record of seq n: person p1 (prison number A1)
// calls +44 20 7946 0000 at t0 + n minutes and talks for a minute.
func callEvent(seq uint64) (wire.EventType, any) {
	start := t0.Add(time.Duration(seq) * time.Minute)
	ans := start.Add(5 * time.Second)
	return wire.EventCall, wire.CallRecord{CallID: fmt.Sprintf("call-%d", seq), PersonID: "p1", PrisonNumber: "A1",
		CardUID: "04a1b2c3", Terminal: "t1", Number: "+44 20 7946 0000", Start: start, Answer: &ans,
		End: ans.Add(time.Minute), Disposition: wire.DispCompleted}
}

// ledgerEvents seals payloads as app's events from seq from on, chained
// to prev (storetest.Events from t0).
func ledgerEvents(app string, from uint64, prev string, payloads ...any) []wire.Event {
	return storetest.Events(app, from, prev, t0, payloads...)
}

func mustStore(t *testing.T, s *testStores, app string, evs []wire.Event) uint64 {
	t.Helper()
	return storetest.MustStore(t, s.coreStore, app, evs)
}
