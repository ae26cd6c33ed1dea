// Package browsertests drives central's web console in headless Chromium
// (Debian package chromium) through the DevTools protocol (chromedp), as a
// person would: typing into the sign-in form with a one-time code, adding a
// person and a contact and approving it, recharging an account, finding a
// call and playing its recording, writing a review note, importing a CSV
// with errors, a block officer refused another block's data, every
// role's pages at a phone's 400 px width (none wider than the window,
// readable chart labels, a player that plays), the calls in progress
// updating live, and a block officer's day on a phone-width window (a
// live call seen, ended, found, played; the note written by an
// investigator).
//
// TestAccessibility injects axe-core (testdata/axe.min.js, vendored from
// npm, MPL-2.0; testdata/README.md) into every console page, for every
// role, and fails on any violation of impact serious or critical, listing
// each with its rule, target and help URL.
//
// The installation is real: TestMain builds kinline-central and
// kinline-appliance, and the first test starts them (tools/stack), seeds
// users, blocks and people through the JSON API, and places calls through
// the appliance with a simulated card reader, IAD port and family phone, so
// the recording played in the browser went through the whole chain. The
// scenarios share that installation and one browser; each gets its own
// browser context (its own cookies).
//
// Without Chromium the tests skip with "SKIP: chromium not installed";
// with KINLINE_REQUIRE_PEERS=1 (set by .ci/run) they fail instead. `go test
// -short` skips them all. Every browser wait is bounded; a failing step
// writes the page's HTML and a screenshot to a directory named in the test
// log.
package browsertests
