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

// TestApplianceHeard: a heartbeat stamps the appliance heard from now on
// the store's clock, online for OnlineWithin and no longer; a stamp never
// moves last_seen back; an unknown id changes nothing.
func TestApplianceHeard(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	mustT(t, s.ApplianceHeard(ctx, "appA"))
	mustT(t, s.ApplianceHeard(ctx, "nobody"))
	heard := clk.Now()
	clk.Advance(OnlineWithin)
	as, err := s.Appliances(ctx)
	mustT(t, err)
	if len(as) != 1 || !as[0].Online || !as[0].LastSeen.Equal(heard) {
		t.Fatalf("appliances %+v", as)
	}
	clk.Advance(time.Second)
	if as, _ := s.Appliances(ctx); as[0].Online {
		t.Fatalf("online %s after its last heartbeat", OnlineWithin+time.Second)
	}
	later := clk.Now().Add(time.Hour)
	if _, err := s.w.Exec(`UPDATE appliances SET last_seen_ns = $1 WHERE id = 'appA'`, later.UnixNano()); err != nil {
		t.Fatal(err)
	}
	mustT(t, s.ApplianceHeard(ctx, "appA"))
	if as, _ := s.Appliances(ctx); !as[0].LastSeen.Equal(later) {
		t.Fatalf("last seen moved back to %s", as[0].LastSeen)
	}
}
