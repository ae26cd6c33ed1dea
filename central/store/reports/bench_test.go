package reports

import (
	"context"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store/storetest"
)

// BenchmarkCallStats measures statistics over the same 1,000,000 calls:
// a month (about 83,000 calls) and the whole year, by block, hour and
// person (every call read once; no target, reported in PERFORMANCE.md).
func BenchmarkCallStats(b *testing.B) {
	s := New(storetest.BenchStore(b))
	ctx := context.Background()
	june := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	year := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    StatsFilter
	}{
		{"month-blocks", StatsFilter{By: StatsByBlock, From: june, To: june.AddDate(0, 1, 0)}},
		{"month-hours", StatsFilter{By: StatsByHour, From: june, To: june.AddDate(0, 1, 0)}},
		{"month-people", StatsFilter{By: StatsByPerson, From: june, To: june.AddDate(0, 1, 0)}},
		{"year-blocks", StatsFilter{By: StatsByBlock, From: year, To: year.AddDate(1, 0, 0)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var st *Stats
			var err error
			for i := 0; i < b.N; i++ {
				if st, err = s.Stats(ctx, tc.f); err != nil {
					b.Fatal(err)
				}
			}
			if st.Total.Calls == 0 || len(st.Rows) == 0 {
				b.Fatalf("no calls counted: %+v", st.Total)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
		})
	}
}
