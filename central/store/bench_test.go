package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStoreEvents ingests batches of 500 sealed, chained call events,
// each batch in one synchronous=FULL transaction, and reports:
//   - records/s: events acknowledged per second (StoreEvents returned), the
//     ingest rate an appliance draining its outbox sees (target: 50,000 on
//     2 cores);
//   - projected-records/s: the same events divided by the time until the
//     last one is also projected into calls (WaitProjected), the sustained
//     end-to-end rate.
func BenchmarkStoreEvents(b *testing.B) {
	s, _, _ := openTest(b)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "bench", "A"); err != nil {
		b.Fatal(err)
	}
	const batch = 500
	evs := chain("bench", 1, uint64(b.N*batch), "", callEvent)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ack, err := s.StoreEvents(ctx, "bench", evs[i*batch:(i+1)*batch])
		if err != nil {
			b.Fatal(err)
		}
		if ack != uint64((i+1)*batch) {
			b.Fatalf("ack %d", ack)
		}
	}
	acked := time.Since(start)
	if err := s.WaitProjected(ctx, "bench", uint64(b.N*batch)); err != nil {
		b.Fatal(err)
	}
	projected := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/acked.Seconds(), "records/s")
	b.ReportMetric(float64(b.N*batch)/projected.Seconds(), "projected-records/s")
	var calls int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM calls`).Scan(&calls); err != nil || calls != b.N*batch {
		b.Fatalf("%d calls projected, want %d (%v)", calls, b.N*batch, err)
	}
}
