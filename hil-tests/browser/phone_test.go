package browsertests

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/internal/testkit"
)

// (phoneWidth, a phone's window width in CSS pixels, is officer_day_test.go's.)

// phoneTab is a new tab with a phone-width window.
func phoneTab(t *testing.T) *tab {
	t.Helper()
	b := newTab(t)
	b.run("narrow the window to a phone's", chromedp.EmulateViewport(phoneWidth, 860))
	return b
}

// width checks the page is no wider than the window.
func (b *tab) fitsWidth(path string) {
	b.t.Helper()
	w := eval[struct{ Scroll, Inner int }](b, "measure "+path, `({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth})`)
	if w.Inner != phoneWidth || w.Scroll > phoneWidth {
		b.t.Errorf("%s at a %d px window: %d px wide", path, w.Inner, w.Scroll)
	}
}

// minChartFont is the smallest chart label's size as drawn (its font
// size times the chart's scale), 0 when the page has no chart text.
func (b *tab) minChartFont() float64 {
	b.t.Helper()
	return eval[float64](b, "measure the chart labels", `(() => { let min = 0;
		for (const svg of document.querySelectorAll("svg.chart")) {
			const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
			for (const t of svg.querySelectorAll("text")) {
				const px = parseFloat(getComputedStyle(t).fontSize) * scale;
				if (min === 0 || px < min) { min = px; }
			}
		}
		return min; })()`)
}

// TestPhoneWidth: at a 400 px window every page of each role's menu (and
// the calls in progress, the second factor, a call's page) fits the
// window; chart labels stay at 11 px or more; the player keeps its
// controls, and its play button plays.
func TestPhoneWidth(t *testing.T) {
	in := fixture(t)
	callPage := "/calls/" + in.CallA.ID
	for _, name := range []string{"ada", "ivy", "fred", "otto"} {
		t.Run(name, func(t *testing.T) {
			b := phoneTab(t)
			b.loginOK(name)
			paths := eval[[]string](b, "read the menu", `Array.from(document.querySelectorAll("header nav a")).map(a => a.getAttribute("href"))`)
			if len(paths) == 0 {
				b.failf("no menu")
			}
			for _, p := range []string{"/calls/in-progress", "/account/totp", "/stats", callPage} {
				if !slices.Contains(paths, p) {
					paths = append(paths, p)
				}
			}
			for _, p := range paths {
				if u, err := url.Parse(p); err != nil || u.Host != "" || !strings.HasPrefix(p, "/") {
					continue
				}
				b.open(p)
				b.fitsWidth(p)
				if f := b.minChartFont(); f != 0 && f < 11 {
					t.Errorf("%s: a chart label is %.1f px", p, f)
				}
			}
			b.open("/stats")
			if name == "ada" && b.minChartFont() == 0 {
				b.failf("the statistics page draws no chart label to measure")
			}
			if name == "ivy" {
				phonePlayer(b, callPage)
			}
		})
	}
}

// phonePlayer: on a call's page at phone width the player shows its
// controls inside the window, and pressing play plays.
func phonePlayer(b *tab, callPage string) {
	b.t.Helper()
	b.open(callPage)
	sel := fmt.Sprintf(`audio[src^="/calls/%s/recording"]`, b.in.CallA.ID)
	if !b.exists(sel) {
		b.failf("no player on %s", callPage)
	}
	r := eval[struct{ L, R, W, H float64 }](b, "measure the player", fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {L: r.left, R: r.right, W: r.width, H: r.height}; })()`, sel))
	if r.W < 180 || r.H < 24 || r.L < 0 || r.R > phoneWidth {
		b.failf("the player at phone width: %+v", r)
	}
	b.pressPlay(sel)
	var st playerState
	if !testkit.Within(stepTimeout, 100*time.Millisecond, func() bool {
		st = b.player(sel)
		return st.Error == 0 && st.CurrentTime > 0.5
	}) {
		b.failf("the play button at phone width did not play: %+v", st)
	}
}
