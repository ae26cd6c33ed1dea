package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func TestEnrolMoveRetire(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	for _, b := range []string{"A", "B"} {
		if err := s.EnsureBlock(ctx, "admin", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EnrolAppliance(ctx, "admin", "app1", "Nope"); !errors.Is(err, ErrUnknownBlock) {
		t.Fatalf("enrol into a missing block: %v", err)
	}
	if err := s.EnrolAppliance(ctx, "admin", "bad/id", "A"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("enrol a bad id: %v", err)
	}
	if ok, _ := s.ApplianceEnrolled(ctx, "app1"); ok {
		t.Fatal("app1 enrolled before it was added")
	}
	vA := blockVersion(t, s, "A")
	if err := s.EnrolAppliance(ctx, "admin", "app1", "A"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ApplianceEnrolled(ctx, "app1"); !ok {
		t.Fatal("app1 not enrolled")
	}
	if blockVersion(t, s, "A") <= vA {
		t.Fatal("enrolling did not bump the block's policy version")
	}
	if err := s.EnrolAppliance(ctx, "admin", "app1", "B"); !errors.Is(err, ErrConflict) {
		t.Fatalf("enrol twice: %v", err)
	}
	vB := blockVersion(t, s, "B")
	from, err := s.MoveAppliance(ctx, "admin", "app1", "B")
	if err != nil || from != "A" {
		t.Fatalf("move: %q %v", from, err)
	}
	if blockVersion(t, s, "B") <= vB {
		t.Fatal("moving did not bump the new block's policy version")
	}
	if ids, _ := s.AppliancesInBlock(ctx, "B"); !slices.Equal(ids, []string{"app1"}) {
		t.Fatalf("block B appliances %v", ids)
	}
	if _, err := s.MoveAppliance(ctx, "admin", "ghost", "B"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("move unknown: %v", err)
	}
	clk.Advance(time.Minute)
	block, err := s.RetireAppliance(ctx, "admin", "app1")
	if err != nil || block != "B" {
		t.Fatalf("retire: %q %v", block, err)
	}
	if ok, _ := s.ApplianceEnrolled(ctx, "app1"); ok {
		t.Fatal("retired appliance still enrolled")
	}
	if ids, _ := s.AppliancesInBlock(ctx, ""); len(ids) != 0 {
		t.Fatalf("retired appliance still gets policies: %v", ids)
	}
	if _, err := s.RetireAppliance(ctx, "admin", "app1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("retire twice: %v", err)
	}
	if _, err := s.MoveAppliance(ctx, "admin", "app1", "A"); !errors.Is(err, ErrConflict) {
		t.Fatalf("move retired: %v", err)
	}
	if err := s.EnrolAppliance(ctx, "admin", "app1", "A"); !errors.Is(err, ErrConflict) {
		t.Fatalf("re-enrol a retired id: %v", err)
	}
	as, _ := s.Appliances(ctx)
	if len(as) != 1 || as[0].Retired == nil || !as[0].Retired.Equal(t0.Add(time.Minute)) {
		t.Fatalf("appliances %+v", as)
	}
	log, err := s.AuditLog(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		if e.Target == "app1" {
			actions = append(actions, e.Action)
		}
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"appliance.enrol", "appliance.move", "appliance.retire"}) {
		t.Fatalf("audited %v", actions)
	}
}

func TestImportApplianceOnce(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if added, err := s.ImportAppliance(ctx, "app1", "A"); err != nil || !added {
		t.Fatalf("first import: %v %v", added, err)
	}
	if _, err := s.MoveAppliance(ctx, "admin", "app1", "A"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBlock(ctx, "admin", "B"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveAppliance(ctx, "admin", "app1", "B"); err != nil {
		t.Fatal(err)
	}
	// central.yaml still says A: the console's move stands.
	if added, err := s.ImportAppliance(ctx, "app1", "A"); err != nil || added {
		t.Fatalf("second import: %v %v", added, err)
	}
	if b, _ := s.ApplianceBlock(ctx, "app1"); b != "B" {
		t.Fatalf("block %q after restart, want B", b)
	}
	if _, err := s.RetireAppliance(ctx, "admin", "app1"); err != nil {
		t.Fatal(err)
	}
	if added, _ := s.ImportAppliance(ctx, "app1", "A"); added {
		t.Fatal("a retired appliance came back from central.yaml")
	}
	if ok, _ := s.ApplianceEnrolled(ctx, "app1"); ok {
		t.Fatal("retired appliance enrolled again by the import")
	}
}

func TestResolveAlarmsAndCentralSubject(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if added, err := s.RaiseAlarm(ctx, wire.CentralIdentity, AlarmCertificateExpiring, "ca", "expires soon"); err != nil || !added {
		t.Fatalf("raise on central: %v %v", added, err)
	}
	if n, err := s.ResolveAlarms(ctx, wire.CentralIdentity, AlarmCertificateExpiring, "central certificate"); err != nil || n != 0 {
		t.Fatalf("resolve another source: %d %v", n, err)
	}
	if n, err := s.ResolveAlarms(ctx, wire.CentralIdentity, AlarmCertificateExpiring, "ca"); err != nil || n != 1 {
		t.Fatalf("resolve: %d %v", n, err)
	}
	if openAlarms(t, s, wire.CentralIdentity, AlarmCertificateExpiring) != 0 {
		t.Fatal("alarm still open")
	}
}

func blockVersion(t *testing.T, s *Store, name string) uint64 {
	t.Helper()
	bs, err := s.Blocks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Name == name {
			return b.PolicyVersion
		}
	}
	t.Fatalf("no block %s", name)
	return 0
}
