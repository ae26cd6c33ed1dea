package tables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/clock"
)

// TestPostgres runs every test of this package again against a throwaway
// PostgreSQL server (see pgtest.Suite).
func TestPostgres(t *testing.T) { pgtest.Suite(t) }

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// openTest opens a core store in a temp dir (on this run's database) and
// the import and export on it.
func openTest(t testing.TB) (*Store, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	core, err := storetest.Open(context.Background(), t, filepath.Join(dir, "central.db"), filepath.Join(dir, "rec"), clock.NewFake(t0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := core.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return New(core), core
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, core *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := core.Reader().QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func table(t *testing.T, csv string) [][]string {
	t.Helper()
	tb, err := ReadTable([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestImportDryRunWithErrorsChangesNothing(t *testing.T) {
	s, core := openTest(t)
	ctx := context.Background()
	mustT(t, core.EnsureBlock(ctx, "admin", "A"))
	_, err := people.New(core).CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Existing", Block: "A"})
	mustT(t, err)
	csv := "prison_number,name,block,pin,cards\n" +
		"A2,Ann,A,1234,04A1B2C3\n" +
		"A1,Dup of existing,A,,\n" +
		",No number,A,,\n" +
		"A3,Bad block,Z,,\n" +
		"A2,Dup in file,A,,\n" +
		"A4,Bad pin,A,12,\n" +
		"\n" +
		"A5,Bad card,A,,zz\n" +
		"A6,Dup card,A,,04a1b2c3\n"
	before := count(t, core, `SELECT COUNT(*) FROM people`)
	audit := count(t, core, `SELECT COUNT(*) FROM audit_log`)
	var ticks int
	rep, err := s.Import(ctx, "admin", ImportPeople, table(t, csv), true, func(done, total int) {
		ticks++
		if done > total {
			t.Errorf("progress %d/%d", done, total)
		}
	})
	mustT(t, err)
	want := []ImportError{
		{Row: 3, Column: "prison_number"}, {Row: 4, Column: "prison_number"}, {Row: 5, Column: "block"},
		{Row: 6, Column: "prison_number"}, {Row: 7, Column: "pin"}, {Row: 9, Column: "cards"}, {Row: 10, Column: "cards"},
	}
	if rep.Rows != 8 || rep.Applied != 0 || len(rep.Errors) != len(want) || ticks == 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, w := range want {
		if rep.Errors[i].Row != w.Row || rep.Errors[i].Column != w.Column || rep.Errors[i].Message == "" {
			t.Fatalf("error %d: %+v want %+v", i, rep.Errors[i], w)
		}
	}
	if !strings.Contains(rep.Errors[0].Message, "already exists") || !strings.Contains(rep.Errors[3].Message, "row 2") {
		t.Fatalf("messages %+v", rep.Errors)
	}
	// The real run refuses the whole file.
	rep, err = s.Import(ctx, "admin", ImportPeople, table(t, csv), false, nil)
	if !errors.Is(err, ErrImportRejected) || rep == nil || len(rep.Errors) != len(want) || rep.Applied != 0 {
		t.Fatalf("real run with errors: %+v %v", rep, err)
	}
	if n := count(t, core, `SELECT COUNT(*) FROM people`); n != before {
		t.Fatalf("people %d -> %d", before, n)
	}
	if n := count(t, core, `SELECT COUNT(*) FROM audit_log`); n != audit {
		t.Fatalf("audit grew %d -> %d", audit, n)
	}
}

// TestImportQuotas: a person's own call quotas come in from their
// columns (empty: the rule's); a quota that is not a whole number, is
// negative or is too large is a row error in its column.
func TestImportQuotas(t *testing.T) {
	s, core := openTest(t)
	ctx := context.Background()
	mustT(t, core.EnsureBlock(ctx, "admin", "A"))
	csv := "prison_number,name,block,calls_per_day,calls_per_week,calls_per_month\n" +
		"Q1,Quota,A,3,,40\n" +
		"Q2,Negative,A,-1,,\n" +
		"Q3,Words,A,,lots,\n" +
		fmt.Sprintf("Q4,Huge,A,,,%d\n", people.MaxCallsPerPeriod+1)
	rep, err := s.Import(ctx, "admin", ImportPeople, table(t, csv), true, nil)
	mustT(t, err)
	want := []ImportError{{Row: 3, Column: "calls_per_day"}, {Row: 4, Column: "calls_per_week"}, {Row: 5, Column: "calls_per_month"}}
	if len(rep.Errors) != len(want) {
		t.Fatalf("errors %+v, want %+v", rep.Errors, want)
	}
	for i, w := range want {
		if e := rep.Errors[i]; e.Row != w.Row || e.Column != w.Column || e.Message == "" {
			t.Fatalf("error %d: %+v, want %+v", i, e, w)
		}
	}
	if !strings.Contains(rep.Errors[1].Message, "whole number") {
		t.Errorf("message for a word: %q", rep.Errors[1].Message)
	}
	good := strings.Join(strings.Split(csv, "\n")[:2], "\n") + "\n"
	rep, err = s.Import(ctx, "admin", ImportPeople, table(t, good), false, nil)
	mustT(t, err)
	if rep.Applied != 1 {
		t.Fatalf("report %+v", rep)
	}
	ps, err := people.New(core).People(ctx, people.PeopleFilter{Query: "Q1"})
	mustT(t, err)
	if len(ps) != 1 || ps[0].CallsPerDay != 3 || ps[0].CallsPerWeek != 0 || ps[0].CallsPerMonth != 40 {
		t.Fatalf("imported %+v", ps)
	}
	if n := count(t, core, `SELECT COUNT(*) FROM audit_log WHERE action = 'inmate.create' AND detail LIKE '%calls_per_day=3 %'`); n != 1 {
		t.Fatalf("the import's audit does not name the quota: %d", n)
	}
}

func TestImportGoodFiles(t *testing.T) {
	s, core := openTest(t)
	ctx := context.Background()
	mustT(t, core.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, core.EnsureBlock(ctx, "admin", "B"))
	var b strings.Builder
	b.WriteString("\ufeffPrison_Number;Name;Block;Status;Status_Reason;PIN;Cards\n")
	const n = 25
	for i := range n {
		blk := "A"
		if i%2 == 1 {
			blk = "B"
		}
		pinCol := ""
		if i < 2 {
			pinCol = "1234"
		}
		fmt.Fprintf(&b, "X%03d;Person %d;%s;active;;%s;%08X\n", i, i, blk, pinCol, 0x04000000+i)
	}
	v0 := policyVersion(t, core, "appA")
	var last [2]int
	rep, err := s.Import(ctx, "admin", ImportPeople, table(t, b.String()), false, func(d, tot int) { last = [2]int{d, tot} })
	mustT(t, err)
	if rep.Applied != n || len(rep.Errors) != 0 || last[0] != last[1] || last[1] != 2*n {
		t.Fatalf("report %+v progress %v", rep, last)
	}
	if got := count(t, core, `SELECT COUNT(*) FROM people`); got != n {
		t.Fatalf("people %d", got)
	}
	if got := count(t, core, `SELECT COUNT(*) FROM cards`); got != n {
		t.Fatalf("cards %d", got)
	}
	if got := count(t, core, `SELECT COUNT(*) FROM audit_log WHERE action = 'inmate.create'`); got != n {
		t.Fatalf("audited %d", got)
	}
	p, err := policysnap.New(core).PolicyFor(ctx, "appA")
	mustT(t, err)
	if p.Version <= v0 || len(p.People) != 13 || p.People[0].PINHash == "" {
		t.Fatalf("policy v%d people %d", p.Version, len(p.People))
	}

	// Contacts, with max_contacts enforced across the file.
	_, err = people.New(core).UpdateSettings(ctx, "admin", people.PrisonSettings{MaxContacts: 2})
	mustT(t, err)
	csv := "prison_number,number,name,relationship,privileged,status\n" +
		"X000,+44 1111,Mum,mother,no,approved\n" +
		"X000,+44 2222,Lawyer,solicitor,yes,\n" +
		"X000,+44 3333,Third,friend,,\n" +
		"X999,+44 1111,Nobody,,,\n" +
		"X001,call me,Bad,,maybe,sure\n"
	rep, err = s.Import(ctx, "admin", ImportContacts, table(t, csv), true, nil)
	mustT(t, err)
	if len(rep.Errors) != 5 || rep.Errors[0].Row != 4 || !strings.Contains(rep.Errors[0].Message, "more than 2") ||
		rep.Errors[1].Row != 5 || rep.Errors[2].Column != "number" || rep.Errors[3].Column != "privileged" || rep.Errors[4].Column != "status" {
		t.Fatalf("contact errors %+v", rep.Errors)
	}
	good := strings.Join(strings.Split(csv, "\n")[:3], "\n") + "\n"
	rep, err = s.Import(ctx, "admin", ImportContacts, table(t, good), false, nil)
	mustT(t, err)
	if rep.Applied != 2 {
		t.Fatalf("contacts %+v", rep)
	}
	ps, _ := people.New(core).People(ctx, people.PeopleFilter{Query: "X000"})
	cs, err := people.New(core).Contacts(ctx, ps[0].ID)
	mustT(t, err)
	if len(cs) != 2 || cs[0].Status == cs[1].Status {
		t.Fatalf("imported contacts %+v", cs)
	}
	for _, c := range cs {
		if c.Number == "+442222" && (c.Status != people.ContactRequested || !c.Privileged) || c.Number == "+441111" && c.DecidedBy != "admin" {
			t.Fatalf("contact %+v", c)
		}
	}
}

func TestImportBrokenFiles(t *testing.T) {
	s, core := openTest(t)
	ctx := context.Background()
	mustT(t, core.EnsureBlock(ctx, "admin", "A"))
	for name, data := range map[string][]byte{
		"empty":      nil,
		"binary":     {0x7f, 'E', 'L', 'F', 0, 0, 1, 2},
		"latin1":     []byte("prison_number,name,block\nA1,Jos\xe9,A\n"),
		"bad quotes": []byte("prison_number,name,block\nA1,\"Ann,A\n"),
		"broken zip": append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 100)...),
		"huge cell":  []byte("prison_number,name,block\nA1," + strings.Repeat("x", MaxCellChars+1) + ",A\n"),
		"many cols":  []byte(strings.Repeat("a,", MaxImportColumns+1) + "\n"),
		"too big":    bytes.Repeat([]byte("a"), MaxImportBytes+1),
		"many rows":  []byte("prison_number\n" + strings.Repeat("x\n", MaxImportRows+1)),
	} {
		if _, err := ReadTable(data); !errors.Is(err, ErrBadFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, csv := range map[string]string{
		"wrong headers":   "id,fullname,wing\nA1,Ann,A\n",
		"missing column":  "prison_number,name\nA1,Ann\n",
		"repeated column": "prison_number,name,block,name\nA1,Ann,A,B\n",
	} {
		_, err := s.Import(ctx, "admin", ImportPeople, table(t, csv), true, nil)
		if !errors.Is(err, ErrBadFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := count(t, core, `SELECT COUNT(*) FROM people`); n != 0 {
		t.Fatalf("people %d", n)
	}
}

// TestXLSXRoundTrip exports people and contacts as XLSX and imports them
// into another store.
func TestXLSXRoundTrip(t *testing.T) {
	src, srcCore := openTest(t)
	ctx := context.Background()
	mustT(t, srcCore.EnsureBlock(ctx, "admin", "A"))
	ann, err := people.New(srcCore).CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann =1+1", Block: "A", Language: "es", SupervisionLevel: "high", Cards: []string{"04A1B2C3", "04D4E5F6"},
		CallsPerDay: 3, CallsPerMonth: 40})
	mustT(t, err)
	_, err = people.New(srcCore).CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A2", Name: "Zoë Ünïcode", Block: "A"})
	mustT(t, err)
	_, _, err = people.New(srcCore).AddContact(ctx, "admin", ann.ID, people.NewContact{Number: "+44 20 1111", Name: "Mum", Relationship: "mother", Identity: "passport 9", Privileged: true})
	mustT(t, err)
	dst, dstCore := openTest(t)
	mustT(t, dstCore.EnsureBlock(ctx, "admin", "A"))
	for _, kind := range []string{ImportPeople, ImportContacts} {
		for _, format := range []string{FormatXLSX, FormatCSV} {
			tb, err := src.ExportTable(ctx, "admin", kind, format, nil)
			mustT(t, err)
			var buf bytes.Buffer
			mustT(t, WriteTable(&buf, format, tb))
			back, err := ReadTable(buf.Bytes())
			mustT(t, err)
			if format == FormatCSV {
				continue // the CSV path is checked by the other tests
			}
			rep, err := dst.Import(ctx, "admin", kind, back, false, nil)
			if err != nil || rep.Applied != len(tb)-1 {
				t.Fatalf("%s %s: %+v %v", kind, format, rep, err)
			}
		}
	}
	ps, err := people.New(dstCore).People(ctx, people.PeopleFilter{})
	mustT(t, err)
	if len(ps) != 2 || ps[0].Name != "Ann =1+1" || ps[0].Language != "es" || ps[0].SupervisionLevel != "high" || len(ps[0].Cards) != 2 || ps[1].Name != "Zoë Ünïcode" {
		t.Fatalf("round trip people %+v", ps)
	}
	if q := [3]int{ps[0].CallsPerDay, ps[0].CallsPerWeek, ps[0].CallsPerMonth}; q != [3]int{3, 0, 40} || ps[1].CallsPerDay != 0 {
		t.Fatalf("round trip quotas %v (want Ann's 3 a day, the rule's a week, 40 a month), %+v", q, ps[1])
	}
	cs, err := people.New(dstCore).Contacts(ctx, ps[0].ID)
	mustT(t, err)
	if len(cs) != 1 || cs[0].Number != "+44201111" || !cs[0].Privileged || cs[0].Identity != "passport 9" || cs[0].Status != people.ContactApproved {
		t.Fatalf("round trip contacts %+v", cs)
	}
	if n := count(t, srcCore, `SELECT COUNT(*) FROM audit_log WHERE action LIKE 'export.%'`); n != 4 {
		t.Fatalf("exports audited %d", n)
	}
	// CSV exports guard against formulas; the importer strips the guard.
	tb, _ := src.ExportTable(ctx, "admin", "people", FormatCSV, nil)
	tb[1][1] = "=HYPERLINK(\"x\")"
	var buf bytes.Buffer
	mustT(t, WriteTable(&buf, FormatCSV, tb))
	if !strings.Contains(buf.String(), "'=HYPERLINK") {
		t.Fatalf("formula not guarded: %s", buf.String())
	}
	for _, kind := range []string{ImportPeople, ImportContacts} {
		for _, f := range []string{FormatCSV, FormatXLSX} {
			b, err := ImportTemplate(kind, f)
			mustT(t, err)
			tb, err := ReadTable(b)
			if err != nil || len(tb) != 2 {
				t.Fatalf("template %s %s: %v", kind, f, err)
			}
		}
	}
}

// FuzzReadTable: no input makes the table reader panic, and what it
// accepts stays within the limits as valid text.
func FuzzReadTable(f *testing.F) {
	f.Add([]byte("prison_number,name,block\nA1,Ann,A\n"))
	f.Add([]byte("\ufeffa;b;c\n1;\"2\n3\";4\n"))
	for _, kind := range []string{ImportPeople, ImportContacts} {
		b, err := ImportTemplate(kind, FormatXLSX)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := ReadTable(data)
		if err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("error not ErrBadFile: %v", err)
			}
			return
		}
		if len(tb) > MaxImportRows+1 {
			t.Fatalf("%d rows", len(tb))
		}
		for _, r := range tb {
			if len(r) > MaxImportColumns {
				t.Fatalf("%d columns", len(r))
			}
			for _, c := range r {
				if !utf8.ValidString(c) || utf8.RuneCountInString(c) > MaxCellChars {
					t.Fatalf("cell %q", c)
				}
			}
		}
		// The header check never panics either.
		if len(tb) > 0 {
			header(ImportPeople, tb[0])
			header(ImportContacts, tb[0])
		}
	})
}

func policyVersion(t *testing.T, core *store.Store, app string) uint64 {
	t.Helper()
	p, err := policysnap.New(core).PolicyFor(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	return p.Version
}

// TestImportExtraCellsAndHiddenCharacters: a cell under no column of the
// header (beyond the last, or under an empty header cell) is a row error
// naming it, never silently dropped; a name or contact with a
// bidirectional override or another control or format character is a
// row error of its column (issue 14, defect 8).
func TestImportExtraCellsAndHiddenCharacters(t *testing.T) {
	s, core := openTest(t)
	ctx := context.Background()
	mustT(t, core.EnsureBlock(ctx, "admin", "A"))
	csv := "prison_number,name,block,,pin\n" +
		"A1,Ann,A,,1234\n" +
		"A2,Bob,A,,,surplus\n" +
		"A3,Cat,A,hidden,\n" +
		"A4,Dan,A,,,,,x,y,z,u,v,w\n" +
		"A5,Eve,A,,,,\n" +
		"A6,\"Fay\u202egnp.exe\",A,,\n" +
		"A7,Gus\u2066x\u2069,A,,\n" +
		"A8,Hal\u200b,A,,\n"
	rep, err := s.Import(ctx, "admin", ImportPeople, table(t, csv), true, nil)
	mustT(t, err)
	want := []struct {
		row       int
		col, text string
	}{
		{3, "", `F "surplus"`},
		{4, "", `D "hidden"`},
		{5, "", `H "x", I "y", J "z", K "u", L "v", ...`},
		{7, "name", "U+202E"},
		{8, "name", "U+2066"},
		{9, "name", "U+200B"},
	}
	if len(rep.Errors) != len(want) {
		t.Fatalf("errors %+v", rep.Errors)
	}
	for i, w := range want {
		e := rep.Errors[i]
		if e.Row != w.row || e.Column != w.col || !strings.Contains(e.Message, w.text) || strings.Contains(e.Message, "store:") || strings.Contains(e.Message, "invalid input") {
			t.Errorf("error %d: %+v, want row %d column %q saying %q", i, e, w.row, w.col, w.text)
		}
	}
	if got := columnLetters(0) + columnLetters(25) + columnLetters(26) + columnLetters(701) + columnLetters(702); got != "AZAAZZAAA" {
		t.Errorf("column letters %q", got)
	}
}
