package browsertests

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/store/totp"
)

// TestSignInWithSecondFactor: an investigator enrolled in TOTP is refused
// without the one-time code and with a wrong one (both audited), signs in
// with the current code and then gets the player; the session cookie is
// out of the page's reach, and signing out ends the session.
func TestSignInWithSecondFactor(t *testing.T) {
	b := newTab(t)
	u := b.in.Users["lena"]

	if st := b.login(u, ""); st != 401 {
		b.failf("sign-in without the one-time code: HTTP %d, want 401", st)
	}
	b.wantText("Wrong username, password or one-time code.")
	if strings.Contains(b.bodyText(), "Signed in as") {
		b.failf("signed in without the one-time code")
	}

	key, err := totp.DecodeSecret(u.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// A code of another time (an hour ago) is wrong now.
	stale := totp.HOTP(key, uint64(totp.Step(b.in.CallA.Start)-120), totp.Digits)
	if stale == totp.Code(key, b.in.CallA.Start) {
		t.Fatal("the stale code happens to be the current one")
	}
	if st := b.login(u, stale); st != 401 {
		b.failf("sign-in with a wrong one-time code: HTTP %d, want 401", st)
	}
	b.wantText("Wrong username, password or one-time code.")

	if st := b.login(u, u.Code(t)); st != 200 {
		b.failf("sign-in with the current code: HTTP %d", st)
	}
	b.wantText("Signed in as user:lena", "Calls")
	// The verified second factor unlocks playback: the recorded call has
	// its player.
	if !b.exists(`audio[src="/calls/` + b.in.CallA.ID + `/recording"]`) {
		b.failf("no player for the recorded call after signing in with the second factor")
	}
	cookies := eval[string](b, "read document.cookie", `document.cookie`)
	if strings.Contains(cookies, "kinline_session") {
		b.failf("the session cookie is readable by scripts: %q", cookies)
	}

	failed := b.in.auditEntries(t, url.Values{"action": {"login.failed"}, "target": {u.ID}})
	var missing, wrong bool
	for _, e := range failed {
		missing = missing || strings.Contains(e.Detail, "one-time code missing")
		wrong = wrong || strings.Contains(e.Detail, "wrong one-time code")
	}
	if !missing || !wrong {
		t.Errorf("audit of the failed sign-ins: %+v", failed)
	}
	logins := b.in.auditEntries(t, url.Values{"actor": {"user:lena"}, "action": {"login"}})
	if len(logins) == 0 {
		t.Errorf("the sign-in is not in the audit log")
	}

	if st := b.submit("sign out", `form[action="/logout"] button[type=submit]`); st != 200 {
		b.failf("sign out: HTTP %d", st)
	}
	b.open("/calls")
	if !b.exists("#username") {
		b.failf("after signing out, /calls did not lead to the sign-in form")
	}
}

// TestPlaybackNeedsSecondFactor: an investigator without TOTP signs in
// with the password alone, sees the call but no player, and the recording
// URL refuses them.
func TestPlaybackNeedsSecondFactor(t *testing.T) {
	b := newTab(t)
	b.loginOK("ian")
	if st := b.open("/calls"); st != 200 {
		b.failf("calls: HTTP %d", st)
	}
	b.wantText(b.in.CallA.Number)
	if b.exists("audio") {
		b.failf("a player is shown to a sign-in without a second factor")
	}
	b.wantText("playback needs")
	if st := b.open("/calls/" + b.in.CallA.ID + "/recording"); st != 403 {
		b.failf("recording without a second factor: HTTP %d, want 403", st)
	}
	b.wantText("second factor")
}

// TestEnrolSecondFactor: an investigator without a second factor signs in
// with the password, is sent to enrol one, creates the secret, types the
// code the app (here: the test, from the secret shown on the page) gives,
// and has playback in the same session; from then on signing in needs a
// code.
func TestEnrolSecondFactor(t *testing.T) {
	b := newTab(t)
	u := b.in.Users["nina"]
	if st := b.login(u, ""); st != 200 {
		b.failf("sign-in with the password: HTTP %d", st)
	}
	if loc := get(b, "read the address", chromedp.Location()); !strings.Contains(loc, "/account/totp") {
		b.failf("an investigator without a second factor landed on %s, not the enrolment page", loc)
	}
	if st := b.submit("create the secret", `form[action="/account/totp"] button[type=submit]`); st != 200 {
		b.failf("create the secret: HTTP %d", st)
	}
	secret := b.text("dd code")
	if _, err := totp.DecodeSecret(secret); err != nil {
		b.failf("the page shows %q as the secret: %v", secret, err)
	}
	u.Secret = secret
	b.fill("type the code from the app", "#t-code", u.Code(t))
	if st := b.submit("confirm", `form[action="/account/totp/confirm"] button[type=submit]`); st != 200 {
		b.failf("confirm the code: HTTP %d", st)
	}
	b.wantText("Second factor enrolled")
	b.open("/calls")
	if !b.exists(`audio[src="/calls/` + b.in.CallA.ID + `/recording"]`) {
		b.failf("no player after enrolling the second factor")
	}

	b.submit("sign out", `form[action="/logout"] button[type=submit]`)
	if st := b.login(u, ""); st != 401 {
		b.failf("sign-in without a code after enrolling: HTTP %d, want 401", st)
	}
	b.loginOK("nina")
	if !b.exists(`audio[src="/calls/` + b.in.CallA.ID + `/recording"]`) {
		b.failf("no player after signing in with the enrolled second factor")
	}
}
