package tables

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
)

// hostileCells are a formula behind each character a spreadsheet starts a
// formula with (OWASP's CSV injection list).
func hostileCells() []string {
	var out []string
	for _, c := range store.CSVFormulaStarts {
		out = append(out, string(c)+`HYPERLINK("http://evil.example","x")`, string(c)+`cmd|' /C calc'!A0`)
	}
	return out
}

// checkCSVCells fails unless every cell of the CSV in b that holds one of
// want is that value behind an apostrophe, and every value is there.
func checkCSVCells(t *testing.T, b []byte, want []string) {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range recs {
		for _, c := range r {
			if c != "" && strings.ContainsRune(store.CSVFormulaStarts, rune(c[0])) && !store.CSVNumber(c) {
				t.Errorf("live formula in the CSV: %q", c)
			}
			if strings.HasPrefix(c, "'") {
				found[c[1:]] = true
			}
		}
	}
	for _, w := range want {
		if !found[w] {
			t.Errorf("%q is not in the CSV behind an apostrophe:\n%s", w, b)
		}
	}
}

// TestCSVExportsEscapeFormulas: the people and contacts exports write no
// cell a spreadsheet would run, whatever character the formula starts
// with, and the import reads the values back unchanged.
func TestCSVExportsEscapeFormulas(t *testing.T) {
	s, core := openTest(t)
	ctx := context.Background()
	mustT(t, core.EnsureBlock(ctx, "admin", "A"))
	ps := people.New(core)
	var names, contacts []string
	for i, v := range hostileCells() {
		// The store trims a leading tab or CR from names: those cases
		// are checked through WriteTable below.
		p, err := ps.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: fmt.Sprintf("A%d", i), Name: v, Block: "A"})
		mustT(t, err)
		if p.Name != v {
			continue
		}
		names = append(names, v)
		_, _, err = ps.AddContact(ctx, "admin", p.ID, people.NewContact{Number: fmt.Sprintf("+4420111%d", i), Name: v, Relationship: "friend", Identity: v})
		mustT(t, err)
		contacts = append(contacts, v)
	}
	if len(names) < 8 {
		t.Fatalf("only %d hostile names stored: %q", len(names), names)
	}
	for _, what := range []string{"people", "contacts"} {
		tb, err := s.ExportTable(ctx, "admin", what, FormatCSV, nil)
		mustT(t, err)
		var buf bytes.Buffer
		mustT(t, WriteTable(&buf, FormatCSV, tb))
		want := names
		if what == "contacts" {
			want = contacts
		}
		checkCSVCells(t, buf.Bytes(), want)
		back, err := ReadTable(buf.Bytes())
		mustT(t, err)
		for i := range tb {
			if i > 0 && cleanCell(back[i][1]) != strings.TrimSpace(tb[i][1]) {
				t.Errorf("%s row %d imports as %q, exported %q", what, i, cleanCell(back[i][1]), tb[i][1])
			}
		}
	}
	// Every character, straight through WriteTable; numbers stay numbers.
	var buf bytes.Buffer
	mustT(t, WriteTable(&buf, FormatCSV, [][]string{hostileCells(), {"-0.06", "+447700900123", "12"}}))
	checkCSVCells(t, buf.Bytes(), hostileCells())
	if !strings.Contains(buf.String(), "\n-0.06,+447700900123,12\n") {
		t.Errorf("numbers escaped: %s", buf.String())
	}
}
