package browsertests

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/tools/stack"
)

// TestAddPersonAndApproveContact: an administrator goes to People, adds a
// person with a card, adds a contact (requested) and approves it with a
// reason; central's API then holds both, the decision with who and why.
func TestAddPersonAndApproveContact(t *testing.T) {
	b := newTab(t)
	b.loginOK("ada")
	if st := b.submit("open People from the menu", `nav a[href="/people"]`); st != 200 {
		b.failf("People: HTTP %d", st)
	}
	const pn, name, card = "A7001XY", "Jordan Hale", "04C0FFEE"
	b.fill("fill in the new person", "#n-pn", pn, "#n-name", name, "#n-level", "standard", "#n-card", card)
	b.run("choose block A", chromedp.SetValue(chromedp.CSS("#n-block"), stack.Block))
	if st := b.submit("add the person", `form[method=post][action="/people"] button[type=submit]`); st != 200 {
		b.failf("add person: HTTP %d", st)
	}
	b.wantText("Person created.", name, pn, card)
	loc := get(b, "read the address", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Path, "/people/") {
		b.failf("after adding, the page is %q", loc)
	}
	personID := strings.TrimPrefix(u.Path, "/people/")

	const number, contact = "+442079460123", "Sam Hale"
	b.fill("fill in the contact", "#k-num", number, "#k-name", contact, "#k-rel", "sibling", "#k-id", "passport 123456789")
	if st := b.submit("add the contact", `form[action$="/contacts"] button[type=submit]`); st != 200 {
		b.failf("add contact: HTTP %d", st)
	}
	row := b.text(`tbody tr:has(input[id^="d-"])`)
	if !strings.Contains(row, number) || !strings.Contains(row, "requested") {
		b.failf("the new contact's row: %q", row)
	}

	const reason = "identity checked against the passport"
	b.fill("give the reason", `input[id^="d-"]`, reason)
	if st := b.submit("approve", `button[name=decision][value=approved]`); st != 200 {
		b.failf("approve: HTTP %d", st)
	}
	row = b.text(`tbody tr:has(input[id^="d-"])`)
	if !strings.Contains(row, "approved") || !strings.Contains(row, "user:ada") || !strings.Contains(row, reason) {
		b.failf("the approved contact's row: %q", row)
	}
	if b.exists(`button[name=decision][value=approved]`) {
		b.failf("an approved contact still offers Approve")
	}

	var p people.Person
	if err := b.in.Do(b.in.ctx, "GET", "/api/v1/inmates/"+personID, nil, &p); err != nil {
		t.Fatal(err)
	}
	if p.PrisonNumber != pn || p.Name != name || p.Block != stack.Block || len(p.Cards) != 1 || p.Cards[0] != card {
		t.Errorf("central holds %+v", p)
	}
	var cs struct {
		Contacts []people.Contact `json:"contacts"`
	}
	if err := b.in.Do(b.in.ctx, "GET", "/api/v1/inmates/"+personID+"/contacts", nil, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs.Contacts) != 1 {
		t.Fatalf("contacts at central: %+v", cs.Contacts)
	}
	c := cs.Contacts[0]
	if c.Number != number || c.Name != contact || c.Status != "approved" || c.RequestedBy != "user:ada" || c.DecidedBy != "user:ada" ||
		c.DecisionReason != reason || c.Decided == nil {
		t.Errorf("contact at central: %+v", c)
	}
}
