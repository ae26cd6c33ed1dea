package policysnap

import (
	"bytes"
	"context"
	"errors"
	"github.com/kinline/kinline/central/store/storetest"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

func TestPersonPhoto(t *testing.T) {
	s, clk, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasPhoto {
		t.Fatal("new person has a photo")
	}
	if _, err := s.Photo(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("photo before any: %v", err)
	}
	v0 := policyVersion(t, s, "app1")
	clk.Advance(time.Minute)
	data := storetest.PNG(t, 64, 80)
	ph, err := s.SetPhoto(ctx, "user:ann", p.ID, data, people.PhotoPNG)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Photo(ctx, p.ID)
	if err != nil || !bytes.Equal(got.Data, data) || got.ContentType != people.PhotoPNG || got.Width != 64 || got.Height != 80 ||
		got.SHA256 != ph.SHA256 || got.Bytes != len(data) || got.UpdatedBy != "user:ann" || !got.Updated.Equal(clk.Now()) {
		t.Fatalf("photo %+v %v", got, err)
	}
	if pp, _ := s.Person(ctx, p.ID); !pp.HasPhoto || !pp.Updated.Equal(clk.Now()) {
		t.Fatalf("person after photo: %+v", pp)
	}
	if ps, _ := s.People(ctx, people.PeopleFilter{}); len(ps) != 1 || !ps[0].HasPhoto {
		t.Fatalf("people list: %+v", ps)
	}
	if v := policyVersion(t, s, "app1"); v != v0 {
		t.Fatalf("a photo bumped the policy %d -> %d (photos stay at central)", v0, v)
	}

	// A refused file keeps the photo there was.
	if _, err := s.SetPhoto(ctx, "user:ann", p.ID, []byte("GIF89a not really"), ""); !errors.Is(err, people.ErrPhotoType) {
		t.Fatalf("bad file: %v", err)
	}
	if got, _ := s.Photo(ctx, p.ID); got == nil || !bytes.Equal(got.Data, data) {
		t.Fatal("refused upload changed the photo")
	}
	// A JPEG replaces it.
	jp := storetest.JPEG(t, 100, 100)
	if _, err := s.SetPhoto(ctx, "user:bob", p.ID, jp, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Photo(ctx, p.ID); got == nil || !bytes.Equal(got.Data, jp) || got.ContentType != people.PhotoJPEG || got.UpdatedBy != "user:bob" {
		t.Fatalf("replaced photo %+v", got)
	}
	if _, err := s.SetPhoto(ctx, "user:ann", "p_nobody", data, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown person: %v", err)
	}

	if err := s.DeletePhoto(ctx, "user:cy", p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Photo(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("photo after delete: %v", err)
	}
	if err := s.DeletePhoto(ctx, "user:cy", p.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if pp, _ := s.Person(ctx, p.ID); pp.HasPhoto {
		t.Fatal("person still has a photo")
	}

	// Every change is audited, failed ones not.
	log, err := s.AuditLog(ctx, store.AuditFilter{Target: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for i := len(log) - 1; i >= 0; i-- {
		if e := log[i]; strings.HasPrefix(e.Action, "inmate.photo") {
			acts = append(acts, e.Actor+" "+e.Action)
		}
	}
	if strings.Join(acts, "; ") != "user:ann inmate.photo_set; user:bob inmate.photo_set; user:cy inmate.photo_delete" {
		t.Fatalf("audit %q", acts)
	}
	if d := log[len(log)-2].Detail; log[len(log)-2].Action != "inmate.photo_set" || !strings.Contains(d, "sha256="+ph.SHA256) || !strings.Contains(d, "size=64x80") {
		t.Fatalf("audit detail %q", d)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPersonQuotas: a person's own calls per day, week and month are
// validated, kept, changed field by field, audited and carried in the
// block's policy.
func TestPersonQuotas(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	if err := s.UpsertAppliance(ctx, "app1", "A"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A0", Name: "Big", Block: "A", CallsPerDay: people.MaxCallsPerPeriod + 1}); !errors.Is(err, store.ErrInvalid) ||
		!strings.Contains(err.Error(), "calls_per_day") {
		t.Fatalf("quota above the maximum: %v", err)
	}
	p, err := s.CreatePerson(ctx, "admin", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A", CallsPerDay: 2, CallsPerMonth: 20})
	if err != nil {
		t.Fatal(err)
	}
	if p.CallsPerDay != 2 || p.CallsPerWeek != 0 || p.CallsPerMonth != 20 {
		t.Fatalf("created %+v", p)
	}
	week, neg := 7, -1
	if _, _, err := s.UpdatePerson(ctx, "admin", p.ID, people.PersonUpdate{CallsPerWeek: &neg}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "calls_per_week") {
		t.Fatalf("negative quota: %v", err)
	}
	p, blocks, err := s.UpdatePerson(ctx, "admin", p.ID, people.PersonUpdate{CallsPerWeek: &week})
	if err != nil || p.CallsPerDay != 2 || p.CallsPerWeek != 7 || p.CallsPerMonth != 20 || len(blocks) != 1 || blocks[0] != "A" {
		t.Fatalf("updated %+v %v %v", p, blocks, err)
	}
	pol, err := s.PolicyFor(ctx, "app1")
	if err != nil {
		t.Fatal(err)
	}
	if len(pol.People) != 1 || pol.People[0].CallsPerDay != 2 || pol.People[0].CallsPerWeek != 7 || pol.People[0].CallsPerMonth != 20 {
		t.Fatalf("policy people %+v", pol.People)
	}
	log, _ := s.AuditLog(ctx, store.AuditFilter{Target: p.ID, Action: "inmate.update"})
	if len(log) != 1 || log[0].Detail != "fields=calls_per_week" {
		t.Fatalf("audit %+v", log)
	}
	// The policy's person quota wins over the rule's when the appliance
	// decides (shared/policy).
	if err := s.SetRules(ctx, "admin", "A", []wire.CallRule{{Level: "", CallsPerDay: 5}}); err != nil {
		t.Fatal(err)
	}
	if pol, err = s.PolicyFor(ctx, "app1"); err != nil || pol.Rules[0].CallsPerDay != 5 || pol.People[0].CallsPerDay != 2 {
		t.Fatalf("policy %+v %v", pol, err)
	}
}
