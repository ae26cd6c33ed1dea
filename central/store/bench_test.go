package store

import (
	"context"
	"testing"
)

// BenchmarkStoreEvents ingests batches of 500 sealed, chained call events,
// each batch in one transaction, and reports records/s (target: 50,000 on
// 2 cores).
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
	for i := 0; i < b.N; i++ {
		ack, err := s.StoreEvents(ctx, "bench", evs[i*batch:(i+1)*batch])
		if err != nil {
			b.Fatal(err)
		}
		if ack != uint64((i+1)*batch) {
			b.Fatalf("ack %d", ack)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
