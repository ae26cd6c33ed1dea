package browsertests

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/kinline/kinline/internal/testkit"
)

// playerState is what the page says of an <audio> element.
type playerState struct {
	CurrentTime float64 `json:"currentTime"`
	Duration    float64 `json:"duration"`
	Paused      bool    `json:"paused"`
	Ended       bool    `json:"ended"`
	ReadyState  int     `json:"readyState"`
	Error       int     `json:"error"` // MediaError code, 0 for none
}

func (b *tab) player(sel string) playerState {
	b.t.Helper()
	return eval[playerState](b, "read the player", fmt.Sprintf(`(() => { const a = document.querySelector(%q);
		return {currentTime: a.currentTime, duration: isFinite(a.duration) ? a.duration : -1, paused: a.paused, ended: a.ended,
			readyState: a.readyState, error: a.error ? a.error.code : 0}; })()`, sel))
}

// pressPlay clicks the play button of an <audio controls> element as a
// person would: with the mouse, on the control's left end, where Chromium
// draws the button (a real click, so the autoplay policy lets it play).
func (b *tab) pressPlay(sel string) {
	b.t.Helper()
	b.run("scroll to the player", chromedp.ScrollIntoView(chromedp.CSS(sel)))
	rect := eval[struct{ X, Y, W, H float64 }](b, "find the player", fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`, sel))
	if rect.W < 40 || rect.H < 10 {
		b.failf("the player is not visible: %+v", rect)
	}
	b.run("press play", chromedp.MouseClickXY(rect.X+rect.H/2, rect.Y+rect.H/2))
}

// TestFindAndPlayCall: an investigator signed in with the second factor
// searches the calls by the person's name and the disposition, finds the answered
// call, presses play and hears it: the recording loads without a media
// error and its time advances. Central's audit log names the
// investigator's playback, once however many requests the player made
// (an administrator finds it on the audit page,
// whose hash chain verifies) and the search.
func TestFindAndPlayCall(t *testing.T) {
	b := newTab(t)
	b.loginOK("ivy")
	c := b.in.CallA
	b.fill("search by the person's name", "#f-name", nameA)
	b.run("choose answered calls", chromedp.SetValue(chromedp.CSS("#f-disp"), "completed"))
	if st := b.submit("search", `form[role=search] button[type=submit]`); st != 200 {
		b.failf("call search: HTTP %d", st)
	}
	rows := b.rows()
	if len(rows) != 1 || !strings.Contains(rows[0], c.Number) || !strings.Contains(rows[0], "completed") {
		b.failf("search results: %q", rows)
	}
	sel := `audio[src="/calls/` + c.ID + `/recording"]`
	if !b.exists(sel) {
		b.failf("no player for call %s", c.ID)
	}
	if st := b.player(sel); st.CurrentTime != 0 || !st.Paused {
		b.failf("the player started by itself: %+v", st)
	}
	b.pressPlay(sel)

	var st playerState
	if !testkit.Within(stepTimeout, 100*time.Millisecond, func() bool {
		st = b.player(sel)
		if st.Error != 0 {
			b.failf("the recording does not play: media error %d (%+v)", st.Error, st)
		}
		return st.CurrentTime > 1
	}) {
		b.failf("the recording did not play: %+v", st)
	}
	// The call was answered for about 3 s; so is the recording.
	if st.Duration < 2 || st.Duration > 10 {
		t.Errorf("the recording lasts %.1f s, want about 3", st.Duration)
	}

	plays := b.in.auditEntries(t, url.Values{"action": {"recording.play"}, "target": {c.ID}})
	mine := 0
	for _, e := range plays {
		if e.Actor == "user:ivy" && strings.Contains(e.Detail, "sha256="+c.Recording.SHA256) {
			mine++
		}
	}
	// The player's requests (Range bytes=0-, then more ranges or not)
	// are one listening: one entry (decision 0035).
	if mine != 1 {
		t.Errorf("%d playbacks by user:ivy of %s in the audit log, want one listening: %+v", mine, c.ID, plays)
	}
	// An administrator sees the playback in the console's audit log, and
	// the chain still verifies.
	admin := newTab(t)
	admin.loginOK("ada")
	if st := admin.submit("open the audit log from the menu", `nav a[href="/audit"]`); st != 200 {
		admin.failf("audit log: HTTP %d", st)
	}
	admin.fill("filter the playbacks of the call", "#au-action", "recording.play", "#au-target", c.ID)
	admin.submit("filter", `form[role=search] button[type=submit]`)
	listed := false
	for _, r := range admin.rows() {
		listed = listed || strings.Contains(r, "user:ivy") && strings.Contains(r, "recording.play") && strings.Contains(r, "sha256="+c.Recording.SHA256)
	}
	if !listed {
		admin.failf("the audit page does not list user:ivy's playback of %s", c.ID)
	}
	if st := admin.submit("verify the chain", `a[href^="/audit"][href*="verify"]`); st != 200 {
		admin.failf("verify the audit chain: HTTP %d", st)
	}
	admin.wantText("Hash chain verified")

	searches := b.in.auditEntries(t, url.Values{"action": {"calls.search"}, "actor": {"user:ivy"}})
	found := false
	for _, e := range searches {
		found = found || strings.Contains(e.Detail, url.Values{"name": {nameA}}.Encode())
	}
	if !found {
		t.Errorf("the search is not in the audit log: %+v", searches)
	}
}

// rows returns the text of each row of the page's first result table.
func (b *tab) rows() []string {
	b.t.Helper()
	return eval[[]string](b, "read the results", `Array.from(document.querySelectorAll("table tbody tr")).map(r => r.innerText)`)
}
