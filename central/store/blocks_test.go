package store

import (
	"context"
	"testing"
	"time"
)

func TestAppliancesOnline(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.UpsertAppliance(ctx, "appB", "A"))
	if _, err := s.w.Exec(`UPDATE appliances SET last_seen_ns = $1 WHERE id = 'appA'`, clk.Now().Add(-time.Minute).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE appliances SET last_seen_ns = $1 WHERE id = 'appB'`, clk.Now().Add(-3*time.Minute).UnixNano()); err != nil {
		t.Fatal(err)
	}
	as, err := s.Appliances(ctx)
	mustT(t, err)
	if !as[0].Online || as[1].Online || as[0].PolicyCurrent {
		t.Fatalf("appliances %+v", as)
	}
}
