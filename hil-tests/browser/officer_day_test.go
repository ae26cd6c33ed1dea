package browsertests

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// phoneWidth is the window of the phone-width scenarios.
const phoneWidth, phoneHeight = 400, 800

// onPhone makes the tab a 400x800 window and accepts the page's script
// confirmations (window.confirm) as the person would.
func (b *tab) onPhone() {
	b.t.Helper()
	b.run("a phone-width window", chromedp.EmulateViewport(phoneWidth, phoneHeight))
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
				defer cancel()
				if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
					b.mu.Lock()
					b.problems = append(b.problems, "could not accept a dialog: "+err.Error())
					b.mu.Unlock()
				}
			}()
		}
	}); err != nil {
		b.t.Fatalf("listening for dialogs: %v", err)
	}
	if w := eval[int](b, "read the window's width", `window.innerWidth`); w != phoneWidth {
		b.failf("the window is %d px wide, want %d", w, phoneWidth)
	}
}

// liveCall is a call PersonA places through the appliance and talks on
// until the appliance hangs up (or an hour passes).
type liveCall struct {
	done chan struct{}
	res  phone.Result
	err  error
}

// startCall taps PersonA's card, dials numberA from a registered port and
// returns once central lists the call in progress, with its record there.
func (in *installation) startCall(t *testing.T, ctx context.Context) (*liveCall, store.CallInProgress) {
	t.Helper()
	port, err := phone.NewPort(phone.PortConfig{Appliance: in.SIPAddr, User: stack.PortUser, Password: stack.PortPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	if err := port.Register(ctx, time.Hour); err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	if err := in.tapCard(ctx); err != nil {
		t.Fatal(err)
	}
	lc := &liveCall{done: make(chan struct{})}
	callCtx, hangUp := context.WithCancel(ctx)
	go func() {
		defer close(lc.done)
		lc.res, lc.err = port.Call(callCtx, numberA, time.Hour)
	}()
	// A scenario that fails before the call ends hangs up (cleanups run
	// last first: this before the port closes).
	t.Cleanup(func() {
		hangUp()
		<-lc.done
	})
	var live store.CallInProgress
	if err := stack.WaitFor(ctx, 30*time.Second, "central to list the call in progress", func() error {
		var out struct {
			Calls []store.CallInProgress `json:"calls"`
		}
		if err := in.Do(ctx, "GET", "/api/v1/calls/in-progress", nil, &out); err != nil {
			return err
		}
		for _, c := range out.Calls {
			if c.Number == numberA && c.Block == stack.Block {
				live = c
				return nil
			}
		}
		select {
		case <-lc.done:
			return fmt.Errorf("the call ended before central listed it: %+v, %v", lc.res, lc.err)
		default:
		}
		return fmt.Errorf("not listed: %+v", out.Calls)
	}); err != nil {
		t.Fatal(err)
	}
	return lc, live
}

// TestBlockOfficerDayOnPhone: a block officer's day on a phone-width window
// (400x800). The officer signs in with the second factor; a person of the
// officer's block calls for real (card tap, IAD port, appliance, trunk,
// family phone); the officer sees the call in progress, ends it (through a
// confirmation where the page asks for one) and the appliance hangs up;
// the call's record arrives "ended"; the officer finds it in the calls
// search by the person's name and the disposition, and plays its
// recording, and writes a review note on it; central holds it.
// Every page of the day passes the accessibility check at that width.
func TestBlockOfficerDayOnPhone(t *testing.T) {
	in := fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The installation's appliance was moved to block B for the scope
	// scenarios; the officer's block is A.
	if err := in.moveAppliance(ctx, stack.Block); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := in.moveAppliance(ctx, blockB); err != nil {
			t.Errorf("moving the appliance back to block B: %v", err)
		}
	})
	accessible := func(b *tab, where string) {
		b.t.Helper()
		if bad, _ := b.axe(where); len(bad) > 0 {
			b.failf("accessibility at phone width:\n%s", strings.Join(describe(where, bad), "\n"))
		}
	}

	b := newTab(t)
	b.onPhone()
	b.loginOK("otto")
	accessible(b, "the first page after sign-in")

	lc, live := in.startCall(t, ctx)

	// The call in progress, with its person and number.
	b.open("/calls/in-progress")
	// The End control: a button of a form posting to the call's end, or a
	// link to a confirmation of it.
	end := fmt.Sprintf(`form[action^="/calls/%[1]s/end"] button, a[href^="/calls/%[1]s/end"]`, live.CallID)
	b.waitFor("the call in progress is listed", fmt.Sprintf(`document.querySelector(%q) !== null`, end))
	r := eval[string](b, "read the call's entry", fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		return (e.closest("tr, li, article") || e.parentElement.parentElement).innerText; })()`, end))
	if !strings.Contains(r, numberA) || !(strings.Contains(r, prisonA) || strings.Contains(r, nameA)) {
		b.failf("the call in progress reads %q, want its number and person", r)
	}
	accessible(b, "/calls/in-progress with a call")

	b.endCall(end)
	select {
	case <-lc.done:
	case <-time.After(30 * time.Second):
		b.failf("the appliance did not hang up the call within 30 s of the officer's end")
	}
	if lc.err != nil || !lc.res.Answered || !lc.res.RemoteHangup {
		b.failf("the call: %+v, %v; want answered and hung up by the appliance", lc.res, lc.err)
	}
	var ended store.Call
	if err := stack.WaitFor(ctx, 30*time.Second, "the ended call's record", func() error {
		calls, err := in.Calls(ctx, url.Values{"number": {numberA}, "block": {stack.Block}})
		if err != nil {
			return err
		}
		for _, c := range calls {
			if c.ID == live.CallID {
				ended = c
				if c.Disposition != "ended" {
					return fmt.Errorf("disposition %q", c.Disposition)
				}
				return nil
			}
		}
		return fmt.Errorf("call %s not recorded yet", live.CallID)
	}); err != nil {
		b.failf("%v", err)
	}
	if _, err := in.WaitRecording(ctx, ended.ID, time.Minute); err != nil {
		b.failf("the ended call's recording: %v", err)
	}
	// The list no longer shows it (live, or on the next load).
	b.open("/calls/in-progress")
	b.waitFor("the ended call leaves the list", fmt.Sprintf(`document.querySelector(%q) === null`, end))

	// Find it: the calls search by the person's name, ended calls.
	b.open("/calls")
	b.fill("search by the person's name", "#f-name", nameA)
	b.run("choose ended calls", chromedp.SetValue(chromedp.CSS("#f-disp"), "ended"))
	if st := b.submit("search", `form[role=search] button[type=submit]`); st != 200 {
		b.failf("call search: HTTP %d", st)
	}
	if rows := b.rows(); len(rows) != 1 || !strings.Contains(rows[0], numberA) || !strings.Contains(rows[0], "ended") {
		b.failf("search results: %q, want the one ended call", rows)
	}
	accessible(b, "/calls with the search's results")

	// Play it from its page.
	if st := b.submit("open the call's page", `a[href="/calls/`+ended.ID+`"]`); st != 200 {
		b.failf("call page: HTTP %d", st)
	}
	accessible(b, "/calls/{id}")
	player := `audio[src="/calls/` + ended.ID + `/recording"]`
	if !b.exists(player) {
		b.failf("no player for the ended call")
	}
	b.pressPlay(player)
	var st playerState
	if !testkit.Within(stepTimeout, 100*time.Millisecond, func() bool {
		st = b.player(player)
		if st.Error != 0 {
			b.failf("the recording does not play: media error %d (%+v)", st.Error, st)
		}
		return st.ReadyState >= 2 && st.Duration > 0 && (st.CurrentTime > 0.2 || st.Ended)
	}) {
		b.failf("the recording did not play: %+v", st)
	}

	// The review note, by the officer, on the call page at phone width.
	b.open("/calls/" + ended.ID)
	form := `form[action="/calls/` + ended.ID + `/notes"]`
	const text = "Ended by the wing officer: raised voices; check with the family liaison."
	b.fill("write the note", form+` [name=reason]`, "welfare", form+` [name=note]`, text)
	if st := b.submit("save the note", form+` button[type=submit]`); st != 200 {
		b.failf("save the note: HTTP %d", st)
	}
	b.wantText("Review note saved.", text)
	accessible(b, "/calls/{id} with a review note")
	var notes struct {
		Notes []reports.ReviewNote `json:"notes"`
	}
	if err := in.Do(ctx, "GET", "/api/v1/calls/"+ended.ID+"/notes", nil, &notes); err != nil {
		t.Fatal(err)
	}
	if len(notes.Notes) != 1 || notes.Notes[0].Note != text || notes.Notes[0].Reviewer != "user:otto" {
		t.Errorf("central holds the notes %+v, want the officer's one", notes.Notes)
	}
}

// endCall presses the End call control end of the in-progress list and
// goes through the console's confirmation where there is one (a dialog of
// the page, a page of its own, or the browser's confirm, which onPhone
// accepts), until the list says the end was sent. A confirmation passes
// the accessibility check.
func (b *tab) endCall(end string) {
	b.t.Helper()
	b.run("press End call", chromedp.Click(chromedp.CSS(end), chromedp.NodeVisible))
	confirmed := false
	const endSent = `location.pathname === "/calls/in-progress" && document.readyState === "complete" &&
		document.querySelector('[role=status]') !== null && /end/i.test(document.querySelector('[role=status]').innerText)`
	if !testkit.Within(stepTimeout, 100*time.Millisecond, func() bool {
		ectx, ecancel := context.WithTimeout(b.ctx, time.Second)
		defer ecancel()
		state, err := chromedp.Run(ectx, chromedp.Evaluate[string](`(() => {
			const visible = e => e && e.getClientRects().length > 0;
			if (`+endSent+`) return "sent";
			const inDialog = document.querySelector('dialog[open] form[action*="/end"] button[type=submit], dialog[open] form[action*="/end"] button:not([type])');
			if (visible(inDialog)) return "dialog";
			if (document.readyState === "complete" && location.pathname !== "/calls/in-progress") {
				const onPage = document.querySelector('main form[action*="/end"] button[type=submit], main form[action*="/end"] button:not([type])');
				if (visible(onPage)) return "page";
			}
			return "";
		})()`))
		if err != nil || state == "" {
			return false
		}
		if state == "sent" {
			return true
		}
		if confirmed {
			return false
		}
		confirmed = true
		sel := `dialog[open] form[action*="/end"] button:is([type=submit], :not([type]))`
		if state == "page" {
			sel = `main form[action*="/end"] button:is([type=submit], :not([type]))`
		}
		b.t.Logf("the console asks for confirmation (%s); confirming", state)
		if bad, _ := b.axe("the confirmation"); len(bad) > 0 {
			b.failf("accessibility of the confirmation:\n%s", strings.Join(describe("the end's confirmation", bad), "\n"))
		}
		b.submit("confirm the end", sel)
		return false
	}) {
		b.failf("ending the call: no notice that the end was sent")
	}
}
