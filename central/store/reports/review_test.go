package reports

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/storetest"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// reviewFixture stores a recorded call ("rec", 90 s of talk), a call to a
// privileged contact ("priv") and an unanswered one ("none").
func reviewFixture(t *testing.T) (*testStores, *clock.Fake) {
	t.Helper()
	s, clk, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.UpsertAppliance(ctx, "appA", "A"))
	p, err := s.CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	mustT(t, err)
	_, _, err = s.AddContact(ctx, "test", p.ID, people.NewContact{Number: "+4480", Name: "Solicitor", Relationship: "legal", Privileged: true})
	mustT(t, err)
	ans := t0.Add(5 * time.Second)
	recs := []any{
		wire.CallRecord{CallID: "rec", PersonID: p.ID, PrisonNumber: "A1", Terminal: "t1", Number: "+4411", Start: t0, Answer: &ans,
			End: ans.Add(90 * time.Second), Disposition: wire.DispCompleted,
			Recording: &wire.RecordingRef{ID: "r1", SHA256: strings.Repeat("ab", 32), Bytes: 100, Format: "wav/pcmu-stereo"}},
		wire.CallRecord{CallID: "priv", PersonID: p.ID, PrisonNumber: "A1", Terminal: "t1", Number: "+4480", Start: t0, Answer: &ans,
			End: ans.Add(time.Minute), Disposition: wire.DispCompleted},
		wire.CallRecord{CallID: "none", PersonID: p.ID, PrisonNumber: "A1", Terminal: "t1", Number: "+4411", Start: t0, End: t0.Add(time.Second),
			Disposition: wire.DispNoAnswer},
	}
	storetest.MustStore(t, s.coreStore, "appA", storetest.Events("appA", 1, "", t0, recs...))
	return s, clk
}

func auditActions(t *testing.T, s *testStores, action string) []store.AuditEntry {
	t.Helper()
	log, err := s.AuditLog(context.Background(), store.AuditFilter{Action: action})
	mustT(t, err)
	return log
}

func TestReviewNotes(t *testing.T) {
	s, clk := reviewFixture(t)
	ctx := context.Background()
	n1, err := s.AddReviewNote(ctx, "user:ivy", "rec", NewReviewNote{Reason: " intelligence ", Note: "Mentions a visit.\nCheck the visit log.", FollowUp: true})
	mustT(t, err)
	if n1.Reason != "intelligence" || n1.Reviewer != "user:ivy" || !n1.FollowUp || !n1.Created.Equal(t0) {
		t.Fatalf("note %+v", n1)
	}
	if _, err := s.AddReviewNote(ctx, "user:root", "priv", NewReviewNote{Reason: "routine review", Note: "Legal call, not listened to."}); err != nil {
		t.Fatalf("a note on a privileged call: %v", err)
	}
	clk.Advance(time.Minute)
	n2, err := s.AddReviewNote(ctx, "token:admin", "rec", NewReviewNote{Reason: "routine review", Note: "Nothing more."})
	mustT(t, err)
	ns, err := s.ReviewNotes(ctx, "rec")
	mustT(t, err)
	if len(ns) != 2 || ns[0].ID != n1.ID || ns[1].ID != n2.ID || !ns[1].Created.Equal(t0.Add(time.Minute)) || ns[0].Note != "Mentions a visit.\nCheck the visit log." || ns[1].FollowUp {
		t.Fatalf("notes %+v", ns)
	}
	log := auditActions(t, s, "call.note")
	if len(log) != 3 || log[0].Target != "rec" || log[0].Actor != "token:admin" || !strings.Contains(log[2].Detail, n1.ID) ||
		!strings.Contains(log[2].Detail, "follow_up=true") {
		t.Fatalf("audit %+v", log)
	}
	// Bad input is refused with a reason and stores nothing.
	for _, bad := range []struct {
		call string
		in   NewReviewNote
		err  error
	}{
		{"rec", NewReviewNote{Reason: "", Note: "x"}, store.ErrInvalid},
		{"rec", NewReviewNote{Reason: "x", Note: "   "}, store.ErrInvalid},
		{"rec", NewReviewNote{Reason: strings.Repeat("r", MaxReviewReason+1), Note: "x"}, store.ErrInvalid},
		{"rec", NewReviewNote{Reason: "x", Note: strings.Repeat("é", MaxReviewNote+1)}, store.ErrInvalid},
		{"rec", NewReviewNote{Reason: "a\nb", Note: "x"}, store.ErrInvalid},
		{"rec", NewReviewNote{Reason: "x", Note: "bell\a"}, store.ErrInvalid},
		{"rec", NewReviewNote{Reason: "x", Note: "\xff"}, store.ErrInvalid},
		{"nope", NewReviewNote{Reason: "x", Note: "y"}, store.ErrNotFound},
	} {
		if _, err := s.AddReviewNote(ctx, "user:ivy", bad.call, bad.in); !errors.Is(err, bad.err) {
			t.Errorf("%q %+v: %v, want %v", bad.call, bad.in, err, bad.err)
		}
	}
	if ns, _ := s.ReviewNotes(ctx, "rec"); len(ns) != 2 || len(auditActions(t, s, "call.note")) != 3 {
		t.Fatal("a refused note was stored or audited")
	}
	// A note at the limit is kept whole.
	long := strings.Repeat("é", MaxReviewNote)
	if n, err := s.AddReviewNote(ctx, "user:ivy", "none", NewReviewNote{Reason: "x", Note: long}); err != nil || n.Note != long {
		t.Fatalf("note at the limit: %v", err)
	}
}

func TestBookmarks(t *testing.T) {
	s, _ := reviewFixture(t)
	ctx := context.Background()
	b1, err := s.AddBookmark(ctx, "user:ivy", "rec", 83*time.Second+500*time.Millisecond, " threat ")
	mustT(t, err)
	b2, err := s.AddBookmark(ctx, "user:root", "rec", 0, "greeting")
	mustT(t, err)
	if _, err := s.AddBookmark(ctx, "user:ivy", "rec", 90*time.Second, "the end"); err != nil {
		t.Fatalf("bookmark at the end: %v", err)
	}
	bs, err := s.Bookmarks(ctx, "rec")
	mustT(t, err)
	if len(bs) != 3 || bs[0].ID != b2.ID || bs[1].ID != b1.ID || bs[1].OffsetMS != 83500 || bs[1].Label != "threat" || bs[1].Author != "user:ivy" {
		t.Fatalf("bookmarks %+v", bs)
	}
	if log := auditActions(t, s, "call.bookmark"); len(log) != 3 || log[2].Target != "rec" || !strings.Contains(log[2].Detail, "at=1:23") {
		t.Fatalf("audit %+v", log)
	}
	for _, bad := range []struct {
		call  string
		at    time.Duration
		label string
		err   error
		msg   string
	}{
		{"priv", time.Second, "x", store.ErrInvalid, "privileged"},
		{"none", 0, "x", store.ErrInvalid, "no recording"},
		{"rec", 91 * time.Second, "x", store.ErrInvalid, "1:30"},
		{"rec", -time.Second, "x", store.ErrInvalid, "between"},
		{"rec", time.Second, "", store.ErrInvalid, "label"},
		{"rec", time.Second, strings.Repeat("l", MaxBookmarkText+1), store.ErrInvalid, "longer"},
		{"nope", time.Second, "x", store.ErrNotFound, ""},
	} {
		_, err := s.AddBookmark(ctx, "user:ivy", bad.call, bad.at, bad.label)
		if !errors.Is(err, bad.err) || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s at %v %q: %v", bad.call, bad.at, bad.label, err)
		}
	}
	if bs, _ := s.Bookmarks(ctx, "priv"); len(bs) != 0 {
		t.Fatal("a privileged call got a bookmark")
	}
	if len(auditActions(t, s, "call.bookmark")) != 3 {
		t.Fatal("a refused bookmark was audited")
	}
}

// TestRemoveBookmark: the author removes their bookmark, a system
// administrator anyone's, another reviewer no one else's; a removed one is
// not listed, cannot be removed twice, keeps its row with who removed it,
// and each removal is audited.
func TestRemoveBookmark(t *testing.T) {
	s, _ := reviewFixture(t)
	ctx := context.Background()
	ivy, err := s.AddBookmark(ctx, "user:ivy", "rec", 10*time.Second, "ivy's")
	mustT(t, err)
	tom, err := s.AddBookmark(ctx, "user:tom", "rec", 20*time.Second, "tom's")
	mustT(t, err)
	keep, err := s.AddBookmark(ctx, "user:tom", "rec", 30*time.Second, "kept")
	mustT(t, err)
	if err := s.RemoveBookmark(ctx, "user:ivy", "rec", tom.ID, false); !errors.Is(err, ErrNotAuthor) {
		t.Fatalf("another reviewer removed tom's bookmark: %v", err)
	}
	mustT(t, s.RemoveBookmark(ctx, "user:ivy", "rec", ivy.ID, false))
	mustT(t, s.RemoveBookmark(ctx, "user:root", "rec", tom.ID, true))
	for _, again := range []struct{ call, id string }{{"rec", ivy.ID}, {"none", keep.ID}, {"rec", "bm_nope"}} {
		if err := s.RemoveBookmark(ctx, "user:root", again.call, again.id, true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("remove %s on %s: %v, want not found", again.id, again.call, err)
		}
	}
	bs, err := s.Bookmarks(ctx, "rec")
	mustT(t, err)
	if len(bs) != 1 || bs[0].ID != keep.ID {
		t.Fatalf("bookmarks after the removals %+v, want only %s", bs, keep.ID)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM bookmarks WHERE removed_ns > 0 AND removed_by IN ('user:ivy', 'user:root')`); n != 2 {
		t.Fatalf("%d removed rows kept, want 2", n)
	}
	log := auditActions(t, s, "call.bookmark.remove")
	if len(log) != 2 || log[0].Actor != "user:root" || log[1].Actor != "user:ivy" || !strings.Contains(log[0].Detail, "author=user:tom") ||
		!strings.Contains(log[0].Detail, `label="tom's"`) || log[0].Target != "rec" { // newest first
		t.Fatalf("audit %+v", log)
	}
}

func TestFormatOffset(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 59*time.Second + 999*time.Millisecond: "0:59", 83 * time.Second: "1:23",
		time.Hour + 2*time.Minute + 3*time.Second: "1:02:03", -time.Second: "0:00"} {
		if got := FormatOffset(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
