package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/shared/wire"
)

// csvFormulas fails unless the CSV of tb has every value of want behind an
// apostrophe and no cell a spreadsheet would read as a formula.
func csvFormulas(t *testing.T, tb [][]string, want []string) {
	t.Helper()
	var buf bytes.Buffer
	mustT(t, tables.WriteTable(&buf, tables.FormatCSV, tb))
	recs, err := csv.NewReader(&buf).ReadAll()
	mustT(t, err)
	found := map[string]bool{}
	for _, r := range recs {
		for _, c := range r {
			if c != "" && strings.ContainsRune(store.CSVFormulaStarts, rune(c[0])) && !store.CSVNumber(c) {
				t.Errorf("live formula in the CSV: %q", c)
			}
			found[strings.TrimPrefix(c, "'")] = found[strings.TrimPrefix(c, "'")] || strings.HasPrefix(c, "'")
		}
	}
	for _, w := range want {
		if !found[w] {
			t.Errorf("%q is not in the CSV behind an apostrophe", w)
		}
	}
}

// TestCallAndBillingCSVEscapeFormulas: the calls and billing exports,
// written as CSV, hold no live formula whatever character a person's name
// or a rate's name starts it with.
func TestCallAndBillingCSVEscapeFormulas(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	var names []string
	var rates []wire.Rate
	var evs []any
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, c := range "=+-@" {
		name := string(c) + `HYPERLINK("http://evil.example","x")`
		p, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: fmt.Sprintf("A%d", i), Name: name, Block: "A"})
		mustT(t, err)
		rate := string(c) + `cmd|' /C calc'!A0`
		prefix := fmt.Sprintf("+4%d", i)
		rates = append(rates, wire.Rate{Prefix: prefix, DestinationType: wire.DestNational, Name: rate, PerMinute: 6, BillingUnitSeconds: 60})
		names = append(names, name, rate)
		a := at.Add(time.Duration(i) * time.Hour)
		id := fmt.Sprintf("c%d", i)
		evs = append(evs, wire.CallRecord{CallID: id, PersonID: p.ID, PrisonNumber: p.PrisonNumber, Terminal: "t1", Number: prefix + "1234",
			Start: a, Answer: &a, End: a.Add(time.Second), Disposition: wire.DispCompleted}, debit("d"+id, "appA", p.ID, -6, id, a))
	}
	mustT(t, money.New(s.coreStore).SetRates(ctx, "test", rates))
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0, evs...))
	calls, err := s.ExportCalls(ctx, "admin", tables.FormatCSV, nil, CallFilter{})
	mustT(t, err)
	if len(calls) != 5 {
		t.Fatalf("calls export %q", calls)
	}
	var persons []string
	for i := 0; i < len(names); i += 2 {
		persons = append(persons, names[i])
	}
	csvFormulas(t, calls, persons)
	bill, err := s.ExportBilling(ctx, "admin", tables.FormatCSV, BillingFilter{From: at.Add(-time.Hour), To: at.Add(24 * time.Hour)})
	mustT(t, err)
	var rateNames []string
	for i := 1; i < len(names); i += 2 {
		rateNames = append(rateNames, names[i])
	}
	csvFormulas(t, bill, rateNames)
}
