package browsertests

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/store/reports"
)

// TestWriteReviewNote: an investigator opens the answered call's page from
// the calls list, writes a review note with a reason and a follow-up, and
// sees it on the page with their name; a note of blanks is refused with a
// message and nothing is stored. Central's API and audit log hold
// the one note.
func TestWriteReviewNote(t *testing.T) {
	b := newTab(t)
	b.loginOK("ivy")
	c := b.in.CallA
	link := `a[href="/calls/` + c.ID + `"]`
	if !b.exists(link) {
		b.failf("the calls list has no link to call %s's page", c.ID)
	}
	if st := b.submit("open the call's page", link); st != 200 {
		b.failf("call page: HTTP %d", st)
	}
	b.wantText(c.Number)
	form := `form[action="/calls/` + c.ID + `/notes"]`

	// A note of blanks passes the browser's "required" but not central.
	b.fill("write a blank note", form+` [name=reason]`, "security", form+` [name=note]`, "   ")
	if st := b.submit("save the blank note", form+` button[type=submit]`); st != 422 {
		b.failf("blank note: HTTP %d, want 422", st)
	}
	b.wantText("note is required", "No review notes.")

	const text = "Mentions a visit on Saturday; check with the visits office."
	b.fill("write the note", form+` [name=reason]`, "security", form+` [name=note]`, text)
	b.run("tick follow-up", chromedp.Click(chromedp.CSS(form+` [name=follow_up]`)))
	if st := b.submit("save the note", form+` button[type=submit]`); st != 200 {
		b.failf("save the note: HTTP %d", st)
	}
	b.wantText("Review note saved.", text, "user:ivy", "security")

	var out struct {
		Notes []reports.ReviewNote `json:"notes"`
	}
	if err := b.in.Do(b.in.ctx, "GET", "/api/v1/calls/"+c.ID+"/notes", nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Notes) != 1 {
		t.Fatalf("central holds %d notes, want 1: %+v", len(out.Notes), out.Notes)
	}
	if n := out.Notes[0]; n.Reviewer != "user:ivy" || n.Reason != "security" || n.Note != text || !n.FollowUp {
		t.Errorf("the stored note: %+v", n)
	}
	audited := b.in.auditEntries(t, url.Values{"action": {"call.note"}, "target": {c.ID}})
	if len(audited) != 1 || audited[0].Actor != "user:ivy" || !strings.Contains(audited[0].Detail, "follow_up=true") {
		t.Errorf("audit of the note: %+v", audited)
	}
}
