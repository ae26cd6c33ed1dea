package reports

import (
	"cmp"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/wire"
)

// BenchmarkCallSearch measures the first page (50 calls, newest first) of
// typical call searches over 1,000,000 calls; each must stay under 100 ms
// on SQLite (issue 6). Every result is checked against its filter.
func BenchmarkCallSearch(b *testing.B) {
	s := New(storetest.BenchStore(b))
	ctx := context.Background()
	_, pn, name, _ := storetest.BenchPerson(1234)
	surname := name[strings.IndexByte(name, ' ')+1:]
	june := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		f     CallFilter
		check func(c store.Call) bool
		min   int // calls on the first page, when fewer than 50 match
	}{
		{"none", CallFilter{}, func(store.Call) bool { return true }, 0},
		{"person", CallFilter{Person: pn}, func(c store.Call) bool { return c.PrisonNumber == pn }, 0},
		{"number", CallFilter{Number: storetest.BenchNumber(1234, 3)}, func(c store.Call) bool { return c.Number == storetest.BenchNumber(1234, 3) }, 30},
		{"block+time", CallFilter{Block: "B", From: june, To: june.AddDate(0, 1, 0)}, func(c store.Call) bool {
			return c.Block == "B" && !c.Start.Before(june) && c.Start.Before(june.AddDate(0, 1, 0))
		}, 0},
		{"name", CallFilter{Name: surname}, func(c store.Call) bool { return strings.Contains(c.PersonName, surname) }, 0},
		{"contact", CallFilter{Contact: "k01234_3"}, func(c store.Call) bool { return c.Number == storetest.BenchNumber(1234, 3) }, 30},
		{"disposition", CallFilter{Disposition: wire.DispRefused}, func(c store.Call) bool { return c.Disposition == wire.DispRefused }, 0},
		{"officer", CallFilter{Officer: "SC2"}, func(c store.Call) bool { return c.OfficerID == "offC2" || c.EndedBy == "offC2" }, 0},
		{"scoped+person", CallFilter{Blocks: []string{"C"}, Person: "C01998"}, func(c store.Call) bool { return c.Block == "C" && c.PrisonNumber == "C01998" }, 0},
		{"scoped+time", CallFilter{Blocks: []string{"A", "C"}, From: june, To: june.AddDate(0, 0, 7)}, func(c store.Call) bool {
			return (c.Block == "A" || c.Block == "C") && !c.Start.Before(june)
		}, 0},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var got []store.Call
			var err error
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got, err = s.Calls(ctx, tc.f); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if want := cmp.Or(tc.min, 50); len(got) < want || len(got) > 50 {
				b.Fatalf("%d calls on the first page, want %d to 50", len(got), want)
			}
			for i, c := range got {
				if !tc.check(c) {
					b.Fatalf("call %+v does not match %+v", c, tc.f)
				}
				if i > 0 && c.Start.After(got[i-1].Start) {
					b.Fatal("not newest first")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}
