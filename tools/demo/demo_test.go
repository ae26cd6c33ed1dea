package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	peoplestore "github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/totp"
)

// TestTOTPCommand: `kinline-demo totp SECRET` prints the code an
// authenticator shows (RFC 6238's SHA-1 vector at T=59 s: 94287082, whose
// last six digits a 6-digit app shows) and how long it stays current.
func TestTOTPCommand(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	var out bytes.Buffer
	if err := totpCmd([]string{secret}, time.Unix(59, 0), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "287082   (current for 1 more seconds)\n" {
		t.Fatalf("output %q", got)
	}
	// The code is the one the store accepts at sign-in.
	key, _ := totp.DecodeSecret(secret)
	now := time.Now()
	out.Reset()
	if err := totpCmd([]string{strings.ToLower(secret)}, now, &out); err != nil {
		t.Fatal(err)
	}
	if _, ok := totp.Validate(key, strings.Fields(out.String())[0], now, 0); !ok {
		t.Fatalf("code %q not valid now", out.String())
	}
	for _, args := range [][]string{nil, {"not base32!"}, {secret, "extra"}} {
		if err := totpCmd(args, now, &out); err == nil {
			t.Errorf("totp %q: no error", args)
		}
	}
}

// TestDemo runs the whole demo against freshly built binaries and checks,
// through the API and the console's sign-in, that the console is populated
// as the README says: every role can sign in with what the demo printed,
// the people, contacts, money and calls are there, and the books balance.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemons and places nine real calls (about a minute)")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../../central/cmd/kinline-central", "../../appliance/cmd/kinline-appliance")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the daemons: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "demo")
	start := time.Now()
	checked := false
	err := run(ctx, config{dir: dir, bin: bin, talk: 2 * time.Second, shortTalk: time.Second}, func(ctx context.Context, d *demo) error {
		t.Logf("demo ready in %s", time.Since(start).Round(100*time.Millisecond))
		checkDemo(ctx, t, d)
		checked = true
		return nil
	})
	if err != nil {
		for _, log := range []string{"kinline-central.log", "kinline-appliance.log"} {
			if b, rerr := os.ReadFile(filepath.Join(dir, log)); rerr == nil {
				t.Logf("%s:\n%s", log, b)
			}
		}
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the demo never got ready")
	}
}

func checkDemo(ctx context.Context, t *testing.T, d *demo) {
	st := d.st
	// Every role signs in with the printed password (and a code where
	// the role has a second factor: admin's, which the demo never used).
	logins, err := os.ReadFile(filepath.Join(d.cfg.dir, "logins.txt"))
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, u := range users {
		roles[u.Role] = true
		if !strings.Contains(string(logins), u.Password) || (u.Secret != "" && !strings.Contains(string(logins), u.Secret)) {
			t.Errorf("logins.txt lacks %s's password or secret", u.Username)
		}
		if u.Username == "officer.a" || u.Username == "investigator" {
			continue // the demo used this step's code already
		}
		se, err := signIn(ctx, st.HTTPAddr, u.Username, u.Password, u.Secret)
		if err != nil {
			t.Errorf("sign in as %s: %v", u.Username, err)
			continue
		}
		var calls struct {
			Calls []store.Call `json:"calls"`
		}
		if err := se.Do(ctx, "GET", "/api/v1/calls", nil, &calls); err != nil || len(calls.Calls) != len(d.calls) {
			t.Errorf("%s sees %d calls (%v), want %d", u.Username, len(calls.Calls), err, len(d.calls))
		}
	}
	for _, r := range store.UserRoles {
		if !roles[r] {
			t.Errorf("no demo user has role %s", r)
		}
	}
	// The block officer is confined to block A; finance sees both blocks.
	inA := 0
	for _, p := range people {
		if p.Block == "A" {
			inA++
		}
	}
	for se, want := range map[*session]int{d.officer: inA, d.finance: len(people)} {
		var seen struct {
			Inmates []peoplestore.Person `json:"inmates"`
		}
		if err := se.Do(ctx, "GET", "/api/v1/inmates?limit=100", nil, &seen); err != nil || len(seen.Inmates) != want {
			t.Errorf("%s sees %d people (%v), want %d", se.user, len(seen.Inmates), err, want)
		}
	}

	// Contacts in every state, decided by the officer signed in.
	states := map[string]int{}
	for _, p := range people {
		var cs struct {
			Contacts []peoplestore.Contact `json:"contacts"`
		}
		if err := st.Do(ctx, "GET", "/api/v1/inmates/"+p.ID+"/contacts", nil, &cs); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs.Contacts {
			states[c.Status]++
			if p.Block == "A" && c.Status != peoplestore.ContactRequested && c.DecidedBy != "user:officer.a" {
				t.Errorf("%s's contact %s decided by %q", p.Name, c.Name, c.DecidedBy)
			}
		}
	}
	for _, s := range []string{peoplestore.ContactApproved, peoplestore.ContactRequested, peoplestore.ContactRejected} {
		if states[s] == 0 {
			t.Errorf("no contact is %s: %v", s, states)
		}
	}

	// The calls: answered ones cost something (but the free one), the
	// privileged one has no recording, the refusals say why.
	answered, refused := 0, 0
	for _, c := range d.calls {
		sc, err := d.callByID(ctx, c.call.ID, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case c.answered():
			answered++
			if sc.Disposition != "completed" || sc.Answer == nil {
				t.Errorf("%s: %+v", c.what, sc)
			}
			if c.privileged != (sc.Recording == nil) || c.privileged != sc.Privileged {
				t.Errorf("%s: privileged %t, recording %+v", c.what, sc.Privileged, sc.Recording)
			}
			if (c.number == helpline) != (sc.Cost == 0) {
				t.Errorf("%s: cost %d, free %t", c.what, sc.Cost, sc.Free)
			}
		default:
			refused++
			if sc.Disposition != "refused" || !strings.Contains(sc.Reason, c.refusal) {
				t.Errorf("%s: %s %q, want refused %q", c.what, sc.Disposition, sc.Reason, c.refusal)
			}
		}
	}
	if answered < 5 || refused < 4 {
		t.Errorf("%d answered, %d refused", answered, refused)
	}

	// Money: charging on (as the README says), balances from the credits
	// and the calls, books that agree.
	var set store.MoneySettings
	if err := st.Do(ctx, "GET", "/api/v1/money/settings", nil, &set); err != nil || !set.ChargingIsOn() {
		t.Fatalf("money settings %+v, %v; want charging on", set, err)
	}
	var accounts struct {
		Accounts []money.AccountSummary `json:"accounts"`
	}
	if err := st.Do(ctx, "GET", "/api/v1/accounts?limit=100", nil, &accounts); err != nil {
		t.Fatal(err)
	}
	if len(accounts.Accounts) != len(people) {
		t.Fatalf("%d accounts, want %d", len(accounts.Accounts), len(people))
	}
	for _, a := range accounts.Accounts {
		if (a.Account == chris.ID) != (a.Balance == 0) {
			t.Errorf("%s's balance %d", a.Name, a.Balance)
		}
	}
	var rep money.Reconciliation
	if err := st.Do(ctx, "GET", "/api/v1/reconciliation", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Credits == 0 || rep.Debits == 0 {
		t.Errorf("reconciliation: %+v", rep)
	}
	if _, ok := authz.Routes[notesRoute]; ok {
		var notes struct {
			Notes []reports.ReviewNote `json:"notes"`
		}
		var marks struct {
			Bookmarks []reports.Bookmark `json:"bookmarks"`
		}
		path := "/api/v1/calls/" + d.recorded
		if err := st.Do(ctx, "GET", path+"/notes", nil, &notes); err != nil || len(notes.Notes) != 1 || notes.Notes[0].Reviewer != "user:investigator" || !notes.Notes[0].FollowUp {
			t.Errorf("review notes of %s: %+v (%v)", d.recorded, notes, err)
		}
		if err := st.Do(ctx, "GET", path+"/bookmarks", nil, &marks); err != nil || len(marks.Bookmarks) != 1 || marks.Bookmarks[0].OffsetMS != 2000 {
			t.Errorf("bookmarks of %s: %+v (%v)", d.recorded, marks, err)
		}
	}
	var numbers struct {
		Numbers []struct{ Kind, Note string } `json:"numbers"`
	}
	if err := st.Do(ctx, "GET", "/api/v1/numbers", nil, &numbers); err != nil || len(numbers.Numbers) != len(globalNumbers) {
		t.Errorf("prison-wide numbers: %+v (%v)", numbers, err)
	}
}
