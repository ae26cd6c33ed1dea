package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// searchFixture holds people, contacts, an officer and calls covering
// every search filter.
type searchFixture struct {
	s               *Store
	ann, bob, cat   *person
	off             *person
	annMum, bobAunt *contact
	all             []Call // every call, hidden ones too, newest first
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	s, _, _ := openTest(t)
	ctx := context.Background()
	fx := &searchFixture{s: s}
	for _, a := range [][2]string{{"appA", "A"}, {"appB", "B"}} {
		mustT(t, s.UpsertAppliance(ctx, a[0], a[1]))
	}
	mk := func(pn, name, block string, officer bool) *person {
		p, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: pn, Name: name, Block: block, Officer: officer})
		mustT(t, err)
		return p
	}
	fx.ann, fx.bob, fx.cat = mk("A1", "Ann Smith", "A", false), mk("B1", "Bob SMITH", "B", false), mk("A2", "Cat 100% Jones", "A", false)
	fx.off = mk("S1", "Officer Olsen", "A", true)
	contact := func(p *person, num, name string, priv bool) *contact {
		c, err := addContact(ctx, s, "test", p.ID, newContact{Number: num, Name: name, Relationship: "family", Privileged: priv})
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
func (fx *searchFixture) ids(pred func(Call) bool) []string {
	var out []string
	for _, c := range fx.all {
		if pred(c) {
			out = append(out, c.ID)
		}
	}
	return out
}

func callIDs(cs []Call) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestCallSearchFilters(t *testing.T) {
	fx := newSearchFixture(t)
	ctx := context.Background()
	notHidden := func(c Call) bool { return !c.Hidden }
	ann := func(c Call) bool { return c.PersonID == fx.ann.ID || c.PersonID == "" && c.PrisonNumber == "A1" }
	and := func(ps ...func(Call) bool) func(Call) bool {
		return func(c Call) bool {
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
		{"name, any case", CallFilter{Name: "smith"}, fx.ids(and(notHidden, func(c Call) bool { return ann(c) || c.PersonID == fx.bob.ID }))},
		{"name SMITH", CallFilter{Name: " SMITH "}, fx.ids(and(notHidden, func(c Call) bool { return ann(c) || c.PersonID == fx.bob.ID }))},
		{"name wildcard is literal", CallFilter{Name: "100%"}, []string{"cat-refused"}},
		{"name _ is literal", CallFilter{Name: "_"}, nil},
		{"name nobody", CallFilter{Name: "nobody"}, nil},
		{"officer is not a person's name", CallFilter{Name: "Olsen"}, nil},
		{"person id", CallFilter{Inmate: fx.ann.ID}, fx.ids(and(notHidden, ann))},
		{"prison number", CallFilter{Inmate: "A1"}, fx.ids(and(notHidden, ann))},
		{"prison number with hidden", CallFilter{Inmate: "A1", ShowHidden: true}, fx.ids(ann)},
		{"unknown person by prison number", CallFilter{Inmate: "X9"}, []string{"unknown"}},
		{"unknown person by id", CallFilter{Inmate: "p-unknown"}, []string{"unknown"}},
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
		{"scope of no block and a person", CallFilter{Blocks: []string{}, Inmate: "A1"}, nil},
		{"other block's person in scope", CallFilter{Blocks: []string{"B"}, Inmate: "A1"}, nil},
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
	var people []*person
	for i := 0; i < 7; i++ {
		p, err := createPerson(ctx, s, "test", newPerson{PrisonNumber: fmt.Sprintf("L%d", i), Name: fmt.Sprintf("Lee %d", i), Block: "A"})
		mustT(t, err)
		people = append(people, p)
	}
	n := 0
	evs = chain("appA", 1, 7*6, "", func(seq uint64) (wire.EventType, any) {
		n++
		p := people[(n*5)%7]
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
	mustT(t, s.inTx(ctx, func(tx *sql.Tx) error {
		now := ns(s.clk.Now())
		for i := 0; i <= maxResolved; i++ {
			id := newID("p_")
			if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, prison_number, name, block, status, language, pin_hash, created_ns, updated_ns,
					supervision_level, status_reason, calls_per_day, calls_per_week, calls_per_month) VALUES ($1, $2, $3, 'A', 'active', '', '', $4, $4, '', '', 0, 0, 0)`,
				id, fmt.Sprintf("P%04d", i), fmt.Sprintf("Pat %d", i), now); err != nil {
				return err
			}
			if err := recordPersonBlock(ctx, tx, id, "A", now); err != nil {
				return err
			}
		}
		return nil
	}))
	if _, err := s.Calls(ctx, CallFilter{Name: "pat"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more specific") {
		t.Fatalf("too broad a name: %v", err)
	}
	if cs, err := s.Calls(ctx, CallFilter{Name: "pat 17"}); err != nil || len(cs) != 0 {
		t.Fatalf("narrower name: %v %v", cs, err)
	}
}

func TestCompactArgs(t *testing.T) {
	q, args := compactArgs(`a = $3 AND b = $1 OR c = $3 LIMIT $10`, []any{"one", "two", "three", 4, 5, 6, 7, 8, 9, "ten"})
	if q != `a = $1 AND b = $2 OR c = $1 LIMIT $3` || !slices.Equal(args, []any{"three", "one", "ten"}) {
		t.Fatalf("%q %v", q, args)
	}
}
