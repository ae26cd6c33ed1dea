package browsertests

import (
	"strings"
	"testing"

	"github.com/kinline/kinline/tools/stack"
)

// TestBlockOfficerRefusedOtherBlock: a block officer of block A, signed in
// with the second factor, works with block A's people, account, calls and
// recording, and is refused (403, "not allowed") every block B address
// typed into the browser: the person, their account, the call's page and
// recording, and searches filtered to block B. Lists never show block B's data.
func TestBlockOfficerRefusedOtherBlock(t *testing.T) {
	b := newTab(t)
	b.loginOK("otto")
	in := b.in

	// Calls: block A's call with its player; block B's call not listed.
	b.wantText(in.CallA.Number)
	if !b.exists(`audio[src="/calls/` + in.CallA.ID + `/recording"]`) {
		b.failf("no player for block A's call")
	}
	for _, r := range b.rows() {
		if strings.Contains(r, "no card tapped") {
			b.failf("block B's refused call is listed to block A's officer: %q", r)
		}
	}

	// People: only block A.
	if st := b.submit("open People from the menu", `nav a[href="/people"]`); st != 200 {
		b.failf("People: HTTP %d", st)
	}
	b.wantText(nameA, prisonA)
	if body := b.bodyText(); strings.Contains(body, prisonB) || strings.Contains(body, nameB) {
		b.failf("block B's person is listed to block A's officer")
	}

	allowed := []string{
		"/people/" + in.PersonA,
		"/accounts/" + in.PersonA,
		"/calls/" + in.CallA.ID,
		"/calls/" + in.CallA.ID + "/recording",
		"/calls?block=" + stack.Block,
	}
	for _, p := range allowed {
		if st := b.open(p); st != 200 {
			b.failf("%s: HTTP %d, want 200 for the officer's own block", p, st)
		}
	}
	refused := []string{
		"/people/" + in.PersonB,
		"/accounts/" + in.PersonB,
		"/calls/" + in.CallB.ID,
		"/calls/" + in.CallB.ID + "/recording",
		"/calls?block=" + blockB,
		"/people?block=" + blockB,
	}
	for _, p := range refused {
		if st := b.open(p); st != 403 {
			b.failf("%s: HTTP %d, want 403 for another block", p, st)
		}
		if body := b.bodyText(); !strings.Contains(body, "not allowed") || strings.Contains(body, nameB) || strings.Contains(body, prisonB) {
			b.failf("%s: the refusal page says %q", p, body)
		}
	}
}
