package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

// TestCallTrunk: the trunk a call record names is stored and read back,
// by Call (and by a search: reports' TestCallSearchTrunk), whether the call is otherwise plain or carries
// money and a rate (the two insert statements); records without it (older
// appliances) read as ""; an oversized name is refused.
func TestCallTrunk(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	recs := map[uint64]func(wire.CallRecord) wire.CallRecord{
		1: func(c wire.CallRecord) wire.CallRecord { c.Trunk = "carrier-b"; return c },
		2: func(c wire.CallRecord) wire.CallRecord {
			c.Trunk, c.Cost, c.Currency = "pstn-gw", 12, "EUR"
			c.Rate = &wire.PricedRate{Prefix: "+44", DestinationType: wire.DestInternational}
			return c
		},
		3: func(c wire.CallRecord) wire.CallRecord { return c },
	}
	evs := chain("app1", 1, 3, "", func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		return typ, recs[seq](p.(wire.CallRecord))
	})
	if ack, err := s.StoreEvents(ctx, "app1", evs); err != nil || ack != 3 {
		t.Fatalf("ack %d %v", ack, err)
	}
	for id, want := range map[string]string{"call-1": "carrier-b", "call-2": "pstn-gw", "call-3": ""} {
		c, err := s.Call(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Trunk != want {
			t.Errorf("%s: trunk %q, want %q", id, c.Trunk, want)
		}
	}
	// The search's trunks are central/store/reports' TestCallSearchTrunk.

	bad := chain("app1", 4, 4, evs[2].Hash, func(seq uint64) (wire.EventType, any) {
		typ, p := callEvent(seq)
		c := p.(wire.CallRecord)
		c.Trunk = strings.Repeat("t", 65)
		return typ, c
	})
	if _, err := s.StoreEvents(ctx, "app1", bad); err != nil && !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized trunk: %v", err)
	}
	if _, err := s.Call(ctx, "call-4"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a record with an oversized trunk name was stored: %v", err)
	}
}
